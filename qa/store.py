"""Chroma, embedded or server: the source of truth for articles, sentences and chunks.

This is the only module that knows Chroma. Every article is written as a new *version*
(sentence and chunk records whose ids carry the version) and becomes visible only when its
article record is upserted last; readers ignore records of any other version. A crash mid-write
therefore leaves the old version (or nothing) visible, never half an article, and `repair`
deletes what the crash left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import NotFoundError, StoreError
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
class Catalog:
    """The committed articles, keyed by doc_id; loaded once and refreshed after writes."""

    articles: dict[str, ArticleMeta] = field(default_factory=dict)

    def fingerprint(self) -> str:
        import hashlib

        h = hashlib.sha1()
        for doc_id in sorted(self.articles):
            h.update(f"{doc_id}@{self.articles[doc_id].version}\n".encode())
        return h.hexdigest()[:16]


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
    ) -> None:
        self.home = Path(home)
        self.prefix = prefix
        self.url = url
        self.retries = retries
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        try:
            self._client = self._connect(url, token)
            self.articles = self._collection("articles")
            self.sentences = self._collection("sentences")
            self.chunks = self._collection("chunks")
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many kinds; the user needs to know where
            where = url or str(self.home / "chroma")
            raise StoreError(f"Cannot open the Chroma store at {where}: {exc}") from exc

    # --- connection ----------------------------------------------------------------------
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
        """Call Chroma, retrying with backoff on failures that a server restart explains."""
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                transient = self.url is not None and _is_transient(exc)
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
    def write_lock(self, timeout: float = 30.0) -> Iterator[None]:
        """One writer at a time per embedded store, across processes (a server serializes itself)."""
        if self.url:
            with self._lock:
                yield
            return
        path = self.home / "write.lock"
        with self._lock, open(path, "a+") as fh:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(
                            f"Another qa process is writing to {self.home} "
                            f"(waited {timeout:.0f}s for {path}).",
                            help="Wait for it to finish, or use a Chroma server (QA_CHROMA_URL).",
                        ) from None
                    time.sleep(0.2)
            try:
                fh.seek(0)
                fh.truncate()
                fh.write(str(os.getpid()))
                fh.flush()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write_article(
        self,
        article: Article,
        version: str,
        sentences: Sequence[Sentence],
        sentence_vectors: np.ndarray,
        chunks: Sequence[Chunk],
        chunk_vectors: np.ndarray,
        chunk_of_sentence: Sequence[int],
    ) -> None:
        """Write a new version of an article; it becomes visible only at the end (see module doc).

        Call inside `write_lock()`.
        """
        doc_id = article.doc_id
        meta = self.catalog().articles.get(doc_id)
        day = day_number(article.published_at)
        common = _clean_meta(
            {"doc_id": doc_id, "version": version, "source": article.source, "day": day}
        )
        for start in range(0, len(sentences), _PAGE):
            part = sentences[start : start + _PAGE]
            self._call(
                self.sentences.upsert,
                ids=[f"{doc_id}@{version}#{s.index}" for s in part],
                embeddings=sentence_vectors[start : start + len(part)],
                documents=[s.text for s in part],
                metadatas=[
                    {
                        **common,
                        "index": s.index,
                        "start": s.start,
                        "end": s.end,
                        "chunk": chunk_of_sentence[s.index],
                    }
                    for s in part
                ],
            )
        for start in range(0, len(chunks), _PAGE):
            cpart = chunks[start : start + _PAGE]
            self._call(
                self.chunks.upsert,
                ids=[f"{doc_id}@{version}~{c.index}" for c in cpart],
                embeddings=chunk_vectors[start : start + len(cpart)],
                documents=[c.text for c in cpart],
                metadatas=[
                    {
                        **common,
                        "index": c.index,
                        "first": c.first_sentence,
                        "last": c.last_sentence,
                        "n_tokens": c.n_tokens,
                    }
                    for c in cpart
                ],
            )
        doc_vector = chunk_vectors.mean(axis=0)
        doc_vector = doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12)
        # The commit point: one record, written atomically by Chroma.
        self._call(
            self.articles.upsert,
            ids=[doc_id],
            embeddings=doc_vector[None, :],
            documents=[article.text],
            metadatas=[
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
                        "n_sentences": len(sentences),
                        "n_chunks": len(chunks),
                    }
                )
            ],
        )
        self._remember(
            ArticleMeta(
                doc_id=doc_id,
                version=version,
                title=article.title,
                source=article.source,
                published_at=article.published_at,
                published_day=day,
                url=article.url,
                byline=article.byline,
                content_hash=article.content_hash,
                n_sentences=len(sentences),
            )
        )
        if meta is not None and meta.version != version:
            self._delete_records(doc_id, keep_version=version)

    def delete_article(self, doc_id: str) -> None:
        """Remove an article and everything derived from it. Call inside `write_lock()`."""
        if doc_id not in self.catalog().articles:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        self._call(self.articles.delete, ids=[doc_id])  # invisible from here on
        self.catalog().articles.pop(doc_id, None)
        self._delete_records(doc_id, keep_version=None)

    def _delete_records(self, doc_id: str, keep_version: str | None) -> None:
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_version is not None:
            where = {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}
        self._call(self.sentences.delete, where=where)
        self._call(self.chunks.delete, where=where)

    def repair(self) -> int:
        """Delete sentence and chunk records that belong to no committed article version.

        They are what an interrupted write leaves; readers already ignore them.
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
        meta = self.catalog().articles.get(doc_id)
        if meta is None:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        where = {"$and": [{"doc_id": doc_id}, {"version": meta.version}]}
        rows: list[tuple[Sentence, Any]] = []
        for got in self._pages(self.sentences, include=include, where=where):
            vecs = got["embeddings"] if with_vectors else [None] * len(got["ids"])
            for text, m, v in zip(got["documents"], got["metadatas"], vecs, strict=True):
                rows.append((_sentence(doc_id, m, text), v))
        rows.sort(key=lambda r: r[0].index)
        vectors = np.asarray([r[1] for r in rows], dtype=np.float32) if with_vectors else None
        return [r[0] for r in rows], vectors

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

    def count(self) -> dict[str, int]:
        return {
            "articles": self._call(self.articles.count),
            "sentences": self._call(self.sentences.count),
            "chunks": self._call(self.chunks.count),
        }


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


def _is_transient(exc: Exception) -> bool:
    name = type(exc).__name__.lower()
    text = str(exc).lower()
    return any(
        w in name or w in text
        for w in ("connect", "timeout", "unavailable", "refused", "reset", "502", "503", "504")
    )
