"""Errors of the HTTP APIs: every failure becomes one JSON shape, mapped in this one place.

    {"error": {"code": "not_found", "message": "No article 'x'.", "type": "not_found_error",
               "param": null}}

`code` is stable (clients branch on it) and `message` names the problem. `type` and `param`
make the same body OpenAI's error shape, so the openai SDK raises its own exception classes
(AuthenticationError, NotFoundError, RateLimitError...) from it. No traceback ever reaches a
client: an unexpected exception is logged with its traceback and answered with a 500 that says
only that the server failed.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import (
    ConfigError,
    EmbedderError,
    InputError,
    LLMError,
    NotFoundError,
    QAError,
    StoreError,
)
from qa.settings import Settings

__all__ = [
    "ApiError", "ErrorBody", "ErrorDetail", "error_response", "install", "no_route", "status_of",
]

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    type: str
    param: str | None = None


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the API itself raises (auth, overload, unknown model), with its status and code."""

    def __init__(
        self, status: int, code: str, message: str, *, param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.param, self.headers = status, code, param, headers or {}


# QAError subclasses, most specific first: (status, code, OpenAI-style type).
_QA_ERRORS: list[tuple[type[QAError], int, str, str]] = [
    (InputError, 400, "bad_input", "invalid_request_error"),
    (NotFoundError, 404, "not_found", "not_found_error"),
    (LLMError, 502, "model_provider_error", "api_error"),
    (EmbedderError, 503, "embedder_unavailable", "api_error"),
    (StoreError, 503, "store_unavailable", "api_error"),
    (ConfigError, 500, "server_misconfigured", "server_error"),
]
_TYPE_OF_STATUS = {
    400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
    405: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error",
    429: "rate_limit_error",
}


def status_of(exc: QAError) -> tuple[int, str, str]:
    """(HTTP status, code, type) for a QAError."""
    for cls, status, code, type_ in _QA_ERRORS:
        if isinstance(exc, cls):
            return status, code, type_
    return 500, "qa_error", "server_error"


def error_response(
    status: int, code: str, message: str, *, type_: str | None = None, param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(
        code=code, message=message, type=type_ or _TYPE_OF_STATUS.get(status, "api_error"), param=param,
    ))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def qa_error_response(settings: Settings, exc: QAError, where: str) -> JSONResponse:
    """The answer for a QAError, with one line in the log (no traceback: it is not a bug)."""
    from qa.web.common import without_server_paths

    status, code, type_ = status_of(exc)
    level = logging.INFO if status < 500 else logging.WARNING
    logger.log(level, "%s: %s: %s", where, type(exc).__name__, " ".join(str(exc).split()))
    return error_response(status, code, without_server_paths(settings, exc.user_message()), type_=type_)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """One readable line per problem, naming the field: "body.question: Field required"."""
    parts: list[str] = []
    first: str | None = None
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        first = first or loc
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is not valid.", first


def install(app: FastAPI, settings: Settings) -> None:
    """Register the handlers that turn every exception into the JSON error shape."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc), param=exc.param, headers=exc.headers)

    @app.exception_handler(QAError)
    async def _qa(request: Request, exc: QAError) -> JSONResponse:
        return qa_error_response(settings, exc, f"{request.method} {request.url.path}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(422, "invalid_request", message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "route_not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error")
        message = str(exc.detail) if exc.status_code != 404 else f"No route {request.url.path}."
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal_error", "The server failed to answer; see its log.")


def no_route(router: Any) -> None:
    """Register, last on `router`, a catch-all that answers 404 `route_not_found` in the API's
    shape: without it, the web app mounted at "/" would answer an unknown API path."""

    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    async def _no_route(request: Request, path: str) -> None:
        raise ApiError(404, "route_not_found",
                       f"No route {request.method} {request.url.path}; the routes are listed at /docs.")


def openapi_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its error statuses documented with ErrorBody."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, "Error")} for s in statuses}


_DESCRIPTIONS = {
    400: "Bad input (code bad_input)", 401: "Missing or wrong bearer token (code unauthorized)",
    404: "No such article or model", 422: "The body does not match the schema (invalid_request)",
    429: "Too many requests in flight; retry after Retry-After seconds (code overloaded)",
    502: "The model provider failed (code model_provider_error)",
    503: "The store or the embedder is unavailable",
}
