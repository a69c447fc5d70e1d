"""QA: the one object users hold; it composes the store, the embedder, retrieval and answers."""

from __future__ import annotations

import builtins
import logging
import numbers
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from qa.answer.conversation import Conversation
from qa.answer.extractive import abstention, extractive_answer
from qa.embed.base import Embedder
from qa.errors import InputError, PartialIngest, QAError
from qa.ingest.indexing import Indexer, Progress
from qa.ingest.readers import Failure, finish, iter_files, make_doc_id, read_file
from qa.retrieve.hybrid import Retrieval, Retriever
from qa.retrieve.lexical import LexicalIndex
from qa.retrieve.links import TitleIndex
from qa.settings import Settings
from qa.store import Health, Store
from qa.types import (
    Answer,
    Article,
    ArticleInfo,
    Evidence,
    Filters,
    IngestResult,
    Sentence,
    Summary,
    elapsed_ms,
)

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
MAX_K = 50  # most sentences one answer may cite


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
                from qa.embed.openai import OpenAIEmbedder

                self._embedder = OpenAIEmbedder(
                    self.settings.openai_embedding_model,
                    self.settings.openai_api_key,
                    self.settings.openai_base_url,
                )
            else:
                from qa.embed.local import local_embedder

                s = self.settings
                self._embedder = local_embedder(s.embed_batch_size, s.encoder, s.model_cache_dir)
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.lexical, self.settings, self.titles)

    # --- ingest ----------------------------------------------------------------------------
    @property
    def indexer(self) -> Indexer:
        return Indexer(self.store, lambda: self.embedder, self.settings)

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
        return self._index(articles, progress, results)

    def ingest_articles(
        self, articles: Iterable[Article], progress: Progress | None = None
    ) -> list[IngestResult]:
        """Ingest Article objects built in code (text is cleaned like a file's)."""
        prepared: list[tuple[str, Article]] = []
        failed: list[IngestResult] = []
        for a in articles:
            try:
                prepared.append(("<api>", finish(a.model_copy())))
            except InputError as exc:
                failed.append(
                    IngestResult(path="<api>", doc_id=a.doc_id, status="failed", reason=str(exc))
                )
        return self._index(prepared, progress, failed)

    def _index(
        self, articles: list[tuple[str, Article]], progress: Progress | None, earlier: list[IngestResult]
    ) -> list[IngestResult]:
        """The results of `earlier` (inputs refused while reading) and of indexing `articles`;
        a store failure (PartialIngest) carries both, up to the failure."""
        try:
            return earlier + with_warnings(self.indexer.run(articles, progress), articles)
        except PartialIngest as exc:
            exc.results = earlier + with_warnings(exc.results, articles)
            raise

    def ingest_text(
        self,
        text: str,
        *,
        title: str = "",
        source: str = "",
        published_at: date | None = None,
        doc_id: str | None = None,
    ) -> list[IngestResult]:
        """Ingest pasted text. Its id, unless given, comes from its title, else from its text
        (so pasting the same text twice says `unchanged`)."""
        text = (text or "").strip()
        if not text:
            raise InputError("Paste the article's text first.")
        title = (title or "").strip()
        if doc_id is None:
            pasted = "pasted-" + uuid.uuid5(uuid.NAMESPACE_URL, text).hex[:12]
            doc_id = make_doc_id(title) if title else pasted
        article = Article(
            doc_id=doc_id,
            title=title,
            source=(source or "").strip(),
            published_at=published_at.isoformat() if published_at else None,
            text=text,
        )
        shown = title or "pasted text"
        return [r.model_copy(update={"path": shown}) for r in self.ingest_articles([article])]

    # --- reading ---------------------------------------------------------------------------
    def get(self, doc_id: str) -> Article:
        self.store.sync()
        return self.store.get_article(doc_id)

    def sentences(self, doc_id: str) -> list[Sentence]:
        self.store.sync()
        return self.store.get_sentences(doc_id)[0]

    def delete(self, doc_id: str) -> None:
        """Remove an article and all its sentences and chunks."""
        with self.store.write_lock():
            self.store.refresh()
            self.store.delete_article(doc_id)

    def check(self, repair: bool = False) -> tuple[Health, int]:
        """Read every record and report what is inconsistent, with how many leftover records
        were removed. `repair` first rebuilds the vector indexes of an embedded store from
        Chroma's log and deletes what interrupted writes left behind."""
        self.store.sync()
        removed = 0
        if repair:
            self.store.rebuild_index()
            with self.store.write_lock():  # also finishes the cleanup of any interrupted write
                removed = self.store.repair()
        return self.store.check(), removed

    def describe(self, *, public: bool = False) -> dict[str, str]:
        """What this QA runs on, for a face to show: embedder, chat model and store. `public`:
        for users of a server (the web app), without the server's folders or URLs."""
        s = self.settings
        llm = f"{s.llm_model} (LLM configured)" if s.llm_configured else "none (extractive answers)"
        try:
            embedder = self.embedder.name
        except QAError as exc:
            logger.warning("the embedder is unavailable: %s", " ".join(str(exc).split()))
            embedder = "unavailable (see the server log)" if public else f"unavailable: {exc.user_message()}"
        return {"embedder": embedder, "model": llm, "store": self.store.describe(public=public)}

    def close(self) -> None:
        """Release the store (an embedded Chroma keeps its files open until then)."""
        self.store.close()

    def __enter__(self) -> QA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        k = check_k(k)
        self.store.sync()  # what other processes committed since the last request
        filters = Filters(sources=list(sources) if sources else None, since=since, until=until)
        return self.retriever.retrieve(question, self.settings.k if k is None else k, filters)

    def context(self, question: str, **kwargs: Any) -> list[Evidence]:
        """The numbered evidence a chat model would be shown for `question` (retrieval's chosen
        sentences, then the next candidates, packed within the token budget): the model can only
        cite what is in it. Takes `retrieve`'s filters."""
        from qa.answer.chain import context_budget, pack

        r = self.retrieve(question, **kwargs)
        budget = context_budget(self.settings, "answer", question=question)
        return list(pack(r.llm_context(), budget).numbered.values())

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
            from qa.answer.provider import chat_model

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
            from qa.answer.chain import llm_answer, llm_answer_stream

            context = r.llm_context()
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
                             "total": elapsed_ms(t0)}
        yield answer

    def condense(self, conversation: Conversation, question: str, mode: str | None = None) -> str:
        """A follow-up as a standalone question: by the model in LLM mode, by the documented
        heuristic of qa.answer.conversation offline."""
        model = self.llm() if self._mode(mode) == "llm" else None
        return conversation.standalone(question, model, self.settings)

    def chat(self, conversation: Conversation, question: str, **kwargs: Any) -> Answer:
        """Answer a follow-up in a conversation and record the turn (with its own citations)."""
        return final_answer(self.chat_stream(conversation, question, **kwargs))

    def chat_stream(
        self, conversation: Conversation, question: str, *, standalone: str | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        """`ask_stream` for a conversation turn; the final Answer carries `standalone_question`.

        `standalone`: the question already condensed by `condense` (a face that shows it before
        the answer streams passes it, so the model is not asked twice)."""
        if standalone is None:
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
        from qa.summarize.extractive import Summarizer

        self.store.sync()
        summarizer = Summarizer(self.store, lambda: self.embedder, self.retrieve, self.settings)
        extractive = summarizer.summarize(list(doc_ids or []), query=query, max_sentences=max_sentences)
        if self._mode(mode) == "extractive":
            return extractive
        from qa.summarize.llm import llm_summarize

        by_article = [summarizer.evidence(d) for d in extractive.doc_ids]
        return llm_summarize(by_article, settings=self.settings, model=self.llm(),
                             embedder=self.embedder, query=query,
                             fallback=lambda: extractive)

    # Last in the class body so that `list` still names the builtin in the annotations above.
    def list(
        self,
        *,
        query: str | None = None,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> builtins.list[ArticleInfo]:
        """The stored articles, without their text, in doc id order; `query` keeps those whose
        title, source or id contains it (any case), the others narrow by source and date."""
        self.store.sync()
        filters = Filters(sources=list(sources) if sources else None, since=since, until=until)
        return self.store.list_articles(query, filters)


def with_warnings(
    results: list[IngestResult], articles: Iterable[tuple[str, Article]]
) -> list[IngestResult]:
    """The indexer's results, each with the warnings its article met while it was read (for a
    doc id given twice in one place, the later article's, as the indexer keeps the later one)."""
    notes = {(path, a.doc_id): a.warnings for path, a in articles}
    for r in results:
        r.warnings = [*r.warnings, *notes.get((r.path, r.doc_id or ""), [])]
    return results


def final_answer(pieces: Iterable[str | Answer]) -> Answer:
    """Run a stream of text pieces to its end and return the Answer it closes with."""
    final: Answer | None = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    if final is None:
        raise QAError("The answer stream ended without an answer.")
    return final


def check_k(k: object) -> int | None:
    """`k` (sentences cited) as given, or None for the default; InputError unless it is a whole
    number from 1 to MAX_K (0 is not "the default", and -1 is not "all")."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= int(k) <= MAX_K:
        raise InputError(f"k (sentences cited) must be a whole number from 1 to {MAX_K}, not {k!r}.")
    return int(k)


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
