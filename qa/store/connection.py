"""Talking to Chroma: opening a client and its collections, retrying calls, explaining failures.

The store's client is made here and nowhere else, so that the rest of the store (and of qa)
never depends on how chromadb makes one. A Chroma server can restart under us; every call qa
makes is idempotent, so a call that fails the way a restart explains is retried with backoff,
and what still fails becomes a StoreError that says where the store is and what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from qa.errors import StoreError

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
    where = url or str(home / "chroma")
    text = str(exc).lower()
    refused = url and any(w in text for w in ("unauthorized", "401", "forbidden", "403"))
    return StoreError(
        f"Cannot open the Chroma store at {where}: {exc}",
        help="Check QA_CHROMA_TOKEN: the server refused it." if refused else "",
    )


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
