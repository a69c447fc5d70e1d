"""Chroma, embedded or server: the source of truth for articles, sentences and chunks.

This is the only module that knows Chroma. Every article is written as a new *version*
(sentence and chunk records whose ids carry the version) and becomes visible only when its
article record is upserted last; readers ignore records of any other version. A crash mid-write
therefore leaves the old version (or nothing) visible, never half an article, and `repair`
deletes what the crash left behind. A crash inside Chroma's own index write is mended by
rebuilding the index from Chroma's log, which qa keeps for that (`Store._rebuild`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qa.errors import NotFoundError, StoreError
from qa.settings import Settings
from qa.types import Article, ArticleInfo, Chunk, Sentence

logger = logging.getLogger(__name__)

_PAGE = 2000  # records per get() page: Chroma caps one request's batch size


@dataclass
class ArticleMeta:
    """What readers need of an article without its text."""

    doc_id: str
    version: str
    title: str
    source: str
    published_at: str | None
    published_day: int | None
    url: str | None
    byline: str | None
    content_hash: str
    n_sentences: int


class ArticleWrite(NamedTuple):
    """One article version to write, with its vectors (`Store.write_articles`)."""

    article: Article
    version: str
    sentences: Sequence[Sentence]
    sentence_vectors: np.ndarray
    chunks: Sequence[Chunk]
    chunk_vectors: np.ndarray
    chunk_of_sentence: Sequence[int]


@dataclass
class SentenceHit:
    """A sentence record as returned by a vector query."""

    doc_id: str
    index: int
    start: int
    end: int
    chunk: int
    text: str
    distance: float
    vector: np.ndarray | None = None


@dataclass
class Health:
    """What `Store.check` found: record counts, leftovers of interrupted writes, and problems.

    `problems` names committed articles whose records are incomplete or inconsistent; it must be
    empty. `orphans` are records of no committed version: invisible to readers, removed by `repair`.
    """

    articles: int = 0
    sentences: int = 0
    chunks: int = 0
    orphans: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.orphans


@dataclass
class Catalog:
    """The committed articles, keyed by doc_id; loaded once and refreshed after writes."""

    articles: dict[str, ArticleMeta] = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> str:
        # Every query asks for it and hashing 10k ids costs milliseconds, so it is kept until
        # `changed()`, which whatever changes `articles` calls (Store._remember, delete_article).
        if self._fingerprint is None:
            h = hashlib.sha1()
            for doc_id in sorted(self.articles):
                h.update(f"{doc_id}@{self.articles[doc_id].version}\n".encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def changed(self) -> None:
        self._fingerprint = None


def day_number(published_at: str | None) -> int | None:
    """Days since 1970-01-01 of an ISO date or datetime, for range filters in Chroma."""
    if not published_at:
        return None
    from datetime import date, datetime

    text = published_at.strip()
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            d = date.fromisoformat(text[:10])
        except ValueError:
            return None
    return (d - date(1970, 1, 1)).days


def _flock(fh: Any, wait: float, poll: float, on_timeout: Callable[[], Exception]) -> None:
    """An exclusive lock on an open file, polled every `poll` s for up to `wait` s (a blocking
    flock could not time out), then the error `on_timeout` makes."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise on_timeout() from None
            time.sleep(poll)


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    # Chroma refuses None values in metadata.
    return {k: v for k, v in meta.items() if v is not None}


