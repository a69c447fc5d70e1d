"""Cited summaries of one or several articles: every summary sentence is a stored sentence."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from qa.answer import to_citation
from qa.errors import InputError, NotFoundError
from qa.summary_select import select_sentences
from qa.types import Evidence, Summary

if TYPE_CHECKING:
    from qa.service import QA

MAX_QUERY_ARTICLES = 5  # a query summary covers at most this many of the articles it finds


def summarize(
    qa: QA, doc_ids: list[str], *, query: str | None = None, max_sentences: int | None = None
) -> Summary:
    """Extractive summary of `doc_ids`, or of the articles `query` finds when no ids are given.

    Sentences are picked by qa.summary_select (lead prior, centrality, no near-duplicates, length
    adapting to the articles) and cited at their stored spans.
    """
    t0 = time.perf_counter()
    if not doc_ids:
        if not query:
            raise InputError("Give article ids or a query to summarize.")
        found = qa.retrieve(query)
        if found.confidence < qa.settings.abstain_threshold:
            raise NotFoundError(f"No article matches the query {query!r}.")
        doc_ids = found.retrieved_doc_ids[:MAX_QUERY_ARTICLES]
    catalog = qa.store.catalog().articles
    missing = [d for d in doc_ids if d not in catalog]
    if missing:
        raise NotFoundError(f"No article with id {', '.join(map(repr, missing))}.")
    doc_ids = list(dict.fromkeys(doc_ids))

    evidence: list[Evidence] = []
    doc_index: list[int] = []
    position: list[int] = []
    for d, doc_id in enumerate(doc_ids):
        meta = catalog[doc_id]
        for s in qa.sentences(doc_id):
            evidence.append(Evidence(sentence=s, title=meta.title, source=meta.source,
                                     published_at=meta.published_at))
            doc_index.append(d)
            position.append(s.index)
    texts = [e.sentence.text for e in evidence]
    # Plain (not contextual) sentence vectors: sentences encoded in one chunk come out too
    # alike for the near-duplicate test (measured in eval/summary_dev.py).
    vectors = qa.embedder.embed_texts(texts)
    chosen = select_sentences(texts, vectors, doc_index, position, max_sentences=max_sentences)
    citations = [to_citation(n, evidence[i]) for n, i in enumerate(chosen, start=1)]
    return Summary(
        doc_ids=doc_ids,
        summary=" ".join(f"{c.text} [{c.n}]" for c in citations),
        citations=citations,
        sentences=[c.text for c in citations],
        query=query,
        timings_ms={"total": round((time.perf_counter() - t0) * 1000, 2)},
    )
