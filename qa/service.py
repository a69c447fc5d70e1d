"""QA: the one object users hold; it composes the store, the embedder, retrieval and answers."""

from __future__ import annotations

import builtins
import logging
import numbers
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from qa.answer.conversation import Conversation
from qa.answer.extractive import abstention, extractive_answer, extractive_pieces
from qa.embed.base import Embedder
from qa.errors import InputError, PartialIngest, QAError
from qa.ingest.indexing import Indexer, Progress
from qa.ingest.readers import Failure, finish, iter_files, make_doc_id, read_file
from qa.retrieve.hybrid import Retrieval, Retriever
from qa.retrieve.lexical import LexicalIndex
from qa.retrieve.links import TitleIndex
from qa.settings import Settings
from qa.store import Health, Store
from qa.stories.grouping import StoryIndex, StoryParams, story_file
from qa.types import (
    Answer,
    Article,
    ArticleInfo,
    Comparison,
    Evidence,
    Filters,
    IngestResult,
    Sentence,
    Story,
    Summary,
    Timeline,
    doc_ids_of,
    elapsed_ms,
)

if TYPE_CHECKING:  # intake of URLs and feeds: imported where used (httpx, feedparser)
    from collections.abc import Mapping

    from qa.ingest.feeds import FeedInfo, FeedRegistry, FeedReport
    from qa.ingest.fetch import Fetcher

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
MAX_K = 50  # most sentences one answer may cite
MAX_COMPARE = 5  # articles a query's comparison covers


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
        self.lexical = LexicalIndex.for_store(self.settings.home / "cache", self.store)
        self.titles = TitleIndex()
        self.chat_model = chat_model
        self._stories: StoryIndex | None = None

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
        return Indexer(self.store, lambda: self.embedder, self.settings, self.story_index)

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

    def ingest_urls(
        self,
        urls: Sequence[str],
        progress: Progress | None = None,
        *,
        fallback_dates: Mapping[str, str | None] | None = None,
        fetcher: Fetcher | None = None,
    ) -> list[IngestResult]:
        """Fetch web pages (http/https, see qa.ingest.fetch for the limits and the refusals)
        and ingest their articles: one result per URL, its `path` the URL as given. The doc id
        comes from the page's canonical URL, so fetching it again says `unchanged`, or
        `replaced` when its text was corrected. `fallback_dates`: URL -> ISO date kept when the
        page names none (its feed item's date)."""
        from qa.ingest.fetch import Fetcher, fetch_articles

        urls = [u.strip() for u in urls if u and u.strip()]
        own = fetcher is None
        f = fetcher or Fetcher(self.settings)

        def fetching(i: int, url: str) -> None:
            if progress:
                progress(i, len(urls), url)

        try:
            articles, failed = fetch_articles(f, dict.fromkeys(urls), fallback_dates, fetching)
        finally:
            if own:
                f.close()
        # Two URLs of one article (a tracking parameter, a redirect to the same canonical page):
        # stored once, the other URLs told so.
        first: dict[str, str] = {}
        kept: builtins.list[tuple[str, Article]] = []
        for url, a in articles:
            if a.doc_id in first:
                failed.append(IngestResult(path=url, doc_id=a.doc_id, status="unchanged",
                                           reason=f"the same article as {first[a.doc_id]}"))
            else:
                first[a.doc_id] = url
                kept.append((url, a))
        results = self._index(kept, progress, failed)
        by_url = {r.path: r for r in results}
        return [by_url[u] for u in dict.fromkeys(urls) if u in by_url]

    # --- feeds (qa.ingest.feeds) ----------------------------------------------------------
    @property
    def feeds(self) -> FeedRegistry:
        """The feeds registered in this QA_HOME."""
        from qa.ingest.feeds import FeedRegistry

        return FeedRegistry(self.settings.home / "feeds.sqlite3")

    def feeds_add(self, url: str, name: str | None = None) -> FeedInfo:
        """Register an RSS or Atom feed (its items are fetched by `feeds_refresh`)."""
        return self.feeds.add(url, name)

    def feeds_list(self) -> builtins.list[FeedInfo]:
        return self.feeds.all()

    def feeds_remove(self, url_or_name: str) -> FeedInfo:
        """Forget a feed; the articles it brought stay in the library."""
        return self.feeds.remove(url_or_name)

    def feeds_refresh(
        self, name: str | None = None, progress: Progress | None = None
    ) -> builtins.list[FeedReport]:
        """Fetch every feed (or the one named or with this URL) and ingest its new items."""
        from qa.ingest.feeds import refresh_feeds

        registry = self.feeds
        chosen = [registry.find(name)] if name else registry.all()
        return refresh_feeds(self, registry, chosen, progress=progress)

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
            try:
                self.story_index.remove([doc_id])
            except (OSError, sqlite3.Error) as exc:  # a cache: the next ingest's reconcile mends it
                logger.warning("could not update the story file: %s", exc)

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
        """Release the store (an embedded Chroma keeps its files open until then) and the
        lexical index's SQLite file."""
        self.store.close()
        self.lexical.close()
        if self._stories is not None:
            self._stories.close()

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
        as_of: date | None = None,
    ) -> Retrieval:
        """Evidence for `question`. Its time phrases ("latest", "last week", "in March 2024")
        are read relative to `as_of` (today when None; for a question about time, an explicit
        as-of date also leaves out what was published after it) into a date window and a
        recency preference; explicit
        `since`/`until` win over a window read from the question."""
        from qa.retrieve.time import understand

        question = check_question(question)
        k = check_k(k)
        self.store.sync()  # what other processes committed since the last request
        tq = understand(question, as_of)
        windowed = False
        caller_dates = since is not None or until is not None
        if not caller_dates and tq.window and self._dated_within(tq.since, tq.until):
            since, until, windowed = tq.since, tq.until, True
        if as_of is not None and tq.temporal:
            # "The latest" as of a day: what was published by then.
            until = as_of if until is None else min(until, as_of)
        # The time phrases leave the search when they became a window or a recency preference;
        # a date that says when something happened ("the film released in 1995") stays in it.
        strip = self.settings.time_strip and bool(tq.recency or windowed or since or until)
        searched = tq.text if strip and tq.phrases else question
        # A window read from the question keeps the undated articles (their date is unknown, not
        # outside it); dates the caller gives are kept strictly.
        filters = Filters(sources=list(sources) if sources else None, since=since, until=until,
                          keep_undated=not caller_dates)
        r = self.retriever.retrieve(searched, self.settings.k if k is None else k, filters,
                                    recency=tq.recency, as_of=as_of)
        r.time = tq
        return r

    def _dated_within(self, since: date | None, until: date | None) -> bool:
        """Whether any stored article is dated inside the window. A date in a question may name
        when something happened rather than when it was reported ("the film released in 1995"):
        a window no article falls in is not applied, so such a question is not emptied."""
        window = Filters(since=since, until=until)
        return any(m.published_day is not None and window.allows(m.source, m.published_day)
                   for m in self.store.catalog().articles.values())

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
        as_of: date | None = None,
    ) -> Answer:
        """Answer with cited sentences, or abstain when the articles do not answer.

        mode: "extractive" (the evidence sentences themselves), "llm" (a chat model writes the
        answer and every citation is checked), or "auto"/None (the configured default).
        """
        return final_answer(self.ask_stream(question, k=k, sources=sources, since=since,
                                            until=until, mode=mode, _stream=False, as_of=as_of))

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
        as_of: date | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is produced, then the final Answer, last.

        In LLM mode the pieces are the model's tokens (with its own [S#] markers; the final
        Answer has them checked and renumbered); offline, the cited sentences one by one. The
        final Answer equals what `ask` returns for the same question.
        """
        t0 = time.perf_counter()
        resolved = self._mode(mode)
        # Questions that ask for something else than a sentence that answers them, in this order:
        # "How do outlets differ on X?" (qa.stories.compare), "Summarize the news about X"
        # (qa.summarize.request), "Did X report ... before Y reported ...?" (qa.answer.reports).
        routed = (
            self._compare_answer(question, resolved, sources=sources, since=since, until=until)
            or self._summary_answer(question, resolved, sources=sources, since=since, until=until,
                                    as_of=as_of)
            or (self.when_reported(question, as_of=as_of)
                if resolved == "extractive" and not (sources or since or until) else None)
        )
        if routed is not None:
            routed.timings_ms = {**routed.timings_ms, "total": elapsed_ms(t0)}
            if _stream:
                yield routed.answer
            yield routed
            return
        r = self.retrieve(question, k=k, sources=sources, since=since, until=until, as_of=as_of)
        r = self._one_copy(r)
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
            asked = _with_time(question, r)
            if _stream:
                got: Answer | None = None
                for piece in llm_answer_stream(asked, context, **kwargs):
                    if isinstance(piece, Answer):
                        got = piece
                    else:
                        yield piece
                assert got is not None
                answer = got
            else:
                answer = llm_answer(asked, context, **kwargs)
            answer.question = question
            if answer.abstained and not answer.related:
                answer.related = abstention(question, r.evidence).related
        else:
            answer = extractive_answer(question, r.evidence, by_date=_date_order(r))
            if _stream:
                yield from extractive_pieces(answer)
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
        from qa.stories.copies import one_per_story, with_copies
        from qa.summarize.extractive import Summarizer

        self.store.sync()
        stories = self.story_index
        stories.refresh()
        summarizer = Summarizer(self.store, lambda: self.embedder, self.retrieve, self.settings,
                                lambda ids: one_per_story(ids, stories))
        extractive = summarizer.summarize(list(doc_ids or []), query=query, max_sentences=max_sentences)
        extractive.citations = with_copies(extractive.citations, stories)
        if self._mode(mode) == "extractive":
            return extractive
        from qa.summarize.llm import llm_summarize

        by_article = [summarizer.evidence(d) for d in extractive.doc_ids]
        got = llm_summarize(by_article, settings=self.settings, model=self.llm(),
                            embedder=self.embedder, query=query,
                            fallback=lambda: extractive)
        got.citations = with_copies(got.citations, stories)
        return got

    # --- stories across outlets (qa.stories) ---------------------------------------------
    @property
    def story_index(self) -> StoryIndex:
        """Which articles are copies of one story (a file in QA_HOME, kept by ingest)."""
        if self._stories is None:
            s = self.settings
            self._stories = StoryIndex(
                story_file(s.home, s.collection),
                StoryParams(s.story_num_perm, s.story_shingle, s.story_threshold,
                            s.story_min_containment),
            )
        return self._stories

    def _one_copy(self, r: Retrieval) -> Retrieval:
        """Retrieval with the sentences copies of one story repeat cited once, each kept one
        listing the story's other copies."""
        from qa.stories.copies import one_copy

        index = self.story_index
        index.refresh()
        if not len(index):
            return r
        r.evidence = one_copy(r.evidence, index)
        r.related = one_copy(r.related, index)
        r.candidates = one_copy(r.candidates, index)
        return r

    def stories(self, *, rebuild: bool = False) -> builtins.list[Story]:
        """The library's stories, each with its articles (the first reported first); `rebuild`
        first brings the story file in line with the stored articles (recomputing from their
        texts whatever it lacks)."""
        self.store.sync()
        index = self.story_index
        if rebuild:
            with self.store.write_lock():
                catalog = self.store.refresh().articles
                index.reconcile({d: m.content_hash for d, m in catalog.items()}, self.store.get_article)
        index.refresh()
        stored = self.store.catalog().articles
        out = []
        for story_id, members in index.stories().items():
            copies = [m.copy() for m in members if m.doc_id in stored]
            if copies:
                out.append(Story(story_id=story_id, copies=copies))
        return out

    def timeline(
        self,
        query: str,
        *,
        since: date | None = None,
        until: date | None = None,
        as_of: date | None = None,
        limit: int = 20,
        sources: Sequence[str] | None = None,
    ) -> Timeline:
        """Dated events about `query` across the articles, in date order: each a cited
        sentence, one event reported by several outlets shown once with all of them
        (qa.answer.timeline). Time phrases in the query narrow it like `retrieve`'s."""
        from qa.answer.timeline import build_timeline
        from qa.retrieve.time import understand

        t0 = time.perf_counter()
        query = check_question(query)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 200:
            raise InputError(f"limit (events) must be a whole number from 1 to 200, not {limit!r}.")
        self.store.sync()
        tq = understand(query, as_of)
        windowed = False
        if since is None and until is None and tq.window and self._dated_within(tq.since, tq.until):
            since, until, windowed = tq.since, tq.until, True
        if as_of is not None:
            until = as_of if until is None else min(until, as_of)
        filters = Filters(sources=list(sources) if sources else None, since=since, until=until)
        strip = self.settings.time_strip and bool(tq.recency or windowed)
        searched = tq.text if strip and tq.phrases else query
        view = self.store.catalog()  # one view of the library for the whole query
        ranked, _ = self.retriever.candidates(searched, filters, view=view)
        s = self.settings
        got = build_timeline(query, ranked, view.articles, limit=limit,
                             margin=2 * s.recency_margin, merge=s.timeline_merge)
        got.since = since.isoformat() if since else None
        got.until = until.isoformat() if until else None
        got.as_of = (as_of or date.today()).isoformat()
        got.timings_ms["total"] = elapsed_ms(t0)
        return got

    def when_reported(self, question: str, *, as_of: date | None = None) -> Answer | None:
        """A question about when outlets reported ("Did Mashable report X before Fortune
        reported Y?") answered from the publication dates of the reports it names, both cited
        with their dates (qa.answer.reports); None when it names fewer than two reports by
        outlet or says nothing about their order."""
        from qa.answer import reports

        t0 = time.perf_counter()
        question = check_question(question)
        if not reports.could_be_order_question(question):
            return None  # most questions: no store read, no scan of the source names
        self.store.sync()
        catalog = self.store.catalog().articles
        named = reports.mentions(question, {m.source for m in catalog.values()})
        if not reports.is_order_question(question, named, as_of):
            return None

        ranked: list[str] = []  # the articles each search found, for retrieved_doc_ids
        confidence = 0.0

        def find(text: str, srcs: list[str], since: date | None, until: date | None,
                 skip: set[str]) -> list[Evidence]:
            nonlocal confidence
            if not any(ch.isalnum() for ch in text):
                text = question
            r = self.retrieve(text[:MAX_QUESTION_CHARS], sources=srcs, since=since, until=until,
                              as_of=as_of)
            ranked.extend(r.retrieved_doc_ids)
            confidence = max(confidence, r.confidence)
            return [e for e in [*r.evidence, *r.candidates] if e.sentence.doc_id not in skip]

        found = reports.find_reports(question, named, find, as_of)
        if len(found) < 2:
            return None
        answer = reports.order_answer(question, found)
        cited = [c.doc_id for c in answer.citations]
        answer.retrieved_doc_ids = list(dict.fromkeys([*cited, *ranked]))
        answer.confidence = round(confidence, 4)
        answer.timings_ms = {"total": elapsed_ms(t0)}
        return answer

    def compare(
        self,
        query: str | None = None,
        doc_ids: Sequence[str] | None = None,
        *,
        max_articles: int = MAX_COMPARE,
        sources: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Comparison:
        """Where sources agree and differ on a story or topic: the facts several articles state
        (each source's sentence), the statements only one makes, and conflicts (a different
        number, date or name for one fact), each side cited. Compares `doc_ids`, else the
        articles `query` finds (at most `max_articles`). Offline (qa.stories.compare)."""
        from qa.embed.base import unit
        from qa.errors import NotFoundError
        from qa.stories.compare import Side, compare_sides
        from qa.types import Statement

        t0 = time.perf_counter()
        self.store.sync()
        catalog = self.store.catalog().articles
        if doc_ids:
            ids = list(dict.fromkeys(doc_ids))
            missing = [d for d in ids if d not in catalog]
            if missing:
                raise NotFoundError(f"No article with id {', '.join(map(repr, missing))}.")
        elif query and query.strip():
            r = self.retrieve(query, sources=sources, since=since, until=until)
            if not r.retrieved_doc_ids or r.confidence < self.settings.abstain_threshold:
                raise NotFoundError(f"No article matches {query!r}: nothing to compare.")
            # retrieve synced the store again: describe the articles from its view of it
            catalog = self.store.catalog().articles
            ids = [d for d in r.retrieved_doc_ids if d in catalog][: max(2, max_articles)]
        else:
            raise InputError("Give a query or two or more article ids to compare.")
        if len(ids) < 2:
            raise InputError(f"Comparing needs two or more articles; only {ids[0]!r} was found.")
        statements = []
        for d in ids:
            m = catalog[d]
            statements.append([
                Statement(doc_id=d, source=m.source, title=m.title, published_at=m.published_at,
                          sentence_id=s.sentence_id, start=s.start, end=s.end, text=s.text)
                for s in self.store.get_sentences(d)[0]
            ])
        texts = [st.text for side in statements for st in side]
        # Plain sentence vectors, not the stored contextual ones: those of one chunk come out
        # alike, and alignment must tell a fact from its neighbour.
        vectors = unit(np.asarray(self.embedder.embed_texts(texts), dtype=np.float32))
        q = unit(np.asarray(self.embedder.embed_query(query), dtype=np.float32)) if query else None
        sides, relevance, at = [], [], 0
        for side in statements:
            v = vectors[at : at + len(side)]
            at += len(side)
            sides.append(Side(side, v))
            relevance.append(v @ q if q is not None else -np.arange(len(side), dtype=np.float32))
        agreed, one_sided, conflicts = compare_sides(sides, self.settings.compare_align,
                                                     relevance=relevance)
        return Comparison(
            query=query, doc_ids=ids, sources=list(dict.fromkeys(catalog[d].source for d in ids)),
            agreed=agreed, one_sided=one_sided, conflicts=conflicts,
            timings_ms={"total": elapsed_ms(t0)},
        )

    def _compare_answer(
        self, question: str, mode: Literal["extractive", "llm"] = "extractive", **filters: Any
    ) -> Answer | None:
        """A "How do outlets differ on X?" question answered by `compare` (None for another
        question, or when there are not two articles to compare: it is then answered as usual).
        In LLM mode the model phrases it from the compared sentences (conflicts first), through
        the answer chain, so every claim is checked against its cited sentences like any answer;
        the offline comparison is the fallback."""
        from qa.errors import NotFoundError
        from qa.stories.compare import compare_topic, comparison_answer, comparison_evidence

        topic = compare_topic(question)
        if topic is None:
            return None
        try:
            comparison = self.compare(topic, **filters)
        except (NotFoundError, InputError):
            return None
        offline = comparison_answer(question, comparison)
        answer = offline
        if mode == "llm" and not offline.abstained:
            from qa.answer.chain import llm_answer

            answer = llm_answer(question, comparison_evidence(comparison), settings=self.settings,
                                model=self.llm(), embedder=self.embedder, fallback=lambda: offline)
        answer.retrieved_doc_ids = comparison.doc_ids
        return answer

    def _summary_answer(
        self,
        question: str,
        mode: Literal["extractive", "llm"],
        *,
        sources: Sequence[str] | None,
        since: date | None,
        until: date | None,
        as_of: date | None,
    ) -> Answer | None:
        """A request for a summary typed as a question ("Summarize the news about X", "tl;dr")
        answered by `summarize`: of the articles the topic finds (abstaining when none answers
        it), or, with no topic, of the newest articles; None for any other question."""
        from qa.stories.copies import one_per_story
        from qa.summarize.extractive import MAX_QUERY_ARTICLES
        from qa.summarize.request import summary_topic

        topic = summary_topic(question)
        if topic is None:
            return None
        confidence = 1.0
        if topic:
            found = self.retrieve(topic, sources=sources, since=since, until=until, as_of=as_of)
            if not found.evidence or found.confidence < self.settings.abstain_threshold:
                return abstention(question, found.related or found.evidence, mode)
            doc_ids, confidence = doc_ids_of(found.evidence), found.confidence
        else:
            if as_of is not None:  # what was published by then, as for a timeline
                until = as_of if until is None else min(until, as_of)
            rows = self.list(sources=sources, since=since, until=until)
            rows.sort(key=lambda r: r.published_at or "", reverse=True)  # undated last
            doc_ids = [r.doc_id for r in rows]
        self.story_index.refresh()
        doc_ids = one_per_story(doc_ids, self.story_index)[:MAX_QUERY_ARTICLES]
        got = self.summarize(doc_ids, query=topic or None, mode=mode) if doc_ids else None
        if got is None or not got.citations:
            return abstention(question, [], mode)
        return Answer(question=question, answer=got.summary, abstained=False,
                      citations=got.citations, retrieved_doc_ids=got.doc_ids, mode=got.mode,
                      confidence=confidence, claims=got.claims, tokens=got.tokens,
                      timings_ms=dict(got.timings_ms))

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
        rows = self.store.list_articles(query, filters)
        self.story_index.refresh()
        for row in rows:
            row.story_id = self.story_index.story_of(row.doc_id)
        return rows


def with_warnings(
    results: list[IngestResult], articles: Iterable[tuple[str, Article]]
) -> list[IngestResult]:
    """The indexer's results, each with the warnings its article met while it was read (for a
    doc id given twice in one place, the later article's, as the indexer keeps the later one)."""
    notes = {(path, a.doc_id): a.warnings for path, a in articles}
    for r in results:
        r.warnings = [*r.warnings, *notes.get((r.path, r.doc_id or ""), [])]
    return results


def _with_time(question: str, r: Retrieval) -> str:
    """The question as a chat model sees it: a question about time gets the as-of day and asks
    for the reports in date order (each article's date is in the context it is shown)."""
    t = r.time
    if t is None or not t.temporal:
        return question
    order = "most recent first" if t.recency else "in date order"
    return (f"{question}\n(Today is {t.as_of.isoformat()}. Use the articles' publication dates: "
            f"give the reports {order} and say when each was published.)")


def _date_order(r: Retrieval) -> str | None:
    """How an offline answer orders reports of different dates: newest first for a "latest"
    question, oldest first for another question about time, else not by date."""
    if r.time is None or not r.time.temporal:
        return None
    return "newest" if r.time.recency else "oldest"


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
