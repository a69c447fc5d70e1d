"""The MCP server: qa's cited answers, evidence, summaries and articles as tools for agents.

Built on the official `mcp` SDK (`MCPServer`): every tool has typed (pydantic) arguments and a
typed result that carries the citations (doc id, sentence id, character span, text, title,
source, date), published as the tool's input and output schemas. The server is read-only unless
QA_MCP_ALLOW_INGEST is set, which adds the tools that store articles (`ingest_text`,
`ingest_urls`).

Two transports: stdio (`qa mcp`, for a desktop client that starts the process) and streamable
HTTP, mounted on `qa serve` (`mount_http`) or served alone (`http_app`).

>>> server = build_mcp(QA())                 # doctest: +SKIP
>>> server.run("stdio")                       # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from qa.errors import QAError
from qa.types import ArticleInfo, Citation, Comparison, IngestResult, Sentence, Timeline

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

    from qa.service import QA

__all__ = [
    "ArticleResult",
    "AskResult",
    "ArticleList",
    "IngestResults",
    "SearchResult",
    "SummaryResult",
    "build_mcp",
    "http_app",
    "mount_http",
    "run_stdio",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

INSTRUCTIONS = (
    "Questions about the news articles stored in this qa library. `ask` answers with numbered "
    "citations of stored sentences (or abstains when the articles do not answer); `search` "
    "returns the evidence sentences without an answer; `summarize` writes a cited summary of "
    "articles; `timeline` lists dated events about a query in date order; `compare` shows where "
    "sources agree and differ (conflicting numbers, dates, names); "
    "`list_articles` and `get_article` read the library. Every citation names its "
    "article (doc_id), its sentence (sentence_id) and its character span in the article's text."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                         open_world_hint=False)


# --- results ---------------------------------------------------------------------------------
class AskResult(BaseModel):
    """A cited answer, or an abstention with the nearest sentences (`related`)."""

    question: str
    answer: str = Field(description="The answer; [n] markers point at citations[n-1].")
    abstained: bool = Field(description="True when the articles do not answer the question.")
    mode: Literal["extractive", "llm"]
    confidence: float = Field(description="How answerable the question looked (0..1).")
    citations: list[Citation] = Field(default_factory=list)
    related: list[Citation] = Field(
        default_factory=list, description="Nearest sentences offered when the answer abstains."
    )


class SearchResult(BaseModel):
    """The evidence sentences an answer would cite, best first, without an answer."""

    question: str
    confidence: float = Field(description="How answerable the question looked (0..1).")
    evidence: list[Citation] = Field(
        default_factory=list, description="The chosen sentences with their relevance `score`."
    )
    related: list[Citation] = Field(
        default_factory=list, description="The next nearest sentences, not chosen."
    )


class SummaryResult(BaseModel):
    """A cited summary of one or several articles."""

    doc_ids: list[str]
    summary: str = Field(description="The summary; [n] markers point at citations[n-1].")
    mode: Literal["extractive", "llm"]
    query: str | None = None
    citations: list[Citation] = Field(default_factory=list)


class ArticleResult(BaseModel):
    """One stored article: its cleaned text and its sentences with their spans in that text."""

    doc_id: str
    title: str
    source: str
    published_at: str | None
    url: str | None
    byline: str | None
    text: str
    sentences: list[Sentence]


class ArticleList(BaseModel):
    """Stored articles (without their text), in doc id order."""

    total: int = Field(description="How many articles matched, before `limit`.")
    articles: list[ArticleInfo]


class IngestResults(BaseModel):
    """The outcome for each article given."""

    results: list[IngestResult]


# --- arguments -------------------------------------------------------------------------------
Question = Annotated[str, Field(description="The question, in plain words.", max_length=4000)]
K = Annotated[
    int | None,
    Field(ge=1, le=50, description="Most sentences cited (default: the library's QA_K)."),
]
Sources = Annotated[
    list[str] | None, Field(description="Only articles from these sources (exact names).")
]
Since = Annotated[date | None, Field(description="Only articles published on or after (YYYY-MM-DD).")]
Until = Annotated[date | None, Field(description="Only articles published on or before (YYYY-MM-DD).")]
AsOf = Annotated[
    date | None,
    Field(description="Read time words (latest, this week, since June) relative to this day "
          "(YYYY-MM-DD); nothing published after it is used. Default: today."),
]
Mode = Annotated[
    Literal["extractive", "llm", "auto"] | None,
    Field(description="extractive (the sentences themselves), llm (a model writes the answer, "
          "every citation checked), auto (llm when configured); default: the server's QA_MODE."),
]


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the blocking QA in a worker thread; its own errors become tool errors (isError with
    the message a CLI user would read), so an agent sees what to fix, never a traceback."""
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    except QAError as exc:
        raise ToolError(exc.user_message()) from exc


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qa")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0"