class Store:
    """Articles, sentences and chunks in three Chroma collections (`<prefix>_articles` ...)."""

    def __init__(
        self,
        home: Path,
        prefix: str = "qa",
        *,
        url: str | None = None,
        token: str | None = None,
        retries: int = 3,
        lock_timeout: float = 30.0,
        rebuild_index: bool = False,
    ) -> None:
        self.home = Path(home)
        self.prefix = prefix
        self.url = url
        self.retries = retries
        self.lock_timeout = lock_timeout
        self._lock = threading.RLock()
        self._lock_depth = 0
        self._catalog: Catalog | None = None
        # Pending writes of this library (see `_begin`); named per library so that two libraries
        # in one QA_HOME (prefixes, or a server and the embedded store) keep separate journals.
        tag = prefix if not url else f"{prefix}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"
        self._journal = self.home / f"pending-{tag}.json"
        try:
            with self._opening():
                rebuilt = not url and self._rebuild_if_torn(force=rebuild_index)
                self._client = self._call(self._connect, url, token)
                self.articles = self._collection("articles")
                self.sentences = self._collection("sentences")
                self.chunks = self._collection("chunks")
                if not url:
                    _keep_log(self.home / "chroma" / _CHROMA_DB)
                if rebuilt:
                    started = time.perf_counter()
                    counts = self.count()  # Chroma rebuilds each index from its log on first use
                    logger.warning(
                        "rebuilt the vector indexes of %s from Chroma's log%s (%d records, %.1fs)",
                        self.home,
                        "" if rebuild_index else " after a writer was killed",
                        sum(counts.values()),
                        time.perf_counter() - started,
                    )
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many kinds; the user needs to know where
            where = url or str(self.home / "chroma")
            text = str(exc).lower()
            refused = url and any(w in text for w in ("unauthorized", "401", "forbidden", "403"))
            raise StoreError(
                f"Cannot open the Chroma store at {where}: {exc}",
                help="Check QA_CHROMA_TOKEN: the server refused it." if refused else "",
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings, *, rebuild_index: bool = False) -> Store:
        """The store the settings name; `rebuild_index` rebuilds the vector indexes of an
        embedded store from Chroma's log while opening it (`qa check --repair`)."""
        return cls(
            settings.home,
            settings.collection,
            url=settings.chroma_url,
            token=settings.chroma_token,
            retries=settings.chroma_retries,
            lock_timeout=settings.lock_timeout,
            rebuild_index=rebuild_index,
        )

    # --- connection ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """Open an embedded store one process at a time: two processes creating a new store at
        once race in Chroma's schema set-up ("table collections already exists"). Held only while
        opening (a second or so), so readers never wait for a writer's whole ingest."""
        if self.url:
            yield
            return
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "open.lock", "a+") as fh:
            _flock(
                fh,
                max(self.lock_timeout, 60.0),
                0.05,
                lambda: StoreError(f"Another qa process has been opening {self.home} for too long."),
            )
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _rebuild_if_torn(self, force: bool) -> bool:
        """Rebuild the vector indexes (`_rebuild`) if the last writer was killed while it held the
        write lock (its pid is still in `write.lock`; a writer that finishes empties the file),
        or if `force`. The write lock is held meanwhile; returns whether they were rebuilt."""
        path = self.home / "write.lock"
        if not (force or path.exists()):
            return False
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live writer: nothing was torn, and nothing may be moved now
                if force:
                    raise StoreError(
                        f"Cannot rebuild the vector index of {self.home}: a qa process is writing to it.",
                        help="Wait for it to finish and try again.",
                    ) from None
                return False
            try:
                fh.seek(0)
                if not (force or fh.read().strip()):
                    return False
                if not self._rebuild():
                    return False
                fh.seek(0)
                fh.truncate()  # mended: the next process need not rebuild again
                fh.flush()
                return True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _rebuild(self) -> bool:
        """Have Chroma rebuild the vector index of every collection from its log: the index files
        are moved away before Chroma opens them. Returns False (and changes nothing) when the log
        no longer holds every record (a store created before qa kept the log).

        Call inside `_opening()`, before connecting. Chroma (embedded) rewrites an index's files in
        place every 1,000 records and then drops from its log what the files now hold; a process
        killed inside that rewrite leaves an index that cannot be loaded or extended ("Failed to
        apply logs to the hnsw segment writer", chroma-core/chroma#7678), whose vectors exist
        nowhere else unless the log was kept (`_keep_log`). Rebuilding takes 2 s for 17,000 records
        and 86 s for 589,000 (10,000 articles); it happens only after a writer was killed, or on
        `qa check --repair`.
        """
        import sqlite3

        db_path = self.home / "chroma" / _CHROMA_DB
        if not db_path.exists():
            return False
        with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
            if not _log_complete(db):
                logger.warning(
                    "%s: Chroma's log of this store is incomplete (it was created by an older qa), "
                    "so its vector index cannot be rebuilt from it",
                    self.home,
                )
                return False
            segments = [r[0] for r in db.execute("SELECT id FROM segments WHERE scope = 'VECTOR'")]
            for seg in segments:
                folder = db_path.parent / seg
                if folder.exists():
                    gone = folder.with_name(f"{seg}.torn")
                    shutil.rmtree(gone, ignore_errors=True)
                    os.replace(folder, gone)  # Chroma never sees a half-deleted folder
                    shutil.rmtree(gone)
            db.execute(
                f"DELETE FROM max_seq_id WHERE segment_id IN ({','.join('?' * len(segments))})",
                segments,
            )
            db.commit()
        return True  # the indexes are gone; Chroma rebuilds them whoever opens the store next

    def _connect(self, url: str | None, token: str | None) -> Any:
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
        path = self.home / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)

    def _collection(self, noun: str) -> Any:
        # embedding_function=None: we always pass vectors; Chroma's default would download a model.
        return self._call(
            self._client.get_or_create_collection,
            f"{self.prefix}_{noun}",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call Chroma, retrying with backoff on failures that a server restart explains.

        Every call qa makes is idempotent (upserts and deletes by id or filter, reads), so a retry
        after a lost response does no harm.
        """
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                transient = self.url is not None and _is_transient(exc)
                if not self.url and "hnsw segment" in str(exc):
                    raise StoreError(
                        f"Chroma cannot use a vector index under {self.home / 'chroma'}: {exc}",
                        help="`qa check --repair` rebuilds the indexes from Chroma's log.",
                    ) from exc
                if not transient or attempt == self.retries:
                    if transient:
                        raise StoreError(
                            f"The Chroma server at {self.url} is not answering "
                            f"({type(exc).__name__}: {exc}); tried {attempt + 1} times.",
                            help="Check that `chroma run` is up, or unset QA_CHROMA_URL.",
                        ) from exc
                    raise
                logger.warning("Chroma call failed (%s), retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # --- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self, timeout: float | None = None) -> Iterator[None]:
        """One writer at a time per QA_HOME, across processes; re-entrant within a thread.

        The lock is a file lock (`write.lock` under QA_HOME), also taken in server mode so that
        the journal of pending writes has one owner. A second writer waits up to `timeout`
        (default `lock_timeout`, 30 s) and then gets a StoreError. On entry, writes that an
        earlier process left unfinished (killed, or the server went away) are cleaned up.
        """
        with self._lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            wait = self.lock_timeout if timeout is None else timeout
            self.home.mkdir(parents=True, exist_ok=True)
            path = self.home / "write.lock"
            with open(path, "a+") as fh:
                _flock(
                    fh,
                    wait,
                    0.1,
                    lambda: StoreError(
                        f"Another qa process is writing to {self.home} "
                        f"(waited {wait:.0f}s for {path}).",
                        help="Wait for it to finish, or use a Chroma server (QA_CHROMA_URL).",
                    ),
                )
                self._lock_depth = 1
                try:
                    fh.seek(0)
                    fh.truncate()
                    fh.write(str(os.getpid()))
                    fh.flush()
                    self._recover()
                    yield
                finally:
                    self._lock_depth = 0
                    # An empty lock file tells the next process that this writer was not killed.
                    fh.seek(0)
                    fh.truncate()
                    fh.flush()
                    fcntl.flock(fh, fcntl.LOCK_UN)

    # --- the journal of pending writes ----------------------------------------------------
    # Before an article version is written (or an article deleted), the versions whose records
    # the write may leave behind are noted in a small JSON file under QA_HOME; the note is removed
    # when the write is complete. A writer that finds notes (its predecessor was killed, or lost
    # the server mid-write) deletes exactly those records that belong to no committed version.
    # Unlike a full `repair` this never touches another process's write in progress.

    def _pending(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self._journal.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            logger.warning("unreadable journal %s (%s): running a full repair", self._journal, exc)
            return [{"doc_id": None, "versions": []}]
        return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []

    def _save_pending(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            self._journal.unlink(missing_ok=True)
            return
        tmp = self._journal.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, self._journal)  # atomic: a kill leaves the old note or the new one

    def _begin(self, doc_id: str, versions: Sequence[str]) -> dict[str, Any]:
        entry = {"doc_id": doc_id, "versions": sorted(set(versions))}
        self.home.mkdir(parents=True, exist_ok=True)
        self._save_pending(self._pending() + [entry])
        return entry

    def _end(self, entry: dict[str, Any]) -> None:
        entries = self._pending()
        if entry in entries:
            entries.remove(entry)
        self._save_pending(entries)

    def _recover(self) -> None:
        entries = self._pending()
        if not entries:
            return
        if any(e.get("doc_id") is None for e in entries):
            self.repair()
            self._save_pending([])
            return
        current = {d: m.version for d, m in self.refresh().articles.items()}
        for e in entries:
            doc_id = str(e["doc_id"])
            for version in e.get("versions", []):
                if current.get(doc_id) != version:
                    where = {"$and": [{"doc_id": doc_id}, {"version": str(version)}]}
                    self._call(self.sentences.delete, where=where)
                    self._call(self.chunks.delete, where=where)
        logger.warning("cleaned up %d write(s) left unfinished by an earlier process", len(entries))
        self._save_pending([])

    def write_articles(self, writes: Sequence[ArticleWrite]) -> None:
        """Write new versions of several articles (distinct doc ids) with few Chroma calls.

        Each upsert costs a commit (~20 ms) besides ~1 ms a record, so the records of many
        articles go in together: all sentences, then all chunks, then the article records, the
        commit points, in one call. Until that call an article's old version (or nothing) stays
        visible (see the module doc). Call inside `write_lock()`.
        """
        if not writes:
            return
        old = {w.article.doc_id: self.catalog().articles.get(w.article.doc_id) for w in writes}
        # One journal note per article, as `_begin` makes them, saved once for the group.
        entries = []
        for w in writes:
            meta = old[w.article.doc_id]
            versions = {w.version} | ({meta.version} if meta is not None else set())
            entries.append({"doc_id": w.article.doc_id, "versions": sorted(versions)})
        self.home.mkdir(parents=True, exist_ok=True)
        self._save_pending(self._pending() + entries)
        s_ids: list[str] = []
        s_docs: list[str] = []
        s_metas: list[dict[str, Any]] = []
        c_ids: list[str] = []
        c_docs: list[str] = []
        c_metas: list[dict[str, Any]] = []
        a_vecs: list[np.ndarray] = []
        a_metas: list[dict[str, Any]] = []
        for w in writes:
            doc_id, version, article = w.article.doc_id, w.version, w.article
            day = day_number(article.published_at)
            common = _clean_meta(
                {"doc_id": doc_id, "version": version, "source": article.source, "day": day}
            )
            for s in w.sentences:
                s_ids.append(f"{doc_id}@{version}#{s.index}")
                s_docs.append(s.text)
                s_metas.append(
                    {
                        **common,
                        "index": s.index,
                        "start": s.start,
                        "end": s.end,
                        "chunk": w.chunk_of_sentence[s.index],
                    }
                )
            for c in w.chunks:
                c_ids.append(f"{doc_id}@{version}~{c.index}")
                c_docs.append(c.text)
                c_metas.append(
                    {
                        **common,
                        "index": c.index,
                        "first": c.first_sentence,
                        "last": c.last_sentence,
                        "n_tokens": c.n_tokens,
                    }
                )
            doc_vector = w.chunk_vectors.mean(axis=0)
            a_vecs.append(doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12))
            a_metas.append(
                _clean_meta(
                    {
                        "version": version,
                        "title": article.title,
                        "source": article.source,
                        "published_at": article.published_at,
                        "day": day,
                        "url": article.url,
                        "byline": article.byline,
                        "content_hash": article.content_hash,
                        "n_sentences": len(w.sentences),
                        "n_chunks": len(w.chunks),
                    }
                )
            )
        s_vecs = np.concatenate([np.asarray(w.sentence_vectors, np.float32) for w in writes])
        c_vecs = np.concatenate([np.asarray(w.chunk_vectors, np.float32) for w in writes])
        for col, ids, vecs, docs, metas in (
            (self.sentences, s_ids, s_vecs, s_docs, s_metas),
            (self.chunks, c_ids, c_vecs, c_docs, c_metas),
        ):
            for start in range(0, len(ids), _PAGE):
                stop = start + _PAGE
                self._call(
                    col.upsert,
                    ids=ids[start:stop],
                    embeddings=vecs[start:stop],
                    documents=docs[start:stop],
                    metadatas=metas[start:stop],
                )
        # The commit points: the article records, written atomically by Chroma in one call
        # (a group larger than a page commits page by page).
        for start in range(0, len(writes), _PAGE):
            part = writes[start : start + _PAGE]
            self._call(
                self.articles.upsert,
                ids=[w.article.doc_id for w in part],
                embeddings=np.asarray(a_vecs[start : start + _PAGE], dtype=np.float32),
                documents=[w.article.text for w in part],
                metadatas=a_metas[start : start + _PAGE],
            )
        for w in writes:
            article = w.article
            self._remember(
                ArticleMeta(
                    doc_id=article.doc_id,
                    version=w.version,
                    title=article.title,
                    source=article.source,
                    published_at=article.published_at,
                    published_day=day_number(article.published_at),
                    url=article.url,
                    byline=article.byline,
                    content_hash=article.content_hash,
                    n_sentences=len(w.sentences),
                )
            )
            previous = old[article.doc_id]
            if previous is not None and previous.version != w.version:
                self._delete_records(article.doc_id, keep_version=w.version)
        done = self._pending()
        self._save_pending([e for e in done if e not in entries])

    def delete_article(self, doc_id: str) -> None:
        """Remove an article and everything derived from it. Call inside `write_lock()`."""
        meta = self.catalog().articles.get(doc_id)
        if meta is None:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        entry = self._begin(doc_id, [meta.version])
        self._call(self.articles.delete, ids=[doc_id])  # invisible from here on
        self.catalog().articles.pop(doc_id, None)
        self.catalog().changed()
        self._delete_records(doc_id, keep_version=None)
        self._end(entry)

    def _delete_records(self, doc_id: str, keep_version: str | None) -> None:
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_version is not None:
            where = {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}
        self._call(self.sentences.delete, where=where)
        self._call(self.chunks.delete, where=where)

    def repair(self) -> int:
        """Delete sentence and chunk records that belong to no committed article version.

        They are what an interrupted write leaves; readers already ignore them. Call inside
        `write_lock()`: a write in progress elsewhere would lose its uncommitted records.
        """
        current = {d: m.version for d, m in self.refresh().articles.items()}
        removed = 0
        for col in (self.sentences, self.chunks):
            stale: list[str] = []
            for ids, metas in self._pages(col, include=["metadatas"]):
                for rid, m in zip(ids, metas, strict=True):
                    if current.get(str(m.get("doc_id"))) != m.get("version"):
                        stale.append(rid)
            for start in range(0, len(stale), _PAGE):
                self._call(col.delete, ids=stale[start : start + _PAGE])
            removed += len(stale)
        if removed:
            logger.warning("removed %d records left by an interrupted write", removed)
        return removed

    # --- reading -------------------------------------------------------------------------
    def _pages(self, col: Any, include: list[str], where: dict | None = None) -> Iterator[Any]:
        offset = 0
        while True:
            got = self._call(col.get, include=include, where=where, limit=_PAGE, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            if include == ["metadatas"]:
                yield ids, got["metadatas"]
            else:
                yield got
            if len(ids) < _PAGE:
                return
            offset += len(ids)

    def refresh(self) -> Catalog:
        catalog = Catalog()
        for ids, metas in self._pages(self.articles, include=["metadatas"]):
            for doc_id, m in zip(ids, metas, strict=True):
                catalog.articles[doc_id] = ArticleMeta(
                    doc_id=doc_id,
                    version=str(m["version"]),
                    title=str(m.get("title", "")),
                    source=str(m.get("source", "")),
                    published_at=m.get("published_at"),
                    published_day=m.get("day"),
                    url=m.get("url"),
                    byline=m.get("byline"),
                    content_hash=str(m.get("content_hash", "")),
                    n_sentences=int(m.get("n_sentences", 0)),
                )
        with self._lock:
            self._catalog = catalog
        return catalog

    def catalog(self) -> Catalog:
        return self._catalog if self._catalog is not None else self.refresh()

    def _remember(self, meta: ArticleMeta) -> None:
        self.catalog().articles[meta.doc_id] = meta
        self.catalog().changed()

    def list_articles(self) -> list[ArticleInfo]:
        return [
            ArticleInfo(
                doc_id=m.doc_id,
                title=m.title,
                source=m.source,
                published_at=m.published_at,
                url=m.url,
                n_sentences=m.n_sentences,
            )
            for m in sorted(self.catalog().articles.values(), key=lambda m: m.doc_id)
        ]

    def get_article(self, doc_id: str) -> Article:
        meta = self.catalog().articles.get(doc_id)
        if meta is None:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        got = self._call(self.articles.get, ids=[doc_id], include=["documents"])
        if not got["ids"]:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        return Article(
            doc_id=doc_id,
            title=meta.title,
            source=meta.source,
            published_at=meta.published_at,
            url=meta.url,
            byline=meta.byline,
            text=got["documents"][0],
            content_hash=meta.content_hash,
            n_sentences=meta.n_sentences,
        )

    def get_sentences(
        self, doc_id: str, with_vectors: bool = False
    ) -> tuple[list[Sentence], np.ndarray | None]:
        """All sentences of the current version of an article, in order."""
        rows = [(_sentence(doc_id, m, text), v)
                for text, m, v in self._current_records(self.sentences, doc_id, with_vectors)]
        return _in_order(rows, with_vectors)

    def _current_records(self, col: Any, doc_id: str, with_vectors: bool) -> Iterator[tuple[str, Any, Any]]:
        """(text, metadata, vector or None) of the records of an article's current version."""
        meta = self.catalog().articles.get(doc_id)
        if meta is None:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        where = {"$and": [{"doc_id": doc_id}, {"version": meta.version}]}
        for got in self._pages(col, include=include, where=where):
            vecs = got["embeddings"] if with_vectors else [None] * len(got["ids"])
            yield from zip(got["documents"], got["metadatas"], vecs, strict=True)

    def all_sentences(self) -> Iterator[tuple[str, int, str]]:
        """(doc_id, index, text) of every visible sentence, for the lexical index."""
        current = {d: m.version for d, m in self.catalog().articles.items()}
        for got in self._pages(self.sentences, include=["documents", "metadatas"]):
            for text, m in zip(got["documents"], got["metadatas"], strict=True):
                doc_id = str(m["doc_id"])
                if current.get(doc_id) == m.get("version"):
                    yield doc_id, int(m["index"]), text

    def query_sentences(
        self, vector: np.ndarray, n: int, where: dict | None = None
    ) -> list[SentenceHit]:
        return self._query(self.sentences, vector, n, where)

    def query_chunks(
        self, vector: np.ndarray, n: int, where: dict | None = None
    ) -> list[SentenceHit]:
        """Chunks as hits: `index` is the chunk index, `start`/`end` its first/last sentence."""
        return self._query(self.chunks, vector, n, where, chunks=True)

    def _query(
        self, col: Any, vector: np.ndarray, n: int, where: dict | None, chunks: bool = False
    ) -> list[SentenceHit]:
        current = self.catalog().articles
        if not current:
            return []
        got = self._call(
            col.query,
            query_embeddings=vector[None, :].astype(np.float32),
            n_results=n,
            where=where,
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        hits: list[SentenceHit] = []
        embs = got.get("embeddings")
        for i, (text, m, dist) in enumerate(
            zip(got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True)
        ):
            meta = current.get(str(m["doc_id"]))
            if meta is None or meta.version != m.get("version"):
                continue  # another version, or an article being written or deleted
            vec = np.asarray(embs[0][i], dtype=np.float32) if embs is not None else None
            if chunks:
                hits.append(
                    SentenceHit(
                        doc_id=meta.doc_id,
                        index=int(m["index"]),
                        start=int(m["first"]),
                        end=int(m["last"]),
                        chunk=int(m["index"]),
                        text=text,
                        distance=float(dist),
                        vector=vec,
                    )
                )
            else:
                hits.append(
                    SentenceHit(
                        doc_id=meta.doc_id,
                        index=int(m["index"]),
                        start=int(m["start"]),
                        end=int(m["end"]),
                        chunk=int(m["chunk"]),
                        text=text,
                        distance=float(dist),
                        vector=vec,
                    )
                )
        return hits

    def get_sentence_records(
        self, keys: Sequence[tuple[str, int]], with_vectors: bool = True
    ) -> dict[tuple[str, int], SentenceHit]:
        """Sentences by (doc_id, index) of the current versions, with their vectors."""
        current = self.catalog().articles
        ids = [f"{d}@{current[d].version}#{i}" for d, i in keys if d in current]
        if not ids:
            return {}
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        got = self._call(self.sentences.get, ids=ids, include=include)
        out: dict[tuple[str, int], SentenceHit] = {}
        embs = got.get("embeddings") if with_vectors else None
        for j, (text, m) in enumerate(zip(got["documents"], got["metadatas"], strict=True)):
            key = (str(m["doc_id"]), int(m["index"]))
            out[key] = SentenceHit(
                doc_id=key[0],
                index=key[1],
                start=int(m["start"]),
                end=int(m["end"]),
                chunk=int(m["chunk"]),
                text=text,
                distance=0.0,
                vector=np.asarray(embs[j], dtype=np.float32) if embs is not None else None,
            )
        return out

    def get_chunks(self, doc_id: str, with_vectors: bool = False) -> tuple[list[Chunk], np.ndarray | None]:
        """All chunks of the current version of an article, in order."""
        rows: list[tuple[Chunk, Any]] = []
        for text, m, v in self._current_records(self.chunks, doc_id, with_vectors):
            index = int(m["index"])
            chunk = Chunk(
                chunk_id=f"{doc_id}~{index}",
                doc_id=doc_id,
                index=index,
                first_sentence=int(m["first"]),
                last_sentence=int(m["last"]),
                text=text,
                n_tokens=int(m.get("n_tokens", 0)),
            )
            rows.append((chunk, v))
        return _in_order(rows, with_vectors)

    def dimension(self) -> int | None:
        """Length of the stored vectors, or None while the store is empty."""
        got = self._call(self.chunks.get, limit=1, include=["embeddings"])
        embs = got.get("embeddings")
        return len(embs[0]) if embs is not None and len(embs) else None

    def check(self) -> Health:
        """Read every record and report what is inconsistent (see `Health`). Reads only.

        A committed article must have exactly its `n_sentences` sentence records and `n_chunks`
        chunk records, numbered from 0, each sentence's text equal to its span of the article text
        and each chunk's text to the span from its first to its last sentence.
        """
        articles: dict[str, tuple[dict[str, Any], str]] = {}
        for got in self._pages(self.articles, include=["metadatas", "documents"]):
            for doc_id, m, text in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
                articles[doc_id] = (m, text)
        health = Health(articles=len(articles))
        spans: dict[str, dict[int, tuple[int, int]]] = {d: {} for d in articles}
        chunks: dict[str, dict[int, tuple[int, int, str]]] = {d: {} for d in articles}
        for got in self._pages(self.sentences, include=["metadatas", "documents"]):
            for text, m in zip(got["documents"], got["metadatas"], strict=True):
                health.sentences += 1
                doc_id = str(m.get("doc_id"))
                if doc_id not in articles or articles[doc_id][0].get("version") != m.get("version"):
                    health.orphans += 1
                    continue
                start, end = int(m["start"]), int(m["end"])
                spans[doc_id][int(m["index"])] = (start, end)
                if articles[doc_id][1][start:end] != text:
                    health.problems.append(f"{doc_id}: sentence {m['index']} is not its span of the text")
        for got in self._pages(self.chunks, include=["metadatas", "documents"]):
            for text, m in zip(got["documents"], got["metadatas"], strict=True):
                health.chunks += 1
                doc_id = str(m.get("doc_id"))
                if doc_id not in articles or articles[doc_id][0].get("version") != m.get("version"):
                    health.orphans += 1
                    continue
                chunks[doc_id][int(m["index"])] = (int(m["first"]), int(m["last"]), text)
        for doc_id, (m, text) in sorted(articles.items()):
            n_sent, n_chunks = int(m.get("n_sentences", -1)), int(m.get("n_chunks", -1))
            if sorted(spans[doc_id]) != list(range(n_sent)):
                health.problems.append(
                    f"{doc_id}: {len(spans[doc_id])} sentence records, metadata says {n_sent}"
                )
                continue
            if sorted(chunks[doc_id]) != list(range(n_chunks)):
                health.problems.append(
                    f"{doc_id}: {len(chunks[doc_id])} chunk records, metadata says {n_chunks}"
                )
                continue
            for index, (first, last, chunk_text) in chunks[doc_id].items():
                ok = 0 <= first <= last < n_sent
                if not ok or text[spans[doc_id][first][0] : spans[doc_id][last][1]] != chunk_text:
                    health.problems.append(f"{doc_id}: chunk {index} is not its span of the text")
        return health

    def count(self) -> dict[str, int]:
        return {
            "articles": self._call(self.articles.count),
            "sentences": self._call(self.sentences.count),
            "chunks": self._call(self.chunks.count),
        }


def _in_order(rows: list[tuple[Any, Any]], with_vectors: bool) -> tuple[list[Any], np.ndarray | None]:
    """Records sorted by index, and their vectors as one array when asked for."""
    rows.sort(key=lambda r: r[0].index)
    vectors = np.asarray([r[1] for r in rows], dtype=np.float32) if with_vectors else None
    return [r[0] for r in rows], vectors


def _sentence(doc_id: str, m: dict[str, Any], text: str) -> Sentence:
    index = int(m["index"])
    return Sentence(
        sentence_id=f"{doc_id}#{index}",
        doc_id=doc_id,
        index=index,
        start=int(m["start"]),
        end=int(m["end"]),
        text=text,
    )


_CHROMA_DB = "chroma.sqlite3"
_KEEP_LOG = '{"automatically_purge":false,"_type":"EmbeddingsQueueConfigurationInternal"}'


def _log_complete(db: Any) -> bool:
    """Whether Chroma's log (its `embeddings_queue` table) still holds every write since the
    store was created: nothing was ever purged from it."""
    first = db.execute("SELECT MIN(seq_id) FROM embeddings_queue").fetchone()[0]
    if first is not None:
        return int(first) == 1
    persisted = db.execute("SELECT MAX(seq_id) FROM max_seq_id").fetchone()[0]
    return not persisted  # an empty log is complete only if nothing was ever written


def _keep_log(db_path: Path) -> None:
    """Turn off Chroma's purging of its log in a store whose log is still complete, so that the
    vector indexes can always be rebuilt from it (`Store._rebuild`). The cost is disk: every
    record is stored twice (about 2 kB more a record). Chroma offers no setting for this; it reads
    the flag from this table before each purge. A store whose log was purged is left as it is."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
        row = db.execute("SELECT config_json_str FROM embeddings_queue_config").fetchone()
        if row is None or json.loads(row[0]).get("automatically_purge") is False:
            return
        if _log_complete(db):
            db.execute("UPDATE embeddings_queue_config SET config_json_str = ?", (_KEEP_LOG,))
            db.commit()


def _is_transient(exc: Exception) -> bool:
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
