"""`qa serve` and `qa` commands as real processes, for tests where several processes share one
library: each gets the same QA_HOME (and QA_CHROMA_URL when a Chroma server is in use)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.chroma_server import free_port
from tests.support.paths import SEED


def qa_env(home: Path, chroma_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update({"QA_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra})
    if chroma_url:
        env["QA_CHROMA_URL"] = chroma_url
    return env


def run_qa(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`qa ARGS` in a process of its own; the result, whatever its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def seeded_env(home: Path, **extra: str) -> dict[str, str]:
    """`qa_env` over a new library at `home` holding the seed article (ingested by `qa ingest`)."""
    env = qa_env(home, **extra)
    ingested = run_qa(env, "ingest", "-q", str(SEED))
    assert ingested.returncode == 0, ingested.stderr
    return env


class QAServer:
    """A running `qa serve` process; `log()` is what it printed so far."""

    def __init__(self, proc: subprocess.Popen[str], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def qa_serve(env: dict[str, str], log_path: Path, timeout: float = 120) -> Iterator[QAServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    server = QAServer(proc, url, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"qa serve exited {proc.returncode}:\n{server.log()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"qa serve did not answer in {timeout}s:\n{server.log()}") from None
                time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