def build_mcp(qa: QA, *, allow_ingest: bool | None = None) -> MCPServer:
    """An MCP server whose tools call `qa`. `allow_ingest` (default: QA_MCP_ALLOW_INGEST) adds
    the tools that store articles; without it the server cannot change the library."""
    server: MCPServer = MCPServer(name="qa", title="qa: cited answers over news articles",
                                  instructions=INSTRUCTIONS, version=_version())

    @server.tool(annotations=READ_ONLY)
    async def ask(
        question: Question,
        k: K = None,
        sources: Sources = None,
        since: Since = None,
        until: Until = None,
        mode: Mode = None,
        as_of: AsOf = None,
    ) -> AskResult:
        """Answer a question from the stored articles, citing the sentences the answer rests
        on; abstains ("The articles do not answer this.") when they do not answer it."""
        a = await _run(qa.ask, question, k=k, sources=sources, since=since, until=until, mode=mode,
                       as_of=as_of)
        return AskResult(question=a.question, answer=a.answer, abstained=a.abstained, mode=a.mode,
                         confidence=a.confidence, citations=a.citations, related=a.related)

    @server.tool(annotations=READ_ONLY)
    async def search(
        question: Question,
        k: K = None,
        sources: Sources = None,
        since: Since = None,
        until: Until = None,
        as_of: AsOf = None,
    ) -> SearchResult:
        """Find the evidence sentences for a question (the ones `ask` would cite), with their
        relevance scores, without composing an answer."""
        r = await _run(qa.retrieve, question, k=k, sources=sources, since=since, until=until,
                       as_of=as_of)
        return SearchResult(
            question=question,
            confidence=r.confidence,
            evidence=[e.cite(i) for i, e in enumerate(r.evidence, 1)],
            related=[e.cite(i) for i, e in enumerate(r.related, len(r.evidence) + 1)],
        )

    @server.tool(annotations=READ_ONLY)
    async def summarize(
        doc_ids: Annotated[
            list[str] | None, Field(description="Ids of the articles to summarize together.")
        ] = None,
        query: Annotated[
            str | None, Field(description="Summarize the articles this query finds instead.")
        ] = None,
        max_sentences: Annotated[
            int | None, Field(ge=1, le=30, description="Most sentences in the summary.")
        ] = None,
        mode: Mode = None,
    ) -> SummaryResult:
        """A cited summary of some articles (by doc_ids), or of the articles a query finds."""
        if not doc_ids and not (query or "").strip():
            raise ToolError("Give doc_ids (article ids) or a query to summarize.")
        s = await _run(qa.summarize, doc_ids or [], query=query, max_sentences=max_sentences,
                       mode=mode)
        return SummaryResult(doc_ids=s.doc_ids, summary=s.summary, mode=s.mode, query=s.query,
                             citations=s.citations)

    @server.tool(annotations=READ_ONLY)
    async def timeline(
        query: Annotated[str, Field(description="What the timeline is about; time words in it "
                                    "(this month, since June) narrow it.", max_length=4000)],
        since: Since = None,
        until: Until = None,
        as_of: AsOf = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Most events returned.")] = 20,
        sources: Sources = None,
    ) -> Timeline:
        """Dated events about a query across the articles, in date order: each a cited
        sentence, one event reported by several outlets shown once with all its reports."""
        got: Timeline = await _run(qa.timeline, query, since=since, until=until, as_of=as_of,
                                   limit=limit, sources=sources)
        return got

    @server.tool(annotations=READ_ONLY)
    async def compare(
        query: Annotated[
            str | None, Field(description="Compare the articles this query finds.", max_length=4000)
        ] = None,
        doc_ids: Annotated[
            list[str] | None, Field(description="Compare these articles (two or more) instead.")
        ] = None,
        sources: Sources = None,
        since: Since = None,
        until: Until = None,
    ) -> Comparison:
        """Where sources agree and differ on a story or topic: facts several state (each
        source's sentence), statements only one makes, and conflicts (a different number, date
        or name for the same fact), each side cited with its span."""
        if not doc_ids and not (query or "").strip():
            raise ToolError("Give a query, or doc_ids (two or more article ids), to compare.")
        return await _run(qa.compare, (query or "").strip() or None, doc_ids or None,
                          sources=sources, since=since, until=until)

    @server.tool(annotations=READ_ONLY)
    async def get_article(
        doc_id: Annotated[str, Field(min_length=1, description="The article's id.")],
    ) -> ArticleResult:
        """One stored article: its text and its sentences with their ids and character spans
        (the spans citations point at)."""

        def read() -> ArticleResult:
            a = qa.get(doc_id)
            return ArticleResult(doc_id=a.doc_id, title=a.title, source=a.source,
                                 published_at=a.published_at, url=a.url, byline=a.byline,
                                 text=a.text, sentences=qa.sentences(doc_id))

        return await _run(read)

    @server.tool(annotations=READ_ONLY)
    async def list_articles(
        query: Annotated[
            str | None, Field(description="Keep articles whose title, source or id contains this.")
        ] = None,
        sources: Sources = None,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Most articles returned.")] = 100,
    ) -> ArticleList:
        """The stored articles (id, title, source, date, url, sentence count), in id order."""
        rows = await _run(qa.list, query=query, sources=sources, since=since, until=until)
        return ArticleList(total=len(rows), articles=rows[:limit])

    if qa.settings.mcp_allow_ingest if allow_ingest is None else allow_ingest:
        _add_ingest_tools(server, qa)
    return server


