"""One process, several faces: the web app and the HTTP APIs on one port (`qa serve`).

    app = build_server(qa)          # FastAPI: /api/v1 (REST), /v1 (OpenAI), / (the web app)
    serve(qa)                       # run it with uvicorn at settings.host:settings.port

Routes, in the order they are matched (the web app is mounted at "/" and so comes last):
- `/api/v1/...` the REST API (qa.api.rest), `/v1/...` the OpenAI-compatible API
  (qa.api.openai_compat), `/docs` and `/openapi.json` their schema;
- whatever the functions in `MOUNTS` add (the MCP HTTP transport);
- `/` the Gradio app, with the same options as `Blocks.launch` had (`qa.web.app.launch_options`):
  its own login (QA_AUTH), queue, upload limit, theme and CSS.

Auth: with QA_API_TOKEN set, every request under an `API_PREFIXES` path must carry
`Authorization: Bearer <token>` or gets 401; the web app keeps its own login. CORS: the
origins in QA_CORS_ORIGINS (none by default, and then Gradio keeps its own policy).

Bounded concurrency (`Limiter`): QA_API_CONCURRENCY requests are answered at once and
QA_API_QUEUE more may wait; any further request is answered 429 with Retry-After at once,
rather than piling up until every client times out. The QA object is blocking, so each call runs
in the threadpool; health, version and the model list are not limited (they do no work).
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.api import errors
from qa.api.errors import ApiError
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.service import QA

__all__ = ["API_PREFIXES", "MOUNTS", "Limiter", "build_server", "serve"]

logger = logging.getLogger(__name__)

API_PREFIXES: list[str] = ["/api/v1", "/v1"]
"""Paths the API token guards. A mount function adds its own prefix here (e.g. "/mcp")."""

# --- other faces ------------------------------------------------------------------------------
# MOUNTS: "module:function" names of functions `fn(app: FastAPI, qa: QA) -> None` that add a
# face to the app (e.g. `app.mount("/mcp", ...)`, and `API_PREFIXES.append("/mcp")` so that the
# API token guards it; `app.state.limiter` is the APIs' concurrency bound, to share). Names, not
# imports, because a face's module may import this one (API_PREFIXES, Limiter). They are
# called after the REST and OpenAI routers and BEFORE the web app
# is mounted at "/" (which would otherwise catch their paths). A face that needs a lifespan (the
# MCP session manager) wraps `app.router.lifespan_context` the way gr.mount_gradio_app does. A
# module that does not exist yet is skipped, so the hook can be named before its face lands; any
# other import error is raised.
MOUNTS: list[str] = ["qa.api.mcp:mount_http"]


def _mount_faces(app: FastAPI, qa: QA) -> None:
    for name in MOUNTS:
        module_name, _, func = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            logger.debug("face %s is not installed", name)
            continue
        mount: Callable[[FastAPI, Any], None] = getattr(module, func)
        mount(app, qa)


# --- bounded concurrency ------------------------------------------------------------------------
class Slot:
    """One admitted request: `async with slot:` waits for a worker, then holds it. `close` is
    idempotent, so a stream's slot is released whether its generator or its response ends it."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.holding = False
        self.closed = False
        self.t0 = 0.0

    async def __aenter__(self) -> Slot:
        try:
            await self.limiter.workers.acquire()
        except BaseException:  # cancelled while waiting (the client left): __aexit__ never runs
            self.close()
            raise
        self.holding = True
        self.t0 = time.monotonic()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.holding:
            self.limiter.workers.release()
            self.limiter.record(time.monotonic() - self.t0)
        self.limiter.admitted -= 1


