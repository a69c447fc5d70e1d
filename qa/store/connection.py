"""Talking to Chroma: opening a client and its collections, retrying calls, explaining failures.

The store's client is made here and nowhere else, so that the rest of the store (and of qa)
never depends on how chromadb makes one. A Chroma server can restart under us; every call qa
makes is idempotent, so a call that fails the way a restart explains is retried with backoff,
and what still fails becomes a StoreError that says where the store is and what to do; one that
a full disk explains becomes a DiskFullError naming the disk (`disk_full`), and a write the
disk has no room for is refused before it starts (`check_space`).
"""

from __future__ import annotations

import errno
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from qa.errors import DiskFullError, StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")

def connect(home: Path, url: str | None, token: str | None) -> Any:
    """A Chroma client: an HttpClient for the server at `url`, else the embedded store under
    `home/chroma`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        from urllib.parse import urlparse

        parsed = urlparse(url)
        if not parsed.hostname:
            raise StoreError(f"QA_CHROMA_URL is not a URL: {url!r}")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            headers=headers,
            settings=chroma_settings,
        )
    path = home / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def forget_system(home: Path) -> None:
    """Make the next embedded client of `home` load Chroma afresh from disk, even if another
    client in this process still holds the current copy (chromadb shares one per path): that
    copy is set aside, not stopped, and its holders keep it until they close."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(home / "chroma"), None)


def open_collections(client: Any, prefix: str, call: Callable[..., Any]) -> tuple[Any, Any, Any]:
    """The articles, sentences and chunks collections of a library (`<prefix>_articles` ...),
    created if missing, each opened through `call` (the store's retrying call)."""
    # embedding_function=None: we always pass vectors; Chroma's default would download a model.
    articles, sentences, chunks = (
        call(
            client.get_or_create_collection,
            f"{prefix}_{noun}",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )
        for noun in ("articles", "sentences", "chunks")
    )
    return articles, sentences, chunks


def call(fn: Callable[[], T], *, home: Path, url: str | None, retries: int) -> T:
    """Call Chroma, retrying with backoff on failures that a server restart explains.

    Every call qa makes is idempotent (upserts and deletes by id or filter, reads), so a retry
    after a lost response does no harm.
    """
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            full = disk_full(exc, home, url)
            if full is not None:
                raise full from exc
            transient = url is not None and is_transient(exc)
            if not url and "hnsw segment" in str(exc):
                raise StoreError(
                    f"Chroma cannot use a vector index under {home / 'chroma'}: {exc}",
                    help="`qa check --repair` rebuilds the indexes from Chroma's log.",
                ) from exc
            if not transient or attempt == retries:
                if transient:
                    raise StoreError(
                        f"The Chroma server at {url} is not answering "
                        f"({type(exc).__name__}: {exc}); tried {attempt + 1} times.",
                        help="Check that `chroma run` is up, or unset QA_CHROMA_URL.",
                    ) from exc
                raise
            logger.warning("Chroma call failed (%s), retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def open_error(exc: Exception, home: Path, url: str | None) -> StoreError:
    """What to tell the user when a store cannot be opened: chromadb raises many kinds of
    errors, and the user needs to know where the store is (and whether a token was refused)."""
    full = disk_full(exc, home, url)
    if full is not None:
        return full
    where = url or str(home / "chroma")
    text = str(exc).lower()
    refused = url and any(w in text for w in ("unauthorized", "401", "forbidden", "403"))
    return StoreError(
        f"Cannot open the Chroma store at {where}: {exc}",
        help="Check QA_CHROMA_TOKEN: the server refused it." if refused else "",
    )


# What ENOSPC looks like once Chroma (sqlite: SQLITE_FULL), Python or a server has worded it.
_NO_SPACE = ("database or disk is full", "no space left on device", "disk is full", "enospc")
# Chroma (embedded) reports a full disk met while applying its log to its sqlite tables as
# "Failed to apply logs to the metadata segment", without the cause; an internal error met
# with less than this free on the store's disk is taken for what it most likely is. (A group
# write of ~1,300 sentence records needs ~15 MB there: log, tables, full-text index.)
LOW_SPACE = 64 * 2**20


def disk_full(exc: BaseException, home: Path, url: str | None) -> DiskFullError | None:
    """The clear error for a failure that a full disk explains (an OSError ENOSPC, sqlite's
    "database or disk is full", or an internal error of the embedded Chroma while its disk is
    all but full), else None."""
    said = any(
        (isinstance(e, OSError) and e.errno == errno.ENOSPC)
        or any(w in str(e).lower() for w in _NO_SPACE)
        for e in _chain(exc)
    )
    if url:
        if not said:
            return None
        return DiskFullError(
            f"The Chroma server at {url} has no space left on its disk: {exc}",
            help="Free some space on the server's disk (the folder of `chroma run --path`). "
            "Nothing stored was lost; running the same ingest again adds the rest.",
        )
    folder = home / "chroma"
    free = free_bytes(folder)
    if not said and not (type(exc).__name__ == "InternalError" and free is not None and free < LOW_SPACE):
        return None
    return no_space(folder, free, f" ({type(exc).__name__}: {exc})")


# Disk an embedded Chroma write takes per byte of records (vectors, texts, metadata), with room
# to spare: measured 3.3x with 384-dimensional vectors, 5.8x with 64 (the log qa keeps, the
# tables, the full-text index, the vector index); and what must stay free besides.
SPACE_PER_BYTE = 8
SPACE_MARGIN = 8 * 2**20


def check_space(home: Path, nbytes: int) -> None:
    """DiskFullError, before anything is written, when the disk holding the embedded store has
    not room for a write of records holding `nbytes`: a write that Chroma starts and cannot
    finish for want of space can leave it unable to read or to write until it is reopened."""
    folder = home / "chroma"
    free = free_bytes(folder)
    need = SPACE_PER_BYTE * nbytes + SPACE_MARGIN
    if free is not None and free < need:
        raise no_space(folder, free, f", and this write needs about {need / 1e6:.1f} MB")


def no_space(folder: Path, free: int | None, detail: str) -> DiskFullError:
    """The error for a write that found no space left on the disk holding `folder`; `detail`
    follows the free space in the message."""
    left = f"{free / 1e6:.1f} MB free" if free is not None else "free space unknown"
    return DiskFullError(
        f"No space left on the disk holding {folder}: {left}{detail}.",
        help=f"Free some space on that disk (`df {folder}` names it), or move QA_HOME to a "
        "larger one. Reading the library (list, ask, check) still works meanwhile and nothing "
        "stored was lost; once there is space, running the same ingest again adds the rest.",
    )


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the disk holding `folder` (its nearest
    existing ancestor), or None when that cannot be told."""
    for p in (folder, *folder.parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes and contexts, each once."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def is_transient(exc: Exception) -> bool:
    """Whether a failure is one a server restart or a dropped connection explains."""
    name = type(exc).__name__.lower()
    text = str(exc).lower()
    # httpx names: ConnectError, ReadTimeout, RemoteProtocolError ("Server disconnected"), ...
    return any(
        w in name or w in text
        for w in (
            "connect",
            "timeout",
            "unavailable",
            "refused",
            "reset",
            "disconnect",
            "protocolerror",
            "readerror",
            "writeerror",
            "broken pipe",
            "502",
            "503",
            "504",
        )
    )