def _add_ingest_tools(server: MCPServer, qa: QA) -> None:
    @server.tool(annotations=WRITES)
    async def ingest_text(
        text: Annotated[str, Field(min_length=1, description="The article's text.")],
        title: Annotated[str, Field(description="Its title.")] = "",
        source: Annotated[str, Field(description="Its source (publication).")] = "",
        published_at: Annotated[date | None, Field(description="Its date (YYYY-MM-DD).")] = None,
        doc_id: Annotated[
            str | None, Field(description="Its id (default: made from the title, else the text).")
        ] = None,
    ) -> IngestResults:
        """Store an article given as text; the same article again says `unchanged`."""
        if not text.strip():
            raise ToolError("text is empty: give the article's text.")
        results = await _run(qa.ingest_text, text, title=title, source=source,
                             published_at=published_at, doc_id=doc_id)
        return IngestResults(results=results)

    @server.tool(annotations=WRITES.model_copy(update={"open_world_hint": True}))
    async def ingest_urls(
        urls: Annotated[
            list[str], Field(min_length=1, max_length=100, description="http(s) pages to fetch.")
        ],
    ) -> IngestResults:
        """Fetch web pages and store their articles; one result per URL (a page that cannot
        be fetched or read says why, and the others are still stored)."""
        return IngestResults(results=await _run(qa.ingest_urls, urls))