class Limiter:
    """At most `concurrency` requests at work and `queue` waiting; more are refused with 429.

    Written here because Starlette and uvicorn only cap connections (uvicorn's
    `limit_concurrency` answers 503 for every path, the web app's included); this caps the work
    of the API alone and says when to retry. All its state lives on the event loop's thread.
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + queue
        self.admitted = 0
        self.workers = asyncio.Semaphore(concurrency)
        self.mean_s = 1.0  # running mean of a request's work, for Retry-After

    def record(self, seconds: float) -> None:
        self.mean_s = 0.9 * self.mean_s + 0.1 * seconds

    def retry_after(self) -> int:
        return max(1, math.ceil(self.mean_s * self.admitted / self.concurrency))

    def admit(self) -> Slot:
        """A slot, or ApiError 429 at once when `concurrency + queue` requests are admitted."""
        if self.admitted >= self.capacity:
            wait = self.retry_after()
            raise ApiError(
                429, "overloaded",
                f"The server is answering {self.admitted} API requests, its limit "
                f"(QA_API_CONCURRENCY={self.concurrency} at work plus QA_API_QUEUE="
                f"{self.capacity - self.concurrency} waiting); retry in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        self.admitted += 1
        return Slot(self)


# --- auth ---------------------------------------------------------------------------------------
class BearerAuth:
    """Refuses requests under API_PREFIXES without `Authorization: Bearer <token>` (401).

    ASGI middleware rather than a FastAPI dependency, so that faces mounted as sub-apps (MCP)
    are guarded by the same check. CORS preflights (OPTIONS) pass: browsers never send
    credentials on them, and CORSMiddleware answers them before this runs.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _guarded(scope["path"]) and scope["method"] != "OPTIONS":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                message = ("Wrong API token." if given else
                           "This API needs a token: send 'Authorization: Bearer <QA_API_TOKEN>'.")
                response = errors.error_response(
                    401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _guarded(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


# --- the app ------------------------------------------------------------------------------------
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qa")
    except PackageNotFoundError:
        return "0+unknown"


def build_server(qa: QA, *, web: bool = True) -> FastAPI:
    """The FastAPI app of `qa serve`: the APIs, the MOUNTS faces, then the web app at "/"
    (`web=False` leaves it out)."""
    from qa.api import openai_compat, rest

    s: Settings = qa.settings
    app = FastAPI(
        title="qa",
        version=_version(),
        summary="Cited answers and summaries over a library of news articles.",
        description="REST under /api/v1 and an OpenAI-compatible chat API under /v1. Errors are "
        '`{"error": {"code", "message", "type", "param"}}`. With QA_API_TOKEN set, send '
        "`Authorization: Bearer <token>`.",
    )
    limiter = Limiter(s.api_concurrency, s.api_queue)
    app.state.limiter = limiter  # one bound shared by every face (MOUNTS take it from here)
    errors.install(app, s)
    app.include_router(rest.router(qa, limiter, _version()))
    app.include_router(openai_compat.router(qa, limiter))
    app.state.limiter = limiter  # mounted faces (MCP) share the API's bounded queue
    _mount_faces(app, qa)
    if s.api_token:
        app.add_middleware(BearerAuth, token=s.api_token)
    if s.cors_origins:  # added last, so outermost: preflights are answered before auth
        app.add_middleware(
            CORSMiddleware, allow_origins=s.cors_origins, allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
        )
    if web:
        from qa.web.app import build_app, launch_options

        # Every option Blocks.launch took carries over to the mount: login, upload limit,
        # theme, CSS, footer, errors hidden. The queue was configured by build_app itself.
        gr.mount_gradio_app(app, build_app(qa), path="/", **launch_options(qa))
    return app


def serve(qa: QA) -> None:
    """Serve the web app and the APIs at settings.host:settings.port until interrupted."""
    import uvicorn

    from qa.ingest.feeds import start_feed_scheduler
    from qa.web.app import exposed_warning

    s = qa.settings
    warning = exposed_warning(s)
    if warning:
        print(warning, file=sys.stderr)
    app = build_server(qa)
    start_feed_scheduler(qa)  # every QA_FEED_REFRESH_MINUTES (0, the default: never)
    print(f"qa: serving the web app at http://{s.host}:{s.port}/ and the APIs at /api/v1 and /v1 "
          "(schema: /docs)", file=sys.stderr, flush=True)
    # Like Gradio's own server: warnings only, no access log (one line per request would bury
    # the one-line messages that say what went wrong for a user).
    # A bounded graceful stop: open streams (the web app's queue, SSE clients) would otherwise
    # hold the process after Ctrl-C or SIGTERM until every client hung up.
    uvicorn.run(app, host=s.host, port=s.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=10)
