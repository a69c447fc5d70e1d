"""The chat model: the only module that knows providers (OpenAI and OpenAI-compatible servers).

`chat_model(settings)` returns a LangChain `ChatOpenAI` that works unchanged against OpenAI,
vLLM, Ollama, llama.cpp's server or LM Studio: only OPENAI_BASE_URL differs. The rest of qa
calls the model through `complete` and `stream`, which turn provider exceptions into `LLMError`
with a message that names the setting to fix, and report token usage:

    model = chat_model(settings)
    reply = complete(model, messages, settings)     # ModelReply(text, prompt_tokens, ...)
    for piece in stream(model, messages, settings):  # str pieces, then one ModelReply
        ...

Retries on 429 and 5xx are the openai client's own (exponential backoff honouring Retry-After),
`settings.llm_max_retries` times; an error reaching us has already been retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import SecretStr

from qa.errors import ConfigError, LLMError
from qa.settings import Settings

__all__ = [
    "MAX_OUTPUT_TOKENS",
    "PRICES_PER_MILLION",
    "ModelReply",
    "chat_model",
    "complete",
    "estimate_cost",
    "provider_error",
    "stream",
]

logger = logging.getLogger(__name__)

# Room kept free in the model's window for the reply; also sent as the reply's token limit, so a
# prompt packed to `model_window - MAX_OUTPUT_TOKENS` can never overflow the window.
MAX_OUTPUT_TOKENS = 1024

# Local servers ignore the key but the openai client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"

OPENAI_URL = "https://api.openai.com/v1"

# USD per million tokens (input, output), OpenAI's standard tier as published in 2025. Only for
# an estimate shown to the user; unknown (e.g. local) models get no cost at all.
PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4": (30.00, 60.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}


def chat_model(settings: Settings) -> BaseChatModel:
    """A `ChatOpenAI` configured from settings; raises ConfigError when no endpoint is set."""
    from langchain_openai import ChatOpenAI

    if not settings.llm_configured:
        raise ConfigError(
            "LLM mode needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL "
            "(for a local OpenAI-compatible server such as vLLM, Ollama or llama.cpp)."
        )
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=SecretStr(settings.openai_api_key or PLACEHOLDER_KEY),
        base_url=settings.openai_base_url,
        temperature=settings.llm_temperature,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        max_completion_tokens=MAX_OUTPUT_TOKENS,
        # Local servers speak chat completions, not OpenAI's newer Responses API.
        use_responses_api=False,
        # LangChain turns usage reporting off for custom base URLs; vLLM, llama.cpp, Ollama and
        # LM Studio accept stream_options, and without it a streamed answer has no token count.
        stream_usage=True,
    )


def estimate_cost(model_name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost in USD of one call by a known OpenAI model, None for any other model."""
    name = model_name.lower().removeprefix("openai/")
    # Longest prefix first: "gpt-4o-mini-2024-07-18" is gpt-4o-mini, not gpt-4o.
    for key in sorted(PRICES_PER_MILLION, key=len, reverse=True):
        if name == key or name.startswith(key + "-"):
            price_in, price_out = PRICES_PER_MILLION[key]
            return round((prompt_tokens * price_in + completion_tokens * price_out) / 1e6, 10)
    return None


