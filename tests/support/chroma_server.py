"""A real Chroma server for tests: `chroma run` from the installed package, on a free loopback port.

    with chroma_server(tmp_path / "chroma") as server:
        qa = QA(Settings(chroma_url=server.url, ...))
        server.restart()      # same data folder, same port
        server.kill()         # SIGKILL, as a crash would

Used by tests/integration/test_server_mode.py and tests/unit/test_transfer.py; skips when the CLI is missing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMA = Path(sys.executable).with_name("chroma")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """One `chroma run` process over a data folder; stop/start/restart keep the folder and port."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = Path(path)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.path.parent / f"{self.path.name}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def heartbeat(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=timeout) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        if not CHROMA.exists():
            pytest.skip(f"{CHROMA} is missing (chromadb's CLI)")
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
                start_new_session=True,  # a signal to the test run does not reach the server
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.heartbeat():
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.proc.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"chroma run did not answer within {START_TIMEOUT:.0f}s; see {self.log}")
            time.sleep(0.1)

    def _signal(self, sig: int, wait: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        self._signal(signal.SIGTERM, 10)

    def kill(self) -> None:
        """SIGKILL: the server dies mid-request, as in a crash."""
        self._signal(signal.SIGKILL, 10)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@contextmanager
def chroma_server(path: Path, port: int | None = None) -> Iterator[ChromaServer]:
    server = ChromaServer(path, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class AuthProxy:
    """A loopback reverse proxy that lets through only requests carrying `Authorization: Bearer
    <token>` (or `X-Chroma-Token: <token>`), answering 401 otherwise.

    Chroma 1.x's own server has no authentication; its documentation puts a proxy (Envoy, nginx)
    in front of it for that. This stands in for such a proxy, to show what qa sends.
    """

    def __init__(self, upstream: str, token: str) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        target = urlparse(upstream)
        self.seen: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _forward(self) -> None:
                got = self.headers.get("Authorization")
                proxy.seen.append(got)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if got != f"Bearer {token}" and self.headers.get("X-Chroma-Token") != token:
                    payload = b'{"error":"Unauthorized","message":"missing or wrong token"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
