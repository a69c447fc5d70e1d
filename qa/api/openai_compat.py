"""The OpenAI-compatible API under /v1, for chat front ends and the openai SDK, citations kept.

    POST /v1/chat/completions     (stream: true -> SSE chunks, then `data: [DONE]`)
    GET  /v1/models, /v1/models/{id}

The last message must be the user's: it is the question; the earlier user and assistant turns
are the conversation it follows (qa.answer.conversation condenses a follow-up such as "and what
about Georgia?" into a standalone question). System prompts are ignored: qa answers only from
its articles, with its own prompt. The reply's content is the cited answer ("... [1]."), or
the fixed phrase (qa.types.ABSTAIN_PHRASE) when the articles do not answer, never an error.

Each citation marker in the content becomes one of OpenAI's own annotations, so a client that
shows `url_citation`s shows qa's sources without knowing qa:

    {"type": "url_citation", "url_citation": {"start_index": 52, "end_index": 55,
     "url": "<the article's url, else http://host/api/v1/articles/<doc_id>#s<index>>",
     "title": "<the article's title>"}}

and `message.citations` (an extra field) lists each cited sentence: n, doc_id, sentence_id,
start, end (its span in the article's text), text, title, url.

Models: `qa` answers in the server's mode, `qa-extractive` offline, `qa-llm` through the
configured model (listed only when one is). Another name is a 404 `model_not_found`.

Streaming: offline, the cited sentences are sent as they are chosen. In LLM mode the model's raw
text carries its own [S#] markers, which the citation check renumbers or removes once the reply
is complete, so the checked content is sent whole at the end (keep-alive comments go first):
streamed deltas always join into exactly the content the annotations' offsets point into. The
last chunk carries the annotations and the citations in its delta, with finish_reason "stop".
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from qa.answer.conversation import Conversation
from qa.api.errors import ApiError, ErrorBody, ErrorDetail, no_route, openapi_errors, status_of
from qa.api.rest import sse_pieces
from qa.api.schemas import (
    Annotation,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CitedSentence,
    ModelCard,
    ModelList,
    UrlCitation,
    Usage,
)
from qa.errors import InputError, QAError
from qa.types import Answer, Citation
from qa.web.common import mode_kwargs, without_server_paths

if TYPE_CHECKING:
    from qa.api.server import Limiter
    from qa.service import QA

__all__ = ["MODELS", "cited_message", "router"]

logger = logging.getLogger(__name__)

MODELS = {"qa": None, "qa-extractive": "extractive", "qa-llm": "llm"}  # id -> mode
_MARKER = re.compile(r"\[(\d+)\]")


def served_models(qa: QA) -> list[str]:
    return [m for m, mode in MODELS.items() if mode != "llm" or qa.settings.llm_configured]


def _mode(qa: QA, model: str) -> str | None:
    if model not in served_models(qa):
        raise ApiError(404, "model_not_found",
                       f"The model {model!r} does not exist here; this server serves "
                       + ", ".join(served_models(qa)) + ".", param="model")
    return MODELS[model]


def conversation(body: ChatCompletionRequest) -> tuple[Conversation, str]:
    """The earlier turns as a Conversation, and the question (the last user message)."""
    *history, last = body.messages
    if last.role != "user" or not last.text().strip():
        raise InputError("The last message must be the user's question (role 'user', with text).")
    conv = Conversation()
    question: str | None = None
    for m in history:
        if m.role == "user":
            question = m.text()
        elif m.role == "assistant" and question is not None:
            # Earlier standalone questions are rebuilt by the offline heuristic: asking the
            # model again for each past turn would cost a call per turn on every request.
            standalone = conv.standalone(question)
            conv.add(question, standalone, Answer(question=standalone, answer=m.text(),
                                                  abstained=False))
            question = None
    return conv, last.text()


def _sentence_link(base: str, c: Citation) -> str:
    index = c.sentence_id.rsplit("#", 1)[-1]
    return f"{base}/api/v1/articles/{quote(c.doc_id, safe='')}#s{index}"


def cited_message(qa: QA, answer: Answer, base: str) -> AssistantMessage:
    """The answer as an assistant message: content, url_citation annotations, citations.
    Blocking (reads the cited articles' URLs)."""
    urls: dict[str, str | None] = {}
    for c in answer.citations:
        if c.doc_id not in urls:
            try:
                urls[c.doc_id] = qa.get(c.doc_id).url
            except QAError:  # deleted since it was cited: the qa link still names it
                urls[c.doc_id] = None
    cited = [
        CitedSentence(n=c.n, doc_id=c.doc_id, sentence_id=c.sentence_id, start=c.start, end=c.end,
                      text=c.text, title=c.title or c.doc_id,
                      url=urls.get(c.doc_id) or _sentence_link(base, c))
        for c in answer.citations
    ]
    by_n = {c.n: c for c in cited}
    content = answer.answer
    annotations = [
        Annotation(url_citation=UrlCitation(start_index=m.start(), end_index=m.end(),
                                            url=by_n[int(m.group(1))].url,
                                            title=by_n[int(m.group(1))].title))
        for m in _MARKER.finditer(content)
        if int(m.group(1)) in by_n
    ]
    return AssistantMessage(content=content, annotations=annotations, citations=cited)


def _usage(answer: Answer, question: str) -> Usage:
    tokens = answer.tokens or {}
    prompt = int(tokens.get("prompt", tokens.get("prompt_tokens", 0)) or len(question.split()))
    completion = int(tokens.get("completion", tokens.get("completion_tokens", 0))
                     or len(answer.answer.split()))
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def router(qa: QA, limiter: Limiter) -> APIRouter:
    """The OpenAI-compatible routes over `qa`, their work bounded by `limiter`."""
    api = APIRouter(prefix="/v1", tags=["openai"], responses=openapi_errors(401, 422, 429))

    def kwargs_for(body: ChatCompletionRequest) -> dict[str, Any]:
        mode = _mode(qa, body.model)
        return {"k": body.k, "sources": body.sources, "since": body.since, "until": body.until,
                "as_of": body.as_of, **mode_kwargs(qa.settings, mode)}

    @api.get("/models", response_model=ModelList)
    async def models() -> ModelList:
        """The model ids this server answers as."""
        return ModelList(data=[ModelCard(id=m) for m in served_models(qa)])

    @api.get("/models/{model}", response_model=ModelCard, responses=openapi_errors(404))
    async def model(model: str) -> ModelCard:
        _mode(qa, model)
        return ModelCard(id=model)

    @api.post("/chat/completions", response_model=ChatCompletion,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "ChatCompletion JSON, or with stream: true "
                               "chat.completion.chunk events ending in [DONE]."},
                         **openapi_errors(400, 404, 502, 503)})
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        """A cited answer to the last user message, following the earlier turns."""
        kwargs = kwargs_for(body)
        conv, question = conversation(body)
        base = str(request.base_url).rstrip("/")
        created, cid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            async with limiter.admit():
                answer: Answer = await run_in_threadpool(qa.chat, conv, question, **kwargs)
                message = await run_in_threadpool(cited_message, qa, answer, base)
            return ChatCompletion(id=cid, created=created, model=body.model,
                                  choices=[Choice(message=message)], usage=_usage(answer, question))
        return await _stream(body, conv, question, kwargs, base, created, cid)

    async def _stream(body: ChatCompletionRequest, conv: Conversation, question: str,
                      kwargs: dict[str, Any], base: str, created: int, cid: str) -> Any:
        slot = limiter.admit()
        await slot.__aenter__()
        try:
            # Condensed first, outside the stream, so that bad input is refused with a status.
            live = (kwargs.get("mode") or qa.settings.resolved_mode()) == "extractive"
            first, rest = await sse_pieces(qa.chat_stream(conv, question, **kwargs))
        except BaseException:
            slot.close()
            raise

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, str]:
            data = {"id": cid, "object": "chat.completion.chunk", "created": created,
                    "model": body.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                 "logprobs": None}]}
            return {"data": json.dumps(data)}

        async def events() -> AsyncIterator[dict[str, str]]:
            try:
                yield chunk({"role": "assistant", "content": ""})
                sent = ""
                piece = first
                while True:
                    if isinstance(piece, Answer):
                        message = await run_in_threadpool(cited_message, qa, piece, base)
                        if not message.content.startswith(sent):  # offline pieces are the content
                            logger.warning("streamed pieces differ from the answer %r", question)
                            sent = message.content
                        if message.content[len(sent):]:
                            yield chunk({"content": message.content[len(sent):]})
                        final = message.model_dump(mode="json", include={"annotations", "citations"})
                        yield chunk(final, "stop")
                        break
                    if live:
                        sent += piece
                        yield chunk({"content": piece})
                    try:
                        piece = await rest.__anext__()
                    except StopAsyncIteration:
                        break
                yield {"data": "[DONE]"}
            except QAError as exc:
                _, code, type_ = status_of(exc)
                detail = ErrorDetail(code=code, type=type_, message=without_server_paths(
                    qa.settings, exc.user_message()))
                yield {"data": ErrorBody(error=detail).model_dump_json()}
            finally:
                slot.close()

        return EventSourceResponse(events(), ping=5, sep="\n", background=BackgroundTask(slot.close))

    no_route(api)  # last: it matches every path under the prefix
    return api