@dataclass
class ModelReply:
    """What the model said, with token usage when the server reported it."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    problem: str | None = None  # why the reply is unusable (malformed, empty), if it is

    @property
    def tokens(self) -> dict[str, int] | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return {"prompt": self.prompt_tokens or 0, "completion": self.completion_tokens or 0}

    def cost(self, model_name: str) -> float | None:
        if self.tokens is None:
            return None
        return estimate_cost(model_name, self.tokens["prompt"], self.tokens["completion"])


def complete(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    settings: Settings,
    config: RunnableConfig | None = None,
) -> ModelReply:
    """One model call; provider errors become LLMError, an unreadable reply sets `problem`."""
    try:
        message = model.invoke(list(messages), config=config)
    except Exception as exc:
        return _reply_or_raise(exc, settings)
    return _reply(message)


def stream(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    settings: Settings,
    config: RunnableConfig | None = None,
) -> Iterator[str | ModelReply]:
    """Text pieces as the server sends them, then one ModelReply with the whole text."""
    total: AIMessageChunk | None = None
    try:
        for chunk in model.stream(list(messages), config=config):
            if not isinstance(chunk, AIMessageChunk):  # pragma: no cover - LangChain contract
                continue
            total = chunk if total is None else total + chunk
            piece = _text(chunk.content)
            if piece:
                yield piece
    except Exception as exc:
        yield _reply_or_raise(exc, settings)
        return
    yield _reply(total) if total is not None else ModelReply("", problem="empty reply")


def _reply_or_raise(exc: Exception, settings: Settings) -> ModelReply:
    if _is_malformed(exc):
        logger.warning("unreadable reply from the model server: %s", exc)
        return ModelReply("", problem="the model server sent a malformed reply")
    error = provider_error(exc, settings)
    if error is None:
        raise exc
    raise error from exc


def _reply(message: AIMessage) -> ModelReply:
    usage: dict[str, Any] = dict(message.usage_metadata or {})
    text = _text(message.content)
    return ModelReply(
        text=text,
        prompt_tokens=usage.get("input_tokens"),
        completion_tokens=usage.get("output_tokens"),
        problem=None if text.strip() else "empty reply",
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: keep the text ones
        parts = [
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
        ]
        return "".join(parts)
    return ""


def _is_malformed(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError)


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    # Mid-stream failures can surface as raw HTTP-library errors, not openai's own.
    timeouts: list[type[BaseException]] = [TimeoutError]
    transports: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transports.append(module.TransportError)
    return tuple(timeouts), tuple(transports)


def provider_error(exc: BaseException, settings: Settings) -> LLMError | None:
    """The LLMError a user can act on for a provider exception; None if `exc` is not one."""
    import openai

    url = settings.openai_base_url or OPENAI_URL
    retries = settings.llm_max_retries
    after = f"after {retries} retr{'y' if retries == 1 else 'ies'} (QA_LLM_MAX_RETRIES)"
    timeouts, transports = _transport_errors()

    error: LLMError
    if isinstance(exc, openai.AuthenticationError):
        error = LLMError(
            f"The model server at {url} rejected the API key (HTTP 401). "
            "Check OPENAI_API_KEY (a local server needs OPENAI_BASE_URL, and any key).",
        )
    elif isinstance(exc, openai.PermissionDeniedError):
        error = LLMError(
            f"The API key may not use model '{settings.llm_model}' (HTTP 403). "
            "Check OPENAI_API_KEY and QA_LLM_MODEL."
        )
    elif isinstance(exc, openai.NotFoundError):
        error = LLMError(
            f"Model '{settings.llm_model}' was not found at {url} (HTTP 404). "
            "Check QA_LLM_MODEL, and that OPENAI_BASE_URL ends with the API root (often /v1)."
        )
    elif isinstance(exc, openai.RateLimitError):
        error = LLMError(
            f"The model server is rate limiting us (HTTP 429) {after}. "
            "Wait a minute and try again, or check the account's quota.",
        )
        error.retryable = True
    elif isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        error = LLMError(
            f"The model server at {url} failed with HTTP {exc.status_code} {after}. "
            "Try again later.",
        )
        error.retryable = True
    elif isinstance(exc, openai.BadRequestError):
        detail = _detail(exc)
        error = LLMError(f"The model server refused the request (HTTP 400): {detail}")
        if "context" in detail.lower() or "token" in detail.lower():
            error.help = "Lower QA_CONTEXT_TOKENS, or set QA_MODEL_WINDOW to the model's window."
    elif isinstance(exc, openai.APIStatusError):
        error = LLMError(f"The model server answered HTTP {exc.status_code}: {_detail(exc)}")
    elif isinstance(exc, (openai.APITimeoutError, *timeouts)):
        error = LLMError(
            f"The model did not answer within {settings.llm_timeout:g} s (QA_LLM_TIMEOUT) {after}."
            " Raise QA_LLM_TIMEOUT for a slow local model, or try again.",
        )
        error.retryable = True
    elif isinstance(exc, (openai.APIConnectionError, *transports)):
        error = LLMError(
            f"Could not connect to the model server at {url}. Check OPENAI_BASE_URL and that "
            "the server is running.",
        )
        error.retryable = True
    else:
        return None
    return error


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(getattr(exc, "message", exc))
