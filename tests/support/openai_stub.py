"""A loopback HTTP server that speaks OpenAI's chat-completions protocol, scripted per test.

The real `openai` client (through `ChatOpenAI`) talks to it over a socket, so retries, timeouts,
SSE streaming and error statuses are exercised end to end without a key or the internet.

    with OpenAIStub() as stub:
        stub.enqueue(status(429), "Paris is the capital [S1].")
        model = ChatOpenAI(base_url=stub.base_url, api_key="x", max_retries=1)
        ...
        assert stub.requests[0]["model"] == "gpt-4o-mini"

Each request takes the next scripted `Reply`; a reply marked `repeat=True` is never used up
(`stub.enqueue(status(500, repeat=True))` fails every call). An empty queue answers 500 with a
message saying so, which makes a missing script obvious in the failing test's output.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAIStub", "Reply", "malformed", "slow", "status", "text"]


@dataclass
class Reply:
    """One scripted answer: a text (the default), an HTTP error status, or a raw body."""

    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (longer than the timeout -> timeout)
    raw: str | None = None  # sent as the body as it is, e.g. malformed JSON
    prompt_tokens: int | None = None  # reported usage; None -> a rough count of the request
    repeat: bool = False


def text(content: str, **kw: Any) -> Reply:
    return Reply(text=content, **kw)


def status(code: int, *, repeat: bool = False) -> Reply:
    return Reply(status=code, repeat=repeat)


def slow(seconds: float, content: str = "too late") -> Reply:
    return Reply(text=content, delay=seconds)


def malformed() -> Reply:
    return Reply(raw='{"id": "chatcmpl-x", "choices": [ {"message": ')


_ERRORS = {
    401: ("Incorrect API key provided: sk-wrong.", "invalid_request_error", "invalid_api_key"),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
}


class OpenAIStub:
    """The server; `base_url` ends in /v1 like OpenAI's, `requests` holds every body received."""

    def __init__(self, model_name: str = "stub-model") -> None:
        self.model_name = model_name
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping on a scripted delay
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- script -------------------------------------------------------------------------------
    def enqueue(self, *replies: Reply | str) -> None:
        with self._lock:
            for r in replies:
                self._queue.append(text(r) if isinstance(r, str) else r)

    def _next(self) -> Reply:
        with self._lock:
            if not self._queue:
                return Reply(status=500, raw=_error_body("stub: no scripted reply left", "stub"))
            reply = self._queue[0]
            if not reply.repeat:
                self._queue.popleft()
            return reply

    def prompt_text(self, i: int = -1) -> str:
        """All message contents of request `i`, joined: what the model was shown."""
        return "\n".join(str(m.get("content", "")) for m in self.requests[i]["messages"])


def _error_body(message: str, type_: str, code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _usage(stub_reply: Reply, body: dict[str, Any], content: str) -> dict[str, int]:
    # A rough count is enough: tests compare usage end to end, not tokenizer accuracy.
    prompt = stub_reply.prompt_tokens
    if prompt is None:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(content.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _pieces(content: str) -> list[str]:
    # Word-sized pieces split citation markers across chunks, as real servers do.
    return [p for p in re.split(r"(\s+|\[)", content) if p]


def _handler_for(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep pytest output clean

        def do_POST(self) -> None:  # noqa: N802
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout) before the scripted reply was sent

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw_body = self.rfile.read(length)
            try:
                body = json.loads(raw_body or b"{}")
            except json.JSONDecodeError:
                body = {"_unparsed": raw_body.decode("utf-8", "replace")}
            with stub._lock:
                stub.requests.append(body)
                stub.headers.append({k.lower(): v for k, v in self.headers.items()})
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, _error_body(f"stub: no route {self.path}", "invalid_request_error"))
                return

            reply = stub._next()
            if reply.delay and stub._closing.wait(reply.delay):
                return
            if reply.raw is not None:
                self._send(reply.status, reply.raw)
            elif reply.status != 200:
                message, type_, code = _ERRORS.get(
                    reply.status, (f"Server error {reply.status}.", "server_error", None)
                )
                self._send(reply.status, _error_body(message, type_, code))
            elif body.get("stream"):
                self._stream(reply, body)
            else:
                self._send(200, json.dumps(self._completion(reply, body)))

        def _completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", stub.model_name),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": _usage(reply, body, reply.text),
            }

        def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            base = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", stub.model_name),
            }

            def event(payload: dict[str, Any] | str) -> None:
                data = payload if isinstance(payload, str) else json.dumps(payload)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()

            first = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            event({**base, "choices": [{**first, "finish_reason": None}]})
            for piece in _pieces(reply.text):
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                event({**base, "choices": [delta]})
            event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                event({**base, "choices": [], "usage": _usage(reply, body, reply.text)})
            event("[DONE]")
            self.close_connection = True

        def _send(self, code: int, payload: str) -> None:
            data = payload.encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            # Retries in tests should cost milliseconds, not the client's 0.5 s backoff.
            self.send_header("retry-after-ms", "10")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    return Handler
