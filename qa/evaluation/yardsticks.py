"""Baseline systems that answer the evaluation questions, so qa can be scored beside them.

Each yardstick indexes a docs JSONL and writes predictions in the format of `qa eval run`:

- `langchain_tutorial`: LangChain's RAG tutorial as written: RecursiveCharacterTextSplitter
  (1000 characters, 200 overlap), the same MiniLM model, Chroma, the top 4 chunks by similarity;
  the answer is the chunks' text and each chunk is one citation.
- `bm25_only`: BM25 (bm25s) over every sentence; the top 5 sentences are cited.
- `dense_only`: every sentence embedded on its own; the top 5 by cosine are cited.

None of them abstains. `retrieved_doc_ids` ranks documents by their best hit among a deeper list
than the cited one (RANK_DEPTH hits), so recall@10 is measurable; the cited hits are the first
ones of that same ranking, exactly what the system would have returned.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from qa.embed.base import Embedder
from qa.embed.local import local_embedder
from qa.text import sentences

__all__ = [
    "RANK_DEPTH",
    "YARDSTICKS",
    "LocalLangChainEmbeddings",
    "run_yardstick",
]

logger = logging.getLogger(__name__)

RANK_DEPTH = 50
"""Hits (chunks or sentences) looked at to rank documents for `retrieved_doc_ids`."""

TUTORIAL_CHUNK_SIZE = 1000
TUTORIAL_CHUNK_OVERLAP = 200
TUTORIAL_K = 4
SENTENCE_K = 5


class LocalLangChainEmbeddings(Embeddings):
    """LangChain's Embeddings interface over a qa Embedder (by default the local MiniLM)."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder or local_embedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Unit vectors of `texts`, as lists of floats."""
        return [v.tolist() for v in self._embedder.embed_texts(texts)]

    def embed_query(self, text: str) -> list[float]:
        """Unit vector of `text`, as a list of floats."""
        return [float(x) for x in self._embedder.embed_query(text)]


@dataclass(frozen=True)
class _Hit:
    """One retrieved passage: a sentence or a chunk of a document."""

    doc: Mapping[str, Any]
    sentence_id: str
    start: int
    end: int
    text: str
    score: float


def _citation(n: int, hit: _Hit) -> dict:
    doc = hit.doc
    return {
        "n": n,
        "doc_id": str(doc["doc_id"]),
        "title": str(doc.get("title") or ""),
        "source": str(doc.get("source") or ""),
        "published_at": doc.get("published_at"),
        "sentence_id": hit.sentence_id,
        "start": hit.start,
        "end": hit.end,
        "text": hit.text,
        "score": hit.score,
    }


def _ranked_doc_ids(hits: Sequence[_Hit]) -> list[str]:
    """Document ids in order of their best hit, each once."""
    return list(dict.fromkeys(str(h.doc["doc_id"]) for h in hits))


def _prediction(question: Mapping[str, Any], hits: Sequence[_Hit], k: int, ms: float) -> dict:
    """A prediction citing the first k hits; the answer is their text, one passage a paragraph."""
    cited = list(hits[:k])
    return {
        "qid": question["qid"],
        "question": question["question"],
        "answer": "\n\n".join(h.text for h in cited),
        "abstained": False,
        "citations": [_citation(n, h) for n, h in enumerate(cited, start=1)],
        "retrieved_doc_ids": _ranked_doc_ids(hits),
        "mode": "extractive",
        "timings_ms": {"total": ms, "retrieve": ms},
    }


# A searcher maps a question to its hits, best first.
_Searcher = Callable[[str], list[_Hit]]


def _answer_all(questions: Sequence[Mapping[str, Any]], search: _Searcher, k: int) -> list[dict]:
    out = []
    for q in questions:
        t0 = time.perf_counter()
        hits = search(str(q["question"]))
        ms = (time.perf_counter() - t0) * 1000
        out.append(_prediction(q, hits, k, ms))
    return out


# ---------------------------------------------------------------------------------------------
# Sentence yardsticks


@lru_cache(maxsize=2048)
def _split(text: str) -> tuple[tuple[int, int], ...]:
    # pysbd is the slow part of a sentence table; bm25_only and dense_only split the same
    # documents, so each text is segmented once per run.
    return tuple(sentences.split(text))


@dataclass(frozen=True)
class _SentenceTable:
    """Every sentence of every document, in document order."""

    hits: list[_Hit]

    @classmethod
    def build(cls, docs: Sequence[Mapping[str, Any]]) -> _SentenceTable:
        rows = []
        for doc in docs:
            text = str(doc["text"])
            for i, (s, e) in enumerate(_split(text)):
                rows.append(_Hit(doc, f"{doc['doc_id']}#{i}", s, e, text[s:e], 0.0))
        return cls(rows)

    def take(self, indices: Sequence[int], scores: Sequence[float]) -> list[_Hit]:
        return [
            _Hit(h.doc, h.sentence_id, h.start, h.end, h.text, float(sc))
            for h, sc in ((self.hits[i], sc) for i, sc in zip(indices, scores, strict=True))
        ]


