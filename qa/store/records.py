"""The shape of what qa keeps in Chroma: record ids, metadata, and records read back as qa types.

Every article version is written under new record ids that carry the version: sentence
`<doc_id>@<version>#<index>`, chunk `<doc_id>@<version>~<index>`, and one article record per
article whose id is its doc_id. Sentence and chunk metadata hold `doc_id` and `version` (so that
readers can ignore other versions, and a version can be deleted by filter), `source` and `day`
(so that queries can filter on them). Keeping the formats here keeps writes and reads in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from qa.text.dates import day_number
from qa.types import Article, Chunk, Filters, Sentence

PAGE = 2000  # records per get() or upsert() page: Chroma caps one request's batch size

Metadata = dict[str, Any]


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
    similarity: float  # cosine similarity to the query (1 - Chroma's cosine distance)
    vector: np.ndarray | None = None


def sentence_record_id(doc_id: str, version: str, index: int) -> str:
    return f"{doc_id}@{version}#{index}"


def chunk_record_id(doc_id: str, version: str, index: int) -> str:
    return f"{doc_id}@{version}~{index}"


# --- filters -----------------------------------------------------------------------------------
def where_clause(
    filters: Filters | None,
    doc_ids: Sequence[str] | None = None,
    undated: Sequence[str] = (),
) -> dict | None:
    """Filters as a Chroma `where` clause on sentence and chunk metadata. `undated`: the ids of
    the articles with no date, which pass the date range when `filters.keep_undated` (records
    of an undated article carry no "day", and Chroma drops a record without the key from any
    comparison on it, so they are named by id)."""
    parts: list[dict[str, Any]] = []
    if doc_ids is not None:
        parts.append({"doc_id": {"$in": list(doc_ids)}})
    if filters is not None and filters.sources:
        parts.append({"source": {"$in": list(filters.sources)}})
    dates: list[dict[str, Any]] = []
    if filters is not None and filters.since:
        dates.append({"day": {"$gte": day_number(filters.since.isoformat())}})
    if filters is not None and filters.until:
        dates.append({"day": {"$lte": day_number(filters.until.isoformat())}})
    if dates and filters is not None and filters.keep_undated and undated:
        dated = dates[0] if len(dates) == 1 else {"$and": dates}
        dates = [{"$or": [dated, {"doc_id": {"$in": list(undated)}}]}]
    parts.extend(dates)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def version_where(doc_id: str, version: str) -> dict[str, Any]:
    """The sentence or chunk records of one version of an article."""
    return {"$and": [{"doc_id": doc_id}, {"version": version}]}


def other_versions_where(doc_id: str, keep_version: str | None) -> dict[str, Any]:
    """The sentence or chunk records of an article but those of `keep_version` (all if None)."""
    if keep_version is None:
        return {"doc_id": doc_id}
    return {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}


# --- writing -----------------------------------------------------------------------------------
class Batch(NamedTuple):
    """Records for one upsert into one collection, in order."""

    ids: list[str]
    vectors: np.ndarray
    documents: list[str]
    metadatas: list[Metadata]

    def nbytes(self) -> int:
        """About how many bytes the records hold (vectors, texts, metadata)."""
        texts = sum(len(d) for d in self.documents) + sum(len(str(m)) for m in self.metadatas)
        return int(self.vectors.nbytes) + texts

    def pages(self) -> Iterator[Batch]:
        """The batch in parts of at most `PAGE` records, as Chroma takes them."""
        for start in range(0, len(self.ids), PAGE):
            part = slice(start, start + PAGE)
            yield Batch(self.ids[part], self.vectors[part], self.documents[part], self.metadatas[part])


def sentence_batch(writes: Sequence[ArticleWrite]) -> Batch:
    return _batch(writes, _sentence_records, lambda w: w.sentence_vectors)


def chunk_batch(writes: Sequence[ArticleWrite]) -> Batch:
    return _batch(writes, _chunk_records, lambda w: w.chunk_vectors)


def article_batch(writes: Sequence[ArticleWrite]) -> Batch:
    """The article records, whose upsert commits each version: the text, the metadata readers
    need without it, and the normalised mean of the chunk vectors."""
    vectors = []
    for w in writes:
        doc_vector = w.chunk_vectors.mean(axis=0)
        vectors.append(doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12))
    return Batch(
        [w.article.doc_id for w in writes],
        np.asarray(vectors, dtype=np.float32),
        [w.article.text for w in writes],
        [_article_metadata(w) for w in writes],
    )


def _batch(
    writes: Sequence[ArticleWrite],
    records: Callable[[ArticleWrite], Iterable[tuple[str, str, Metadata]]],
    vectors: Callable[[ArticleWrite], np.ndarray],
) -> Batch:
    rows = [row for w in writes for row in records(w)]
    return Batch(
        [r[0] for r in rows],
        np.concatenate([np.asarray(vectors(w), np.float32) for w in writes]),
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


def _sentence_records(w: ArticleWrite) -> Iterator[tuple[str, str, Metadata]]:
    common = _common_metadata(w)
    for s in w.sentences:
        meta = {
            **common,
            "index": s.index,
            "start": s.start,
            "end": s.end,
            "chunk": w.chunk_of_sentence[s.index],
        }
        yield sentence_record_id(w.article.doc_id, w.version, s.index), s.text, meta


def _chunk_records(w: ArticleWrite) -> Iterator[tuple[str, str, Metadata]]:
    common = _common_metadata(w)
    for c in w.chunks:
        meta = {
            **common,
            "index": c.index,
            "first": c.first_sentence,
            "last": c.last_sentence,
            "n_tokens": c.n_tokens,
        }
        yield chunk_record_id(w.article.doc_id, w.version, c.index), c.text, meta


def _common_metadata(w: ArticleWrite) -> Metadata:
    """What every sentence and chunk record of a version carries, for filters and versions."""
    article = w.article
    day = day_number(article.published_at)
    return _clean({"doc_id": article.doc_id, "version": w.version, "source": article.source, "day": day})


def _article_metadata(w: ArticleWrite) -> Metadata:
    article = w.article
    return _clean(
        {
            "version": w.version,
            "title": article.title,
            "source": article.source,
            "published_at": article.published_at,
            "day": day_number(article.published_at),
            "url": article.url,
            "byline": article.byline,
            "canonical_url": article.canonical_url,
            "content_hash": article.content_hash,
            "n_sentences": len(w.sentences),
            "n_chunks": len(w.chunks),
        }
    )


def _clean(meta: Metadata) -> Metadata:
    # Chroma refuses None values in metadata.
    return {k: v for k, v in meta.items() if v is not None}


# --- reading -----------------------------------------------------------------------------------
def sentence_from(doc_id: str, m: Metadata, text: str) -> Sentence:
    index = int(m["index"])
    return Sentence(
        sentence_id=f"{doc_id}#{index}",
        doc_id=doc_id,
        index=index,
        start=int(m["start"]),
        end=int(m["end"]),
        text=text,
    )


def chunk_from(doc_id: str, m: Metadata, text: str) -> Chunk:
    index = int(m["index"])
    return Chunk(
        chunk_id=f"{doc_id}~{index}",
        doc_id=doc_id,
        index=index,
        first_sentence=int(m["first"]),
        last_sentence=int(m["last"]),
        text=text,
        n_tokens=int(m.get("n_tokens", 0)),
    )


def hit_from(m: Metadata, text: str, similarity: float, vector: Any, chunk: bool = False) -> SentenceHit:
    """A sentence or chunk record as a hit; for a chunk `index` is the chunk index and
    `start`/`end` its first/last sentence."""
    index = int(m["index"])
    return SentenceHit(
        doc_id=str(m["doc_id"]),
        index=index,
        start=int(m["first"] if chunk else m["start"]),
        end=int(m["last"] if chunk else m["end"]),
        chunk=index if chunk else int(m["chunk"]),
        text=text,
        similarity=similarity,
        vector=np.asarray(vector, dtype=np.float32) if vector is not None else None,
    )


def in_order(rows: list[tuple[Any, Any]], with_vectors: bool) -> tuple[list[Any], np.ndarray | None]:
    """Records sorted by index, and their vectors as one array when asked for."""
    rows.sort(key=lambda r: r[0].index)
    vectors = np.asarray([r[1] for r in rows], dtype=np.float32) if with_vectors else None
    return [r[0] for r in rows], vectors
