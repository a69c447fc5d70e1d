"""QA: the one object users hold; it composes the store, the embedder, retrieval and answers."""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path

import numpy as np

from qa.answer import abstention, extractive_answer
from qa.chunking import TITLE_TOKENS, chunk, sentences_of
from qa.embeddings import Embedder, local_embedder
from qa.errors import InputError
from qa.ingest import Failure, iter_files, read_file
from qa.retrieval import Filters, LexicalIndex, Retrieval, Retriever
from qa.settings import Settings
from qa.store import Store
from qa.types import Answer, Article, ArticleInfo, Chunk, IngestResult, Sentence, Summary

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
Progress = Callable[[int, int, str], None]  # (done, total, current name)


class QA:
    """Cited question answering and summaries over a library of news articles.

    >>> qa = QA()                       # settings from QA_* environment variables
    >>> qa.ingest(["seeds/"])           # doctest: +SKIP
    >>> qa.ask("Why is Armenia drifting from Moscow?").citations[0].text  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: Store | None = None,
        chat_model: object | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self.store = store or Store(
            self.settings.home,
            self.settings.collection,
            url=self.settings.chroma_url,
            token=self.settings.chroma_token,
        )
        cache = self.settings.home / "cache" / f"bm25-{self.settings.collection}"
        self.lexical = LexicalIndex(cache)
        self.chat_model = chat_model

    @property
    def embedder(self) -> Embedder:
        # Loading the model costs seconds; `list` and `delete` never need it.
        if self._embedder is None:
            if self.settings.embedder == "openai":
                from qa.embeddings import OpenAIEmbedder

                self._embedder = OpenAIEmbedder(
                    self.settings.openai_embedding_model,
                    self.settings.openai_api_key,
                    self.settings.openai_base_url,
                )
            else:
                self._embedder = local_embedder(self.settings.embed_batch_size)
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.lexical, self.settings)

    # --- ingest ----------------------------------------------------------------------------
    def ingest(
        self, paths: Sequence[str | Path], progress: Progress | None = None
    ) -> list[IngestResult]:
        """Ingest files and folders (txt, md, html, jsonl). One result per article or failure."""
        results: list[IngestResult] = []
        articles: list[tuple[str, Article]] = []
        for item in iter_files([Path(p) for p in paths]):
            if isinstance(item, Failure):
                results.append(IngestResult(path=item.path, status="failed", reason=item.reason))
                continue
            for got in read_file(item, self.settings.max_file_bytes):
                if isinstance(got, Failure):
                    results.append(IngestResult(path=got.path, status="failed", reason=got.reason))
                else:
                    articles.append((str(item), got))
        results.extend(self._ingest_articles(articles, progress))
        return results

    def ingest_articles(
        self, articles: Iterable[Article], progress: Progress | None = None
    ) -> list[IngestResult]:
        """Ingest Article objects built in code (text is cleaned like a file's)."""
        from qa.ingest import finish

        prepared: list[tuple[str, Article]] = []
        failed: list[IngestResult] = []
        for a in articles:
            try:
                prepared.append(("<api>", finish(a.model_copy())))
            except InputError as exc:
                failed.append(
                    IngestResult(path="<api>", doc_id=a.doc_id, status="failed", reason=str(exc))
                )
        return failed + self._ingest_articles(prepared, progress)

    def _ingest_articles(
        self, articles: list[tuple[str, Article]], progress: Progress | None
    ) -> list[IngestResult]:
        results: list[IngestResult] = []
        if not articles:
            return results
        # Later duplicates of a doc_id in one call win, as if ingested one after the other.
        last: dict[str, int] = {a.doc_id: i for i, (_, a) in enumerate(articles)}
        with self.store.write_lock():
            catalog = self.store.refresh().articles
            todo: list[tuple[str, Article]] = []
            for i, (path, a) in enumerate(articles):
                if last[a.doc_id] != i:
                    continue
                old = catalog.get(a.doc_id)
                if old is not None and old.content_hash == a.content_hash:
                    results.append(
                        IngestResult(
                            path=path,
                            doc_id=a.doc_id,
                            status="unchanged",
                            n_sentences=old.n_sentences,
                        )
                    )
                else:
                    todo.append((path, a))
            done = 0
            total = len(todo)
            # Articles are embedded in groups so that the encoder sees full batches.
            group: list[tuple[str, Article, list[Sentence], list[Chunk], list[int]]] = []
            group_chunks = 0
            for path, a in todo:
                try:
                    sents, chunks, chunk_of = self._split(a)
                except InputError as exc:
                    results.append(
                        IngestResult(path=path, doc_id=a.doc_id, status="failed", reason=str(exc))
                    )
                    continue
                group.append((path, a, sents, chunks, chunk_of))
                group_chunks += len(chunks)
                if group_chunks >= 4 * self.settings.embed_batch_size:
                    results.extend(self._embed_and_write(group, catalog))
                    done += len(group)
                    if progress:
                        progress(done, total, a.doc_id)
                    group, group_chunks = [], 0
            if group:
                results.extend(self._embed_and_write(group, catalog))
                done += len(group)
                if progress:
                    progress(done, total, group[-1][1].doc_id)
        return results

    def _split(self, a: Article) -> tuple[list[Sentence], list[Chunk], list[int]]:
        e = self.embedder
        offsets = getattr(e, "token_offsets", None)
        title_tokens = min(TITLE_TOKENS, e.count_tokens(a.title)) + 1 if a.title else 0
        budget = min(self.settings.chunk_max_tokens, e.max_tokens - title_tokens)
        sents, counts = sentences_of(a, e.count_tokens, offsets, budget)
        if not sents:
            raise InputError("no sentences found in the text")
        a.n_sentences = len(sents)
        chunks, chunk_of = chunk(a.doc_id, a.text, sents, counts, budget)
        return sents, chunks, chunk_of

    def _embed_and_write(
        self,
        group: list[tuple[str, Article, list[Sentence], list[Chunk], list[int]]],
        catalog: dict,
    ) -> list[IngestResult]:
        inputs: list[str] = []
        spans: list[list[tuple[int, int]]] = []
        for _, a, sents, chunks, _ in group:
            prefix = _title_prefix(a.title, self.embedder)
            for c in chunks:
                base = sents[c.first_sentence].start
                inputs.append(prefix + c.text)
                spans.append(
                    [
                        (len(prefix) + s.start - base, len(prefix) + s.end - base)
                        for s in sents[c.first_sentence : c.last_sentence + 1]
                    ]
                )
        chunk_vecs, sent_vecs = self.embedder.embed_chunks(inputs, spans)
        results: list[IngestResult] = []
        at = 0
        for path, a, sents, chunks, chunk_of in group:
            cv = chunk_vecs[at : at + len(chunks)]
            sv = np.concatenate(sent_vecs[at : at + len(chunks)], axis=0)
            at += len(chunks)
            existed = a.doc_id in catalog
            self.store.write_article(a, a.content_hash[:16], sents, sv, chunks, cv, chunk_of)
            results.append(
                IngestResult(
                    path=path,
                    doc_id=a.doc_id,
                    status="replaced" if existed else "added",
                    n_sentences=len(sents),
                )
            )
        return results

    # --- reading ---------------------------------------------------------------------------
    def get(self, doc_id: str) -> Article:
        return self.store.get_article(doc_id)

    def sentences(self, doc_id: str) -> list[Sentence]:
        return self.store.get_sentences(doc_id)[0]

    def delete(self, doc_id: str) -> None:
        """Remove an article and all its sentences and chunks."""
        with self.store.write_lock():
            self.store.refresh()
            self.store.delete_article(doc_id)

    # --- answers ---------------------------------------------------------------------------
    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Retrieval:
        question = check_question(question)
        filters = Filters(sources=list(sources) if sources else None, since=since, until=until)
        return self.retriever.retrieve(question, k or self.settings.k, filters)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Answer:
        """Answer with cited sentences, or abstain when the articles do not answer."""
        t0 = time.perf_counter()
        r = self.retrieve(question, k=k, sources=sources, since=since, until=until)
        if not r.evidence or r.confidence < self.settings.abstain_threshold:
            answer = abstention(question, r.related or r.evidence)
        else:
            answer = extractive_answer(question, r.evidence)
        answer.retrieved_doc_ids = r.retrieved_doc_ids
        answer.confidence = r.confidence
        answer.timings_ms = {**r.timings_ms, "total": round((time.perf_counter() - t0) * 1000, 2)}
        return answer

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is produced, then the final Answer.

        Offline answers are composed at once, so the pieces are its cited sentences; the final
        Answer is the one `ask` returns.
        """
        answer = self.ask(question, k=k, sources=sources, since=since, until=until)
        if answer.abstained:
            yield answer.answer
        else:
            for i, c in enumerate(answer.citations):
                yield ("" if i == 0 else " ") + f"{c.text} [{c.n}]"
        yield answer

    def summarize(
        self,
        doc_ids: Sequence[str] | None = None,
        *,
        query: str | None = None,
        max_sentences: int | None = None,
    ) -> Summary:
        """A cited summary of some articles, or of the articles a query finds."""
        from qa.summarize import summarize

        return summarize(self, list(doc_ids or []), query=query, max_sentences=max_sentences)

    # Last in the class body so that `list` still names the builtin in the annotations above.
    def list(self) -> builtins.list[ArticleInfo]:
        """The stored articles, without their text."""
        return self.store.list_articles()


def check_question(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise InputError("The question is empty.")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}."
        )
    if not any(ch.isalnum() for ch in q):
        raise InputError("The question has no words in it.")
    return q


def _title_prefix(title: str, embedder: Embedder) -> str:
    if not title:
        return ""
    offsets = getattr(embedder, "token_offsets", None)
    if offsets is not None:
        spans = offsets(title)
        if len(spans) > TITLE_TOKENS:
            title = title[: spans[TITLE_TOKENS - 1][1]]
    return title + "\n"