def run_stdio(qa: QA, *, allow_ingest: bool | None = None) -> None:
    """Serve MCP over this process's stdin/stdout until the client closes them. (The SDK moves
    file descriptor 1 onto stderr meanwhile, so a stray print cannot corrupt the protocol.)"""
    build_mcp(qa, allow_ingest=allow_ingest).run("stdio")


# --- HTTP ------------------------------------------------------------------------------------
def _http_parts(qa: QA, path: str, allow_ingest: bool | None) -> tuple[MCPServer, Starlette]:
    server = build_mcp(qa, allow_ingest=allow_ingest)
    # Stateless, JSON replies: every request stands alone, so nothing is lost when a client
    # reconnects or a proxy balances over several workers, and no session table grows.
    app = server.streamable_http_app(
        streamable_http_path=path, stateless_http=True, json_response=True, host=qa.settings.host
    )
    return server, app


class BearerToken:
    """ASGI wrapper refusing (401) an HTTP request without `Authorization: Bearer <token>`,
    for the standalone app (on `qa serve`, qa.api.server's BearerAuth guards every API).

    Hand-written because the SDK's auth is OAuth (token verifiers, issuer metadata); one
    shared secret, as the REST API takes, needs only this comparison."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(), self.token):
                from qa.api.errors import error_response  # the REST API's error shape

                response = error_response(
                    401, "unauthorized",
                    "Missing or wrong API token: send Authorization: Bearer <QA_API_TOKEN>.",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Bounded:
    """ASGI wrapper admitting each HTTP request through qa.api.server's `Limiter`: at most
    QA_API_CONCURRENCY at work and QA_API_QUEUE waiting, any more answered 429 at once."""

    def __init__(self, app: ASGIApp, limiter: Any) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from qa.api.errors import ApiError, error_response

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            slot = self.limiter.admit()
        except ApiError as exc:
            await error_response(exc.status, exc.code, str(exc), headers=exc.headers)(
                scope, receive, send)
            return
        async with slot:
            await self.app(scope, receive, send)


def http_app(qa: QA, *, path: str = "/mcp", allow_ingest: bool | None = None) -> Starlette:
    """A standalone ASGI app serving MCP's streamable HTTP transport at `path` (run it with
    uvicorn); with QA_API_TOKEN set, requests must carry it as a Bearer token."""
    _, app = _http_parts(qa, path, allow_ingest)
    if qa.settings.api_token:
        app.add_middleware(BearerToken, token=qa.settings.api_token)
    return app


def mount_http(app: Starlette, qa: QA, *, path: str = "/mcp",
               allow_ingest: bool | None = None) -> MCPServer:
    """Serve MCP's streamable HTTP transport at `path` of `qa serve`'s app (one of
    qa.api.server's MOUNTS, called before the web app takes "/"), guarded like the other APIs:
    by QA_API_TOKEN, and by the bounded queue (429 with Retry-After when it is full). Its
    session manager runs within the app's lifespan (the lifespan of a mounted sub-app never
    runs)."""
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from starlette.routing import Route

    from qa.api.server import API_PREFIXES, Limiter

    server, _ = _http_parts(qa, path, allow_ingest)  # builds server.session_manager
    s = qa.settings
    # The REST API's limiter when the app shares it, else one with the same settings.
    limiter = getattr(app.state, "limiter", None) or Limiter(s.api_concurrency, s.api_queue)
    endpoint = Bounded(StreamableHTTPASGIApp(server.session_manager), limiter)
    app.router.routes.append(Route(path, endpoint=endpoint, name="mcp"))
    if path not in API_PREFIXES:  # the server's BearerAuth checks the token on these paths
        API_PREFIXES.append(path)

    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(parent: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), previous(parent) as state:
            yield state

    app.router.lifespan_context = lifespan
    return server
