"""QA: the one object users hold; it composes the store, the embedder, retrieval and answers."""

from __future__ import annotations

import builtins
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa.answer import abstention, extractive_answer
from qa.chunking import TITLE_TOKENS, chunk, sentences_of
from qa.conversation import Conversation
from qa.embeddings import Embedder, Encode, Encoded, LocalEmbedder, Span, local_embedder
from qa.errors import InputError, QAError
from qa.ingest import Failure, iter_files, read_file
from qa.links import TitleIndex
from qa.retrieval import Filters, LexicalIndex, Retrieval, Retriever
from qa.settings import Settings
from qa.store import ArticleWrite, Store
from qa.types import (
    Answer,
    Article,
    ArticleInfo,
    Chunk,
    Evidence,
    IngestResult,
    Sentence,
    Summary,
)

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
Progress = Callable[[int, int, str], None]  # (done, total, current name)
_Split = tuple[str, Article, list[Sentence], list[Chunk], list[int]]  # path, article, its parts
# Text an ingest must hold before the local encoder gets processes of its own (qa.encoder_process):
# about 4 s of encoding, against about a second to start them and load the model.
ENCODER_PROCESS_CHARS = 200_000
ENCODE_AHEAD = 2  # groups handed to the encoder beyond the one being written


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
        self.store = store or Store.from_settings(self.settings)
        cache = self.settings.home / "cache" / f"bm25-{self.settings.collection}"
        self.lexical = LexicalIndex(cache)
        self.titles = TitleIndex()
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
                self._embedder = local_embedder(self.settings.embed_batch_size, self.settings.encoder)
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.lexical, self.settings, self.titles)

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
            total = len(todo)
            done = 0
            # Groups wait at the encoder while the oldest is written, so that the encoder never
            # waits for a write; at most ENCODE_AHEAD + 1 groups of vectors are held.
            queue: deque[tuple[list[_Split], list[IngestResult], Future[Encoded] | None]] = deque()

            def write_oldest() -> None:
                nonlocal done
                group, failed, encoding = queue.popleft()
                results.extend(failed)  # as if reported when met, before their group
                if encoding is None:
                    return
                writes, written = self._writes(group, encoding.result(), catalog)
                # One batched write per group: each Chroma upsert costs a commit besides its
                # records; the article records, the commit points, still go last.
                self.store.write_articles(writes)
                results.extend(written)
                done += len(written)
                if progress:
                    progress(done, total, written[-1].doc_id or "")

            with self._encoder(todo) as encode:
                for group, failed in self._split_groups(todo):
                    queue.append((group, failed, encode(*self._inputs(group)) if group else None))
                    if len(queue) > ENCODE_AHEAD:
                        write_oldest()
                while queue:
                    write_oldest()
        return results

    def _split_groups(
        self, todo: list[tuple[str, Article]]
    ) -> Iterator[tuple[list[_Split], list[IngestResult]]]:
        """The articles split, in groups of about four encoder batches of chunks (so that the
        encoder sees full batches), each with the failures met while it was gathered."""
        group: list[_Split] = []
        failed: list[IngestResult] = []
        n_chunks = 0
        for path, a in todo:
            try:
                sents, chunks, chunk_of = self._split(a)
            except InputError as exc:
                failed.append(
                    IngestResult(path=path, doc_id=a.doc_id, status="failed", reason=str(exc))
                )
                continue
            group.append((path, a, sents, chunks, chunk_of))
            n_chunks += len(chunks)
            if n_chunks >= 4 * self.settings.embed_batch_size:
                yield group, failed
                group, failed, n_chunks = [], [], 0
        if group or failed:
            yield group, failed

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

    @contextlib.contextmanager
    def _encoder(self, todo: list[tuple[str, Article]]) -> Iterator[Encode]:
        """Where an ingest's chunks are encoded while it splits and writes: processes of their
        own for the local ONNX model when there is enough text to repay starting them (about a
        second), else a thread (enough for a remote model, which waits on the network)."""
        e = self.embedder
        size = sum(len(a.text) for _, a in todo)
        if isinstance(e, LocalEmbedder) and e.encoder != "torch" and size >= ENCODER_PROCESS_CHARS:
            from qa.encoder_process import encoder_processes

            with encoder_processes(e) as submit:
                yield submit
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-encode") as pool:
            yield lambda chunks, spans: pool.submit(e.embed_chunks, chunks, spans)

    def _inputs(self, group: list[_Split]) -> tuple[list[str], list[list[Span]]]:
        """What the encoder gets for a group: each chunk with its article's title before it, and
        the spans of the chunk's sentences in that text."""
        inputs: list[str] = []
        spans: list[list[Span]] = []
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
        return inputs, spans

    def _writes(
        self, group: list[_Split], encoded: Encoded, catalog: dict
    ) -> tuple[list[ArticleWrite], list[IngestResult]]:
        """A group's article versions to write, with their vectors, and the result of each."""
        chunk_vecs, sent_vecs = encoded
        writes: list[ArticleWrite] = []
        results: list[IngestResult] = []
        at = 0
        for path, a, sents, chunks, chunk_of in group:
            cv = chunk_vecs[at : at + len(chunks)]
            sv = np.concatenate(sent_vecs[at : at + len(chunks)], axis=0)
            at += len(chunks)
            writes.append(ArticleWrite(a, a.content_hash[:16], sents, sv, chunks, cv, chunk_of))
            results.append(
                IngestResult(
                    path=path,
                    doc_id=a.doc_id,
                    status="replaced" if a.doc_id in catalog else "added",
                    n_sentences=len(sents),
                )
            )
        return writes, results

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

    def _mode(self, mode: str | None) -> Literal["extractive", "llm"]:
        if mode is None:
            return self.settings.resolved_mode()
        if mode not in ("extractive", "llm", "auto"):
            raise InputError(f"Unknown mode {mode!r}: use extractive, llm or auto.")
        if mode == "auto":
            return "llm" if self.settings.llm_configured else "extractive"
        return "llm" if mode == "llm" else "extractive"

    def llm(self) -> Any:
        """The chat model: the injected one, else one built from settings (ConfigError if none)."""
        if self.chat_model is None:
            from qa.llm import chat_model

            self.chat_model = chat_model(self.settings)
        return self.chat_model

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
        mode: str | None = None,
    ) -> Answer:
        """Answer with cited sentences, or abstain when the articles do not answer.

        mode: "extractive" (the evidence sentences themselves), "llm" (a chat model writes the
        answer and every citation is checked), or "auto"/None (the configured default).
        """
        return final_answer(self.ask_stream(question, k=k, sources=sources, since=since,
                                            until=until, mode=mode, _stream=False))

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
        mode: str | None = None,
        _stream: bool = True,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is produced, then the final Answer, last.

        In LLM mode the pieces are the model's tokens (with its own [S#] markers; the final
        Answer has them checked and renumbered); offline, the cited sentences one by one. The
        final Answer equals what `ask` returns for the same question.
        """
        t0 = time.perf_counter()
        resolved = self._mode(mode)
        r = self.retrieve(question, k=k, sources=sources, since=since, until=until)
        # A question the library cannot answer is not sent to the model at all: the same
        # calibrated test decides in both modes, and it costs no tokens.
        if not r.evidence or r.confidence < self.settings.abstain_threshold:
            answer = abstention(question, r.related or r.evidence, resolved)
            if _stream:
                yield answer.answer
        elif resolved == "llm":
            from qa.chain import llm_answer, llm_answer_stream

            context = _context(r)
            kwargs = dict(settings=self.settings, model=self.llm(),
                          embedder=self.embedder,
                          fallback=lambda: extractive_answer(question, r.evidence))
            if _stream:
                got: Answer | None = None
                for piece in llm_answer_stream(question, context, **kwargs):
                    if isinstance(piece, Answer):
                        got = piece
                    else:
                        yield piece
                assert got is not None
                answer = got
            else:
                answer = llm_answer(question, context, **kwargs)
            if answer.abstained and not answer.related:
                answer.related = abstention(question, r.evidence).related
        else:
            answer = extractive_answer(question, r.evidence)
            if _stream:
                for i, c in enumerate(answer.citations):
                    yield ("" if i == 0 else " ") + f"{c.text} [{c.n}]"
        answer.retrieved_doc_ids = r.retrieved_doc_ids
        if resolved == "extractive" or answer.abstained:
            answer.confidence = r.confidence
        answer.timings_ms = {**r.timings_ms, **answer.timings_ms,
                             "total": round((time.perf_counter() - t0) * 1000, 2)}
        yield answer

    def condense(self, conversation: Conversation, question: str, mode: str | None = None) -> str:
        """A follow-up as a standalone question: by the model in LLM mode, by the documented
        heuristic of qa.conversation offline."""
        model = self.llm() if self._mode(mode) == "llm" else None
        return conversation.standalone(question, model, self.settings)

    def chat(self, conversation: Conversation, question: str, **kwargs: Any) -> Answer:
        """Answer a follow-up in a conversation and record the turn (with its own citations)."""
        return final_answer(self.chat_stream(conversation, question, **kwargs))

    def chat_stream(
        self, conversation: Conversation, question: str, **kwargs: Any
    ) -> Iterator[str | Answer]:
        """`ask_stream` for a conversation turn; the final Answer carries `standalone_question`."""
        standalone = self.condense(conversation, question, kwargs.get("mode"))
        final: Answer | None = None
        for piece in self.ask_stream(standalone, **kwargs):
            if isinstance(piece, Answer):
                final = piece
            else:
                yield piece
        assert final is not None
        yield conversation.add(question, standalone, final).answer

    def summarize(
        self,
        doc_ids: Sequence[str] | None = None,
        *,
        query: str | None = None,
        max_sentences: int | None = None,
        mode: str | None = None,
    ) -> Summary:
        """A cited summary of some articles, or of the articles a query finds.

        Offline: chosen stored sentences. LLM mode: map-reduce by the model over the articles'
        sentences, every summary sentence cited and checked; the offline summary is the fallback.
        """
        from qa.summarize import summarize

        ids = list(doc_ids or [])
        extractive = summarize(self, ids, query=query, max_sentences=max_sentences)
        if self._mode(mode) == "extractive":
            return extractive
        from qa.chain import llm_summarize

        by_article = [_as_evidence(self, d) for d in extractive.doc_ids]
        return llm_summarize(by_article, settings=self.settings, model=self.llm(),
                             embedder=self.embedder, query=query,
                             fallback=lambda: extractive)

    # Last in the class body so that `list` still names the builtin in the annotations above.
    def list(self) -> builtins.list[ArticleInfo]:
        """The stored articles, without their text."""
        return self.store.list_articles()


def final_answer(pieces: Iterable[str | Answer]) -> Answer:
    """Run a stream of text pieces to its end and return the Answer it closes with."""
    final: Answer | None = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    if final is None:
        raise QAError("The answer stream ended without an answer.")
    return final


def _context(r: Retrieval) -> list[Evidence]:
    """What the model sees: the chosen evidence first, then the next candidates (the chain packs
    them within the token budget), so it can use what the offline selection left out."""
    seen = {e.sentence.sentence_id for e in r.evidence}
    return list(r.evidence) + [e for e in r.candidates if e.sentence.sentence_id not in seen][:15]


def _as_evidence(qa: QA, doc_id: str) -> list[Evidence]:
    meta = qa.store.catalog().articles[doc_id]
    return [Evidence(sentence=s, title=meta.title, source=meta.source,
                     published_at=meta.published_at) for s in qa.sentences(doc_id)]


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