def _bm25_searcher(docs: Sequence[Mapping[str, Any]], depth: int) -> _Searcher:
    import bm25s

    table = _SentenceTable.build(docs)
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([h.text for h in table.hits], stopwords="en", show_progress=False),
        show_progress=False,
    )
    vocab = retriever.vocab_dict
    k = min(depth, len(table.hits))

    def search(question: str) -> list[_Hit]:
        # Query tokens unknown to the index are dropped: bm25s cannot score them, and a question
        # made only of unknown words retrieves nothing.
        tokens = bm25s.tokenize([question], stopwords="en", return_ids=False, show_progress=False)
        known = [t for t in tokens[0] if t in vocab]
        if not known or k == 0:
            return []
        idx, scores = retriever.retrieve([known], k=k, show_progress=False, n_threads=1)
        keep = [(int(i), float(s)) for i, s in zip(idx[0], scores[0], strict=True) if s > 0]
        return table.take([i for i, _ in keep], [s for _, s in keep])

    return search


def _dense_searcher(docs: Sequence[Mapping[str, Any]], depth: int, embedder: Embedder) -> _Searcher:
    table = _SentenceTable.build(docs)
    vectors = embedder.embed_texts([h.text for h in table.hits])

    def search(question: str) -> list[_Hit]:
        if not table.hits:
            return []
        sims = vectors @ embedder.embed_query(question)
        top = np.argsort(-sims, kind="stable")[:depth]
        return table.take([int(i) for i in top], [float(sims[i]) for i in top])

    return search


# ---------------------------------------------------------------------------------------------
# LangChain tutorial


def _doc_metadata(doc: Mapping[str, Any]) -> dict[str, str]:
    # Chroma rejects None metadata values.
    keys = ("doc_id", "title", "source", "published_at")
    return {k: str(doc[k]) for k in keys if doc.get(k) is not None}


def _run_langchain_tutorial(
    docs: Sequence[Mapping[str, Any]],
    questions: Sequence[Mapping[str, Any]],
    embedder: Embedder,
    depth: int,
) -> list[dict]:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qa.store.scratch import scratch_client

    by_id = {str(d["doc_id"]): d for d in docs}
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=TUTORIAL_CHUNK_SIZE, chunk_overlap=TUTORIAL_CHUNK_OVERLAP, add_start_index=True
    )
    splits = splitter.split_documents(
        [Document(page_content=str(d["text"]), metadata=_doc_metadata(d)) for d in docs]
    )
    with tempfile.TemporaryDirectory(prefix="qa-yardstick-chroma-") as tmp:
        client = scratch_client(tmp)
        # The embedding function is passed explicitly: Chroma's default one downloads a model.
        store = Chroma(
            collection_name="yardstick",
            embedding_function=LocalLangChainEmbeddings(embedder),
            client=client,
        )
        t0 = time.perf_counter()
        for b in range(0, len(splits), 1000):  # under Chroma's largest batch
            batch = splits[b : b + 1000]
            store.add_documents(batch, ids=[f"chunk-{b + i}" for i in range(len(batch))])
        logger.info("indexed %d chunks in %.1f s", len(splits), time.perf_counter() - t0)
        depth = min(depth, len(splits))

        def search(question: str) -> list[_Hit]:
            if depth == 0:
                return []
            found = store.similarity_search_with_score(question, k=depth)
            hits = []
            for chunk, distance in found:
                doc = by_id[str(chunk.metadata["doc_id"])]
                start = int(chunk.metadata.get("start_index", -1))
                end = start + len(chunk.page_content) if start >= 0 else -1
                # Chroma's default space is squared L2; on unit vectors cosine = 1 - d / 2.
                hits.append(_Hit(doc, "", start, end, chunk.page_content, 1 - distance / 2))
            return hits

        predictions = _answer_all(questions, search, TUTORIAL_K)
        client.clear_system_cache()
    return predictions


# ---------------------------------------------------------------------------------------------
# Entry point

YARDSTICKS = ("langchain_tutorial", "bm25_only", "dense_only")
"""Names `run_yardstick` accepts."""


def run_yardstick(
    name: str,
    docs: list[dict],
    questions: list[dict],
    embedder: Embedder | None = None,
    depth: int = RANK_DEPTH,
) -> list[dict]:
    """Index `docs` with the named baseline and answer every question; predictions in order.

    `embedder` defaults to the local MiniLM; `depth` is how many hits rank the documents.
    """
    if name not in YARDSTICKS:
        raise ValueError(f"unknown yardstick {name!r}; choose one of {', '.join(YARDSTICKS)}")
    if name == "bm25_only":
        return _answer_all(questions, _bm25_searcher(docs, depth), SENTENCE_K)
    embedder = embedder or local_embedder()
    if name == "dense_only":
        return _answer_all(questions, _dense_searcher(docs, depth, embedder), SENTENCE_K)
    return _run_langchain_tutorial(docs, questions, embedder, depth)
