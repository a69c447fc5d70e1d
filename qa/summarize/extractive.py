"""Cited summaries of one or several articles: every summary sentence is a stored sentence."""

from __future__ import annotations

import time
from collections.abc import Callable

from qa.embed.base import Embedder
from qa.errors import InputError, NotFoundError
from qa.retrieve.hybrid import Retrieval
from qa.settings import Settings
from qa.store import Store
from qa.summarize.select import select_sentences
from qa.types import Evidence, Summary, doc_ids_of, elapsed_ms

MAX_QUERY_ARTICLES = 5  # a query summary covers at most this many of the articles it finds


class Summarizer:
    """Extractive summaries over a store: chosen stored sentences, cited at their spans.

    `embedder` is called when vectors are needed; `retrieve(query)` finds the articles of a
    query summary (QA.retrieve: a Retrieval with `confidence` and `evidence`).
    """

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder],
        retrieve: Callable[[str], Retrieval],
        settings: Settings,
        one_per_story: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self._retrieve = retrieve
        self.settings = settings
        # Keeps the first article of each story (qa.stories): a summary never repeats a story.
        self._one_per_story = one_per_story or (lambda ids: ids)

    def evidence(self, doc_id: str) -> list[Evidence]:
        """Every sentence of an article, with the article's title, source and date."""
        meta = self.store.catalog().articles.get(doc_id)
        if meta is None:
            raise NotFoundError(f"No article with id {doc_id!r}.")
        sentences, _ = self.store.get_sentences(doc_id)
        return [Evidence(sentence=s, title=meta.title, source=meta.source,
                         published_at=meta.published_at) for s in sentences]

    def summarize(
        self, doc_ids: list[str], *, query: str | None = None, max_sentences: int | None = None
    ) -> Summary:
        """Extractive summary of `doc_ids`, or of the articles `query` finds when no ids are given.

        Sentences are picked by qa.summarize.select (a sentence model fitted on CNN/DailyMail
        tune items, a novelty penalty, no near-duplicates, a word budget adapting to the
        articles, no below-average sentence beyond the second) and cited at their stored spans.
        """
        t0 = time.perf_counter()
        if not doc_ids:
            if not query:
                raise InputError("Give article ids or a query to summarize.")
            found = self._retrieve(query)
            if found.confidence < self.settings.abstain_threshold:
                raise NotFoundError(f"No article matches the query {query!r}.")
            # The articles of its evidence: those about it, not every article a candidate
            # sentence came from (an unrelated one, in a small library).
            doc_ids = self._one_per_story(doc_ids_of(found.evidence))[:MAX_QUERY_ARTICLES]
        catalog = self.store.catalog().articles
        missing = [d for d in doc_ids if d not in catalog]
        if missing:
            raise NotFoundError(f"No article with id {', '.join(map(repr, missing))}.")
        doc_ids = self._one_per_story(list(dict.fromkeys(doc_ids)))

        evidence: list[Evidence] = []
        doc_index: list[int] = []
        position: list[int] = []
        for d, doc_id in enumerate(doc_ids):
            for e in self.evidence(doc_id):
                evidence.append(e)
                doc_index.append(d)
                position.append(e.sentence.index)
        texts = [e.sentence.text for e in evidence]
        # Plain (not contextual) sentence vectors: sentences encoded in one chunk come out too
        # alike for the near-duplicate test (measured in eval/summary_dev.py).
        vectors = self._embedder().embed_texts(texts)
        chosen = select_sentences(texts, vectors, doc_index, position, max_sentences=max_sentences)
        citations = [evidence[i].cite(n) for n, i in enumerate(chosen, start=1)]
        return Summary(
            doc_ids=doc_ids,
            summary=" ".join(f"{c.text} [{c.n}]" for c in citations),
            citations=citations,
            sentences=[c.text for c in citations],
            query=query,
            timings_ms={"total": elapsed_ms(t0)},
        )
