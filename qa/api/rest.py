"""The REST API under /api/v1: each route is one call of the QA service, run in the threadpool.

    POST   /api/v1/ask             Answer                   (AskRequest; `as_of` for time words)
    POST   /api/v1/ask/stream      server-sent events: `delta` {"text"} ..., then `answer` Answer
    POST   /api/v1/summarize       Summary                  (SummarizeRequest)
    POST   /api/v1/timeline        Timeline                 (TimelineRequest: dated events in order)
    POST   /api/v1/compare         Comparison               (CompareRequest: where sources differ)
    GET    /api/v1/stories         [Story]                  (articles grouped by story)
    GET    /api/v1/articles        [ArticleInfo]            ?query=&sources=&since=&until=
    GET    /api/v1/articles/{id}   ArticleDetail            (the article with its sentences)
    DELETE /api/v1/articles/{id}   Deleted
    POST   /api/v1/ingest          IngestReport             (multipart: files)
    POST   /api/v1/ingest/text     IngestReport             (IngestTextRequest)
    POST   /api/v1/ingest/urls     IngestReport             (IngestUrlsRequest: web pages)
    GET    /api/v1/feeds           [FeedInfo]
    POST   /api/v1/feeds           FeedInfo                 (FeedAddRequest; 201)
    DELETE /api/v1/feeds?feed=     FeedInfo                 (the feed removed; its articles stay)
    POST   /api/v1/feeds/refresh   FeedRefreshReport        (FeedRefreshRequest)
    GET    /api/v1/check           CheckReport              (read-only; repair is `qa check --repair`)
    GET    /api/v1/health, /api/v1/version

Errors: see qa.api.errors. A stream that fails after it started (the status is sent by then)
ends with an `error` event carrying the same JSON error body.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from qa.api.errors import ErrorBody, ErrorDetail, no_route, openapi_errors, status_of
from qa.api.schemas import (
    ArticleDetail,
    AskRequest,
    CheckReport,
    CompareRequest,
    Deleted,
    FeedAddRequest,
    FeedRefreshReport,
    FeedRefreshRequest,
    Health,
    IngestReport,
    IngestTextRequest,
    IngestUrlsRequest,
    SummarizeRequest,
    TimelineRequest,
    Version,
)
from qa.errors import InputError, QAError
from qa.ingest.feeds import FeedInfo
from qa.types import Answer, ArticleInfo, Comparison, IngestResult, Story, Summary, Timeline
from qa.web.common import mode_kwargs, without_server_paths
from qa.web.uploads import MAX_FILES, ingest_uploads, mb

if TYPE_CHECKING:
    from qa.api.server import Limiter
    from qa.service import QA

__all__ = ["router", "sse_pieces"]

PREFIX = "/api/v1"
_COPY_CHUNK = 1 << 20


def _ask_kwargs(qa: QA, body: AskRequest) -> dict[str, Any]:
    return {"k": body.k, "sources": body.sources, "since": body.since, "until": body.until,
            "as_of": body.as_of, **mode_kwargs(qa.settings, body.mode)}


def error_event(qa: QA, exc: QAError) -> dict[str, str]:
    """The SSE event that ends a stream which failed after it started."""
    _, code, type_ = status_of(exc)
    detail = ErrorDetail(code=code, message=without_server_paths(qa.settings, exc.user_message()),
                         type=type_)
    return {"event": "error", "data": ErrorBody(error=detail).model_dump_json()}


async def sse_pieces(stream: Iterator[Any]) -> tuple[Any, AsyncIterator[Any]]:
    """The first item of a blocking stream (computed in the threadpool, so that bad input is
    still refused with a status before the response starts) and an iterator over the rest."""
    rest = iterate_in_threadpool(stream)
    first = await run_in_threadpool(next, stream)
    return first, rest


def router(qa: QA, limiter: Limiter, version: str) -> APIRouter:
    """The REST routes over `qa`, their work bounded by `limiter`."""
    api = APIRouter(prefix=PREFIX, tags=["qa"], responses=openapi_errors(401, 422, 429))

    async def work(fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with limiter.admit():
            return await run_in_threadpool(fn, *args, **kwargs)

    @api.post("/ask", response_model=Answer, responses=openapi_errors(400, 502, 503))
    async def ask(body: AskRequest) -> Answer:
        """Answer a question with cited sentences, or abstain with the fixed phrase."""
        answer: Answer = await work(qa.ask, body.question, **_ask_kwargs(qa, body))
        return answer

    @api.post(
        "/ask/stream",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "`delta` events {\"text\": piece}, then one `answer` "
                         "event (the Answer, as /ask returns it), or an `error` event."},
                   **openapi_errors(400, 502, 503)},
    )
    async def ask_stream(body: AskRequest) -> EventSourceResponse:
        """Stream an answer as server-sent events while it is produced."""
        slot = limiter.admit()
        await slot.__aenter__()
        try:
            kwargs = _ask_kwargs(qa, body)
            first, rest = await sse_pieces(qa.ask_stream(body.question, **kwargs))
        except BaseException:
            slot.close()
            raise

        def event(piece: Any) -> dict[str, str]:
            if isinstance(piece, Answer):
                return {"event": "answer", "data": piece.model_dump_json()}
            return {"event": "delta", "data": json.dumps({"text": piece})}

        async def events() -> AsyncIterator[dict[str, str]]:
            try:
                yield event(first)
                async for piece in rest:
                    yield event(piece)
            except QAError as exc:
                yield error_event(qa, exc)
            finally:
                slot.close()

        return EventSourceResponse(events(), ping=10, background=BackgroundTask(slot.close))

    @api.post("/summarize", response_model=Summary, responses=openapi_errors(400, 404, 502, 503))
    async def summarize(body: SummarizeRequest) -> Summary:
        """A cited summary of the given articles, or of the articles a query finds."""
        query = (body.query or "").strip() or None
        if not body.doc_ids and not query:
            raise InputError("Give doc_ids (articles to summarize) or a query.")
        summary: Summary = await work(
            qa.summarize, body.doc_ids, query=query, max_sentences=body.max_sentences,
            **mode_kwargs(qa.settings, body.mode))
        return summary

    @api.post("/timeline", response_model=Timeline, responses=openapi_errors(400, 503))
    async def timeline(body: TimelineRequest) -> Timeline:
        """Dated events about a query across the articles, in date order, each a cited
        sentence; one event reported by several outlets is shown once with all of them."""
        got: Timeline = await work(qa.timeline, body.query, since=body.since, until=body.until,
                                   as_of=body.as_of, limit=body.limit, sources=body.sources)
        return got

    @api.post("/compare", response_model=Comparison, responses=openapi_errors(400, 404, 503))
    async def compare(body: CompareRequest) -> Comparison:
        """Where sources agree and differ: facts several state, statements only one makes, and
        conflicts (a different number, date or name for one fact), each side cited."""
        query = (body.query or "").strip() or None
        if not body.doc_ids and not query:
            raise InputError("Give a query, or doc_ids (two or more articles), to compare.")
        got: Comparison = await work(qa.compare, query, body.doc_ids or None,
                                     max_articles=body.max_articles, sources=body.sources,
                                     since=body.since, until=body.until)
        return got

    @api.get("/stories", response_model=list[Story], responses=openapi_errors(503))
    async def stories() -> list[Story]:
        """The library's stories: articles telling one story (wire copies, updates), the first
        reported first."""
        got: list[Story] = await work(qa.stories)
        return got

    @api.get("/articles", response_model=list[ArticleInfo])
    async def list_articles(
        query: Annotated[str | None, Query(description="Title, source or id contains it.")] = None,
        sources: Annotated[list[str] | None, Query(description="Only these sources.")] = None,
        since: Annotated[date | None, Query(description="Published on or after.")] = None,
        until: Annotated[date | None, Query(description="Published on or before.")] = None,
    ) -> list[ArticleInfo]:
        """The stored articles, without their text, in doc id order."""
        rows: list[ArticleInfo] = await work(qa.list, query=query or None, sources=sources,
                                             since=since, until=until)
        return rows

    def _detail(doc_id: str) -> ArticleDetail:
        article = qa.get(doc_id)
        return ArticleDetail(**article.model_dump(), sentences=qa.sentences(doc_id))

    @api.get("/articles/{doc_id}", response_model=ArticleDetail, responses=openapi_errors(404))
    async def get_article(doc_id: str) -> ArticleDetail:
        """One article with its text and its sentences (their spans point into the text)."""
        detail: ArticleDetail = await work(_detail, doc_id)
        return detail

    @api.delete("/articles/{doc_id}", response_model=Deleted, responses=openapi_errors(404))
    async def delete_article(doc_id: str) -> Deleted:
        """Remove an article with all its sentences and chunks."""
        await work(qa.delete, doc_id)
        return Deleted(doc_id=doc_id)

    def _ingest_files(saved: list[Path], refused: list[IngestResult]) -> IngestReport:
        results, _ = ingest_uploads(qa, saved, None) if saved else ([], "")
        return IngestReport(results=refused + results)

    @api.post("/ingest", response_model=IngestReport, responses=openapi_errors(400, 503))
    async def ingest_files(
        files: Annotated[list[UploadFile], File(description="Articles: .txt, .md, .html, .jsonl")],
    ) -> IngestReport:
        """Add uploaded files; one result per article or per file that failed (a file over
        the size limit is refused by name, the others are still added)."""
        if len(files) > MAX_FILES:
            raise InputError(f"{len(files)} files were sent; at most {MAX_FILES} can be added at "
                             "once. Send them in smaller batches.")
        limit = qa.settings.max_file_bytes
        async with limiter.admit():
            with tempfile.TemporaryDirectory(prefix="qa-api-upload-") as tmp:
                saved: list[Path] = []
                refused: list[IngestResult] = []
                for i, upload in enumerate(files):
                    # One folder per upload keeps the client's file name (the article id comes
                    # from it); ingest_uploads sanitizes it.
                    name = Path((upload.filename or "upload").replace("\\", "/")).name or "upload"
                    folder = Path(tmp) / str(i)
                    folder.mkdir()
                    target = folder / name
                    written = 0
                    with open(target, "wb") as fh:
                        while chunk := await upload.read(_COPY_CHUNK):
                            written += len(chunk)
                            if written > limit:  # refused: the rest is not copied
                                break
                            fh.write(chunk)
                    if written > limit:
                        size = f"{mb(upload.size)} is" if upload.size else "it is"
                        refused.append(IngestResult(
                            path=name, status="failed",
                            reason=f"{size} over the {mb(limit)} limit per file"))
                    else:
                        saved.append(target)
                report: IngestReport = await run_in_threadpool(_ingest_files, saved, refused)
                return report

    @api.post("/ingest/text", response_model=IngestReport, responses=openapi_errors(400, 503))
    async def ingest_text(body: IngestTextRequest) -> IngestReport:
        """Add one article from its text."""
        results = await work(qa.ingest_text, body.text, title=body.title, source=body.source,
                             published_at=body.published_at, doc_id=body.doc_id)
        return IngestReport(results=results)

    @api.post("/ingest/urls", response_model=IngestReport, responses=openapi_errors(400, 503))
    async def ingest_urls(body: IngestUrlsRequest) -> IngestReport:
        """Fetch web pages (http/https) and add their articles; one result per URL."""
        results = await work(qa.ingest_urls, body.urls)
        return IngestReport(results=results)

    @api.get("/feeds", response_model=list[FeedInfo])
    async def list_feeds() -> list[FeedInfo]:
        """The registered RSS and Atom feeds, with how their last refresh went."""
        feeds: list[FeedInfo] = await work(qa.feeds_list)
        return feeds

    @api.post("/feeds", response_model=FeedInfo, status_code=201, responses=openapi_errors(400))
    async def add_feed(body: FeedAddRequest) -> FeedInfo:
        """Register a feed (http/https); its items are fetched by a refresh."""
        feed: FeedInfo = await work(qa.feeds_add, body.url, body.name or None)
        return feed

    @api.delete("/feeds", response_model=FeedInfo, responses=openapi_errors(404))
    async def remove_feed(
        feed: Annotated[str, Query(min_length=1, description="The feed's name or URL.")],
    ) -> FeedInfo:
        """Forget a feed; the articles it brought stay in the library."""
        removed: FeedInfo = await work(qa.feeds_remove, feed)
        return removed

    @api.post("/feeds/refresh", response_model=FeedRefreshReport,
              responses=openapi_errors(404, 503))
    async def refresh_feeds(body: FeedRefreshRequest | None = None) -> FeedRefreshReport:
        """Fetch every feed (or the one named) and ingest its new items; one report per feed,
        with a result per new item (one bad item never stops the others)."""
        name = ((body.feed or "").strip() or None) if body else None
        reports = await work(qa.feeds_refresh, name)
        return FeedRefreshReport(feeds=reports)

    def _check() -> CheckReport:
        health, _ = qa.check(repair=False)
        return CheckReport(ok=health.ok, articles=health.articles, sentences=health.sentences,
                           chunks=health.chunks, orphans=health.orphans, problems=health.problems)

    @api.get("/check", response_model=CheckReport, responses=openapi_errors(503))
    async def check() -> CheckReport:
        """Read every record and report what is inconsistent (changes nothing)."""
        report: CheckReport = await work(_check)
        return report

    @api.get("/health", response_model=Health)
    async def health() -> Health:
        """The server is up and answering."""
        return Health()

    @api.get("/version", response_model=Version)
    async def get_version() -> Version:
        """The server's version and how it answers."""
        s = qa.settings
        return Version(version=version, mode=s.resolved_mode(), embedder=s.embedder,
                       llm_model=s.llm_model if s.llm_configured else None)

    no_route(api)  # last: it matches every path under the prefix
    return api
