"""The Store: one library in Chroma, embedded or server, the source of truth for articles,
sentences and chunks, and the one object the rest of qa uses to reach them.

Every article is written as a new *version* (sentence and chunk records whose ids carry the
version, `qa.store.records`) and becomes visible only when its article record is upserted last;
readers ignore records of any other version (`qa.store.catalog`). A crash mid-write therefore
leaves the old version (or nothing) visible, never half an article; the next writer deletes what
the crash left behind (`qa.store.journal`), and `repair` deletes any such leftovers. A crash
inside Chroma's own index write is mended by rebuilding the index from Chroma's log, which qa
keeps for that (`qa.store.rebuild`). The class composes those modules with the client and its
retries (`qa.store.connection`), the file locks (`qa.store.locks`) and the consistency check
(`qa.store.health`); it keeps only what needs the open collections.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import DiskFullError, NotFoundError, StoreError
from qa.settings import Settings
from qa.store import connection, health, locks, rebuild, records
from qa.store.catalog import ArticleMeta, Catalog
from qa.store.changes import ChangeLog
from qa.store.health import Health
from qa.store.journal import Journal
from qa.store.records import PAGE, ArticleWrite, Batch, SentenceHit, where_clause
from qa.types import Article, ArticleInfo, Chunk, Filters, Sentence

logger = logging.getLogger(__name__)

MANY_ARTICLES = 500  # `sentences_of` more articles than this: one pass over every sentence
UNDATED_BY_ID = 1000  # a date-filtered query names at most this many undated articles by id


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
        self._write_lock = locks.WriteLock(self.home)
        self._access = locks.SharedLock()  # Chroma calls read; a reopen (`sync`) writes
        self._sync_lock = threading.Lock()
        self._catalog_lock = threading.Lock()  # one catalog update at a time (copy, then swap)
        self._catalog: Catalog | None = None
        self._journal = Journal(self.home, prefix, url)
        self._token = token
        self._needs_reopen = False  # a failed write closed the client and could not reopen it
        self._reopen_lock = threading.Lock()
        try:
            with self._opening():
                rebuilt = not url and rebuild.rebuild_if_torn(self.home, force=rebuild_index)
                self._open(token)
                if not url:
                    rebuild.keep_log(self.home)
                if rebuilt:
                    self._report_rebuild("" if rebuild_index else " after a writer was killed")
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many kinds; the user needs to know where
            raise connection.open_error(exc, self.home, url) from exc

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
    def describe(self, *, public: bool = False) -> str:
        """Where this library lives, in a few words for a face to show; `public`: without the
        folder or the URL (for the users of a server)."""
        if self.url:
            return f"Chroma server (collection {self.prefix})" if public else f"Chroma server {self.url}"
        if public:
            return f"embedded Chroma (collection {self.prefix})"
        return f"embedded Chroma in {self.home} (collection {self.prefix})"

    def close(self) -> None:
        """Release the Chroma client: an embedded one keeps its files open (sqlite, the HNSW
        indexes) per path until its last client is closed."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def rebuild_index(self) -> None:
        """Have Chroma rebuild the vector indexes of an embedded store from its log
        (`qa check --repair`): the client is closed, the index files are moved aside under the
        open lock, and the store is opened again. StoreError while another process writes."""
        if self.url:
            return
        self.close()
        with self._opening():
            rebuild.rebuild_if_torn(self.home, force=True)
            self._open(None)
        self._report_rebuild("")

    def _opening(self) -> contextlib.AbstractContextManager[None]:
        """The open lock of an embedded store (`locks.opening`); a server needs none."""
        if self.url:
            return contextlib.nullcontext()
        return locks.opening(self.home, max(self.lock_timeout, 60.0))

    def _open(self, token: str | None) -> None:
        self._client = self._call(connection.connect, self.home, self.url, token)
        self._collections = dict(
            zip(("articles", "sentences", "chunks"),
                connection.open_collections(self._client, self.prefix, self._call), strict=True)
        )
        self.articles = _Current(self, "articles")
        self.sentences = _Current(self, "sentences")
        self.chunks = _Current(self, "chunks")
        self._changes = ChangeLog(lambda: self._client, f"{self.prefix}_changes", self._call)
        self._seen = self._changes.generation()

    # --- following other processes ---------------------------------------------------------
    def sync(self) -> bool:
        """Catch up with what other processes committed since this one last looked: one read of
        the change log's generation (`qa.store.changes`) when nothing changed; else the catalog
        entries of the articles noted since (all of them when the log cannot tell) and, for the
        embedded store, a fresh copy of Chroma's vector indexes. Returns whether anything
        changed. The faces call it (through QA) at the start of every request."""
        if self._changes.generation() == self._seen:
            return False
        with self._sync_lock:  # one thread catches up; the others wait for it
            now, changed = self._changes.changed_since(self._seen)
            if now == self._seen:
                return False
            if not self.url:
                self._reopen()
            if self._catalog is None or changed is None:
                self.refresh()
            else:
                self._refresh_articles(changed)
            self._seen = now
        logger.info("library changed by another process (generation %d)", now)
        return True

    def _reopen(self) -> None:
        """Drop this process's copy of the embedded Chroma and open it afresh from disk.

        Chroma (embedded) keeps each collection's vector index in memory, per process: another
        process's writes reach the files and the sqlite log but not this copy, whose queries
        then miss new records and return deleted ones, and which, if this process wrote next,
        would be written back over the other's (chroma-core/chroma#3792). Chroma shares one
        copy between the clients of a path in a process, so a copy still held by another client
        here is set aside rather than reused."""
        with self._access.writing():  # no request is using the client meanwhile
            self.close()
            connection.forget_system(self.home)
            with self._opening():
                self._open(self._token)

    def _refresh_articles(self, doc_ids: set[str]) -> None:
        ids = sorted(doc_ids)
        found: list[ArticleMeta] = []
        for start in range(0, len(ids), PAGE):
            got = self._call(self.articles.get, ids=ids[start : start + PAGE], include=["metadatas"])
            for doc_id, m in zip(got["ids"], got["metadatas"], strict=True):
                found.append(ArticleMeta.from_record(doc_id, m))
        self._swap_catalog(found, doc_ids - {m.doc_id for m in found})

    def _swap_catalog(self, remembered: Iterable[ArticleMeta] = (), forgotten: Iterable[str] = ()) -> None:
        """Replace the catalog by an updated copy (a request holding the old one keeps it whole)."""
        with self._catalog_lock:
            self._catalog = self.catalog().updated(remembered, forgotten)

    def _committed(self, doc_ids: Sequence[str] | None) -> None:
        """Note a committed write in the change log (None: anything may have changed)."""
        self._seen = self._changes.record(doc_ids)

    # --- for caches that follow the library (the lexical index) -----------------------------
    @property
    def generation(self) -> int:
        """The change-log generation this process has caught up with (`sync`) or written."""
        return self._seen

    @property
    def log_id(self) -> str:
        """The change log's identity: a library deleted and made again has a new one."""
        return self._changes.id

    def changes_since(self, generation: int) -> tuple[int, set[str] | None]:
        """The current generation, read afresh, and the doc ids changed after `generation`
        (None when the log cannot tell); see `ChangeLog.changed_since`."""
        return self._changes.changed_since(generation)

    def article_versions(self, doc_ids: Collection[str] | None = None) -> dict[str, str]:
        """doc_id -> committed version of `doc_ids` (of every article when None), read afresh
        from the article records, not from this process's catalog; absent articles left out."""
        if doc_ids is None:
            pages = self._pages(self.articles, include=["metadatas"])
        else:
            ids = sorted(doc_ids)
            pages = (
                (got["ids"], got["metadatas"])
                for got in (
                    self._call(self.articles.get, ids=ids[start : start + PAGE], include=["metadatas"])
                    for start in range(0, len(ids), PAGE)
                )
            )
        return {d: str(m["version"]) for ids, metas in pages for d, m in zip(ids, metas, strict=True)}

    def sentences_of(self, versions: Mapping[str, str]) -> Iterator[tuple[str, int, str]]:
        """(doc_id, index, text) of the sentences of the given article versions (doc_id ->
        version): a page of articles at a time by their doc ids when they are few, else one pass
        over every sentence record (a filter listing thousands of ids is slower than that)."""
        if len(versions) > MANY_ARTICLES:
            groups: list[dict[str, Any] | None] = [None]
        else:
            ids = sorted(versions)
            groups = [{"doc_id": {"$in": ids[i : i + 100]}} for i in range(0, len(ids), 100)]
        for where in groups:
            for got in self._pages(self.sentences, include=["documents", "metadatas"], where=where):
                for text, m in zip(got["documents"], got["metadatas"], strict=True):
                    doc_id = str(m["doc_id"])
                    if versions.get(doc_id) == m.get("version"):
                        yield doc_id, int(m["index"]), text

    def _report_rebuild(self, why: str) -> None:
        started = time.perf_counter()
        counts = self.count()  # Chroma rebuilds each index from its log on first use
        logger.warning(
            "rebuilt the vector indexes of %s from Chroma's log%s (%d records, %.1fs)",
            self.home,
            why,
            sum(counts.values()),
            time.perf_counter() - started,
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Every Chroma call goes through here (`connection.call`: retries on a server that
        went away, errors that say what to do), so tests can count or break them in one place."""
        if self._needs_reopen:
            self._reopen_now()
        with self._access.reading():
            return connection.call(
                functools.partial(fn, *args, **kwargs), home=self.home, url=self.url, retries=self.retries
            )

    # --- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self, timeout: float | None = None) -> Iterator[None]:
        """One writer at a time per QA_HOME, across processes; re-entrant within a thread.

        The lock is a file lock (`write.lock` under QA_HOME), also taken in server mode so that
        the journal of pending writes has one owner. A second writer waits up to `timeout`
        (default `lock_timeout`, 30 s) and then gets a StoreError. On entry, writes that an
        earlier process left unfinished (killed, or the server went away) are cleaned up. A
        write that finds the disk full ends in DiskFullError, with what Chroma could not apply
        taken back (`_undo_if_full`), so that reads go on.
        """
        wait = self.lock_timeout if timeout is None else timeout

        def on_acquire(killed: bool) -> None:
            with self._undo_if_full():
                self._on_acquire(killed)

        try:
            with self._write_lock.hold(wait, on_acquire=on_acquire), self._undo_if_full():
                yield
        except OSError as exc:  # the journal or the lock file could not be written
            if exc.errno != errno.ENOSPC:
                raise
            detail = f" ({type(exc).__name__}: {exc})"
            raise connection.no_space(self.home, connection.free_bytes(self.home), detail) from exc

    @contextlib.contextmanager
    def _undo_if_full(self) -> Iterator[None]:
        """When a write fails for want of disk space, take out of Chroma's log what it logged
        but could not apply (`rebuild.drop_unapplied`): else every later read, in any process,
        would try to apply it first and fail too. Readers go on; writers get the clear error."""
        try:
            yield
        except DiskFullError as exc:
            # (One with no cause is the space check's, made before Chroma was called.)
            if not self.url and self._write_lock.depth <= 1 and exc.__cause__ is not None:
                names = [f"{self.prefix}_{noun}" for noun in ("articles", "sentences", "chunks")]
                try:
                    dropped = rebuild.drop_unapplied(self.home, names)
                except Exception as err:  # no room even for that: reads wait for space too
                    logger.warning("could not take the failed write out of Chroma's log: %s", err)
                else:
                    logger.info("took %d records of the failed write out of Chroma's log", dropped)
                # After a failed commit, Chroma's sqlite connections can be left holding a lock
                # that makes this process's next write wait forever: start from fresh ones.
                self._needs_reopen = True
                try:
                    self._reopen_now()
                except Exception as err:  # the next call tries again
                    logger.warning("could not reopen the Chroma store after the failed write: %s", err)
            raise

    def _reopen_now(self) -> None:
        """Open the embedded store afresh after a write that failed for want of space; until
        that succeeds (Chroma needs a little space even to open), every call tries again."""
        with self._reopen_lock:
            if not self._needs_reopen:
                return
            self._needs_reopen = False  # the calls made while reopening must not reopen again
            try:
                self._reopen()
            except BaseException:
                self._needs_reopen = True
                raise
            self._catalog = None  # read afresh: others may have written meanwhile

    def _on_acquire(self, killed: bool) -> None:
        # First catch up: a stale copy of the indexes must not be written over the files.
        self.sync()
        unfinished = bool(self._journal.pending())
        self._recover()
        if killed or unfinished:
            # A writer killed after its commit and before it noted the commit in the change
            # log: other processes must still learn that something changed.
            self._committed(None)

    def _recover(self) -> None:
        self._journal.recover(
            committed=self._committed_versions,
            delete_version=lambda doc_id, version: self._delete_where(
                records.version_where(doc_id, version)
            ),
            repair=self.repair,
        )

    def write_articles(self, writes: Sequence[ArticleWrite]) -> None:
        """Write new versions of several articles (distinct doc ids) with few Chroma calls.

        Each upsert costs a commit on top of its cost per record (measured in bench/ reports),
        so the records of many articles go in together: all sentences, then all chunks, then the
        article records, the commit points, in one call. Until that call an article's old
        version (or nothing) stays visible (see the module doc). Call inside `write_lock()`.
        """
        if not writes:
            return
        old = {w.article.doc_id: self.catalog().articles.get(w.article.doc_id) for w in writes}
        notes = []
        for w in writes:
            meta = old[w.article.doc_id]
            notes.append((w.article.doc_id, {w.version} | ({meta.version} if meta is not None else set())))
        # Every record is built before the first upsert: a write that cannot be built adds nothing.
        sentences = records.sentence_batch(writes)
        chunks = records.chunk_batch(writes)
        articles = records.article_batch(writes)
        if not self.url:  # nor one that the disk has no room for
            connection.check_space(self.home, sum(b.nbytes() for b in (sentences, chunks, articles)))
        entries = self._journal.begin(notes)
        self._upsert(self.sentences, sentences)
        self._upsert(self.chunks, chunks)
        # The commit points: the article records, written atomically by Chroma in one call
        # (a group larger than a page commits page by page).
        self._upsert(self.articles, articles)
        self._swap_catalog([ArticleMeta.from_write(w) for w in writes])
        for w in writes:
            previous = old[w.article.doc_id]
            if previous is not None and previous.version != w.version:
                self._delete_where(records.other_versions_where(w.article.doc_id, w.version))
        self._committed([w.article.doc_id for w in writes])
        self._journal.end(entries)

    def _upsert(self, col: Any, batch: Batch) -> None:
        for page in batch.pages():
            self._call(
                col.upsert,
                ids=page.ids,
                embeddings=page.vectors,
                documents=page.documents,
                metadatas=page.metadatas,
            )

    def delete_article(self, doc_id: str) -> None:
        """Remove an article and everything derived from it. Call inside `write_lock()`."""
        meta = self._meta(doc_id)
        entries = self._journal.begin([(doc_id, {meta.version})])
        self._call(self.articles.delete, ids=[doc_id])  # invisible from here on
        self._swap_catalog(forgotten=[doc_id])
        self._delete_where(records.other_versions_where(doc_id, None))
        self._committed([doc_id])
        self._journal.end(entries)

    def _delete_where(self, where: dict[str, Any]) -> None:
        """Delete the sentence and chunk records `where` selects."""
        self._call(self.sentences.delete, where=where)
        self._call(self.chunks.delete, where=where)

    def repair(self) -> int:
        """Delete sentence and chunk records that belong to no committed article version.

        They are what an interrupted write leaves; readers already ignore them. Call inside
        `write_lock()`: a write in progress elsewhere would lose its uncommitted records.
        """
        current = self._committed_versions()
        removed = 0
        for col in (self.sentences, self.chunks):
            stale: list[str] = []
            for ids, metas in self._pages(col, include=["metadatas"]):
                for rid, m in zip(ids, metas, strict=True):
                    if current.get(str(m.get("doc_id"))) != m.get("version"):
                        stale.append(rid)
            for start in range(0, len(stale), PAGE):
                self._call(col.delete, ids=stale[start : start + PAGE])
            removed += len(stale)
        if removed:
            logger.warning("removed %d records left by an interrupted write", removed)
        return removed

    # --- the catalog -----------------------------------------------------------------------
    def refresh(self) -> Catalog:
        """Read the catalog afresh from the article records."""
        catalog = Catalog.from_records(self._pages(self.articles, include=["metadatas"]))
        with self._write_lock.guard, self._catalog_lock:
            self._catalog = catalog
        return catalog

    def catalog(self) -> Catalog:
        return self._catalog if self._catalog is not None else self.refresh()

    def _committed_versions(self) -> dict[str, str]:
        """doc_id -> committed version, read afresh."""
        return {d: m.version for d, m in self.refresh().articles.items()}

    def _meta(self, doc_id: str) -> ArticleMeta:
        meta = self.catalog().articles.get(doc_id)
        if meta is None:
            raise _no_article(doc_id)
        return meta

    def list_articles(self, query: str | None = None, filters: Filters | None = None) -> list[ArticleInfo]:
        """The committed articles without their text (see `Catalog.listing`)."""
        return self.catalog().listing(query, filters)

    # --- reading -------------------------------------------------------------------------
    def _pages(self, col: Any, include: list[str], where: dict | None = None) -> Iterator[Any]:
        """Every record `where` selects, a page at a time: (ids, metadatas) when only
        metadatas are asked for, else Chroma's get() results."""
        offset = 0
        while True:
            got = self._call(col.get, include=include, where=where, limit=PAGE, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            if include == ["metadatas"]:
                yield ids, got["metadatas"]
            else:
                yield got
            if len(ids) < PAGE:
                return
            offset += len(ids)

    def get_article(self, doc_id: str) -> Article:
        meta = self._meta(doc_id)
        got = self._call(self.articles.get, ids=[doc_id], include=["documents"])
        if not got["ids"]:
            raise _no_article(doc_id)
        return meta.article(got["documents"][0])

    def get_sentences(
        self, doc_id: str, with_vectors: bool = False
    ) -> tuple[list[Sentence], np.ndarray | None]:
        """All sentences of the current version of an article, in order."""
        rows = [(records.sentence_from(doc_id, m, text), v)
                for text, m, v in self._current_records(self.sentences, doc_id, with_vectors)]
        return records.in_order(rows, with_vectors)

    def get_chunks(self, doc_id: str, with_vectors: bool = False) -> tuple[list[Chunk], np.ndarray | None]:
        """All chunks of the current version of an article, in order."""
        rows = [(records.chunk_from(doc_id, m, text), v)
                for text, m, v in self._current_records(self.chunks, doc_id, with_vectors)]
        return records.in_order(rows, with_vectors)

    def _current_records(self, col: Any, doc_id: str, with_vectors: bool) -> Iterator[tuple[str, Any, Any]]:
        """(text, metadata, vector or None) of the records of an article's current version."""
        meta = self._meta(doc_id)
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        where = records.version_where(doc_id, meta.version)
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
        self,
        vector: np.ndarray,
        n: int,
        filters: Filters | None = None,
        doc_ids: Sequence[str] | None = None,
    ) -> list[SentenceHit]:
        """The `n` sentences nearest `vector` that pass `filters` (and are of `doc_ids`)."""
        return self._query_filtered(self.sentences, vector, n, filters, doc_ids)

    def query_chunks(
        self, vector: np.ndarray, n: int, filters: Filters | None = None
    ) -> list[SentenceHit]:
        """Chunks as hits: `index` is the chunk index, `start`/`end` its first/last sentence."""
        return self._query_filtered(self.chunks, vector, n, filters, None, chunks=True)

    def _query_filtered(
        self,
        col: Any,
        vector: np.ndarray,
        n: int,
        filters: Filters | None,
        doc_ids: Sequence[str] | None,
        chunks: bool = False,
    ) -> list[SentenceHit]:
        """`_query` under `filters`. Records of an undated article carry no "day", and Chroma
        drops a record without the key from any comparison on it: when the date range lets
        undated articles through (`Filters.keep_undated`), up to UNDATED_BY_ID of them are named
        by id in the `where` clause (SQLite caps a query's variables, and a long list is slow);
        beyond that a second search without the dates finds them, the two merged by similarity."""
        if filters is None or not filters.keep_undated or not (filters.since or filters.until):
            return self._query(col, vector, n, where_clause(filters, doc_ids), chunks)
        undated = self.catalog().undated
        if len(undated) <= UNDATED_BY_ID:
            return self._query(col, vector, n, where_clause(filters, doc_ids, undated), chunks)
        dated = self._query(col, vector, n, where_clause(filters, doc_ids), chunks)
        loose = Filters(sources=filters.sources)
        unknown = set(undated)
        more = [h for h in self._query(col, vector, n, where_clause(loose, doc_ids), chunks)
                if h.doc_id in unknown]
        return sorted(dated + more, key=lambda h: -h.similarity)[:n]

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
            if m is None or text is None:
                continue  # deleted by another process since this one last caught up
            meta = current.get(str(m["doc_id"]))
            if meta is None or meta.version != m.get("version"):
                continue  # another version, or an article being written or deleted
            vec = embs[0][i] if embs is not None else None
            hits.append(records.hit_from(m, text, 1.0 - float(dist), vec, chunk=chunks))
        return hits

    def get_sentence_records(
        self, keys: Sequence[tuple[str, int]], with_vectors: bool = True
    ) -> dict[tuple[str, int], SentenceHit]:
        """Sentences by (doc_id, index) of the current versions, with their vectors."""
        current = self.catalog().articles
        ids = [records.sentence_record_id(d, current[d].version, i) for d, i in keys if d in current]
        if not ids:
            return {}
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        got = self._call(self.sentences.get, ids=ids, include=include)
        embs = got.get("embeddings") if with_vectors else None
        hits = (
            records.hit_from(m, text, 0.0, embs[j] if embs is not None else None)
            for j, (text, m) in enumerate(zip(got["documents"], got["metadatas"], strict=True))
            if m is not None and text is not None
        )
        return {(h.doc_id, h.index): h for h in hits}

    def dimension(self) -> int | None:
        """Length of the stored vectors, or None while the store is empty."""
        got = self._call(self.chunks.get, limit=1, include=["embeddings"])
        embs = got.get("embeddings")
        return len(embs[0]) if embs is not None and len(embs) else None

    # --- health ----------------------------------------------------------------------------
    def check(self) -> Health:
        """Read every record and report what is inconsistent (see `Health`, `health.check`).
        Reads only."""
        def pages(col: Any) -> Iterator[Any]:
            return self._pages(col, include=["metadatas", "documents"])

        return health.check(pages(self.articles), pages(self.sentences), pages(self.chunks))

    def count(self) -> dict[str, int]:
        return {
            "articles": self._call(self.articles.count),
            "sentences": self._call(self.sentences.count),
            "chunks": self._call(self.chunks.count),
        }


class _Current:
    """One of the store's collections as it is now: a method looked up here finds the
    collection when it is called, so a call that waited while `Store.sync` reopened the client
    runs against the new client, never the closed one."""

    def __init__(self, store: Store, noun: str) -> None:
        self._store = store
        self._noun = noun

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store._collections[self._noun], name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._store._collections[self._noun], name)(*args, **kwargs)

        return call


def _no_article(doc_id: str) -> NotFoundError:
    return NotFoundError(f"No article with id {doc_id!r}.")
