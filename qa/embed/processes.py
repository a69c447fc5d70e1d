"""The local encoder in processes of its own, so that an ingest can split and write meanwhile.

Why processes and not a thread: Chroma's embedded client holds the GIL for the whole of a write
(a 2,500-record upsert is a second or more), so an encoder thread stalls at every step that needs
Python between two ONNX Runtime runs. Why one single-threaded process per core and not one
process using every core: the ingesting process keeps one core busy part of the time, and an
ONNX Runtime run split over two threads waits at every operator for the thread that lost its
core (the timings that decided this are in bench/reports/2026-11-25/session3/).

The worker is started with `python -m qa.embed.processes` (not multiprocessing's spawn, which
re-imports the caller's `__main__` and so re-runs any script without a main guard) and speaks
pickle over its stdin and stdout: requests and answers in order, one at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

from qa.embed.base import Encode, Encoded, Span
from qa.embed.local import LocalEmbedder
from qa.errors import EmbedderError


class EncoderProcess:
    """`embed_chunks` of a LocalEmbedder's model, run in a child process; `submit` returns at once.

    >>> with EncoderProcess(embedder) as enc:            # doctest: +SKIP
    ...     future = enc.submit(chunks, spans)
    ...     chunk_vectors, sentence_vectors = future.result()
    """

    def __init__(self, embedder: LocalEmbedder, threads: int = 1) -> None:
        spec = {
            "batch_size": embedder.batch_size,
            "encoder": embedder.encoder,
            "cache_dir": str(embedder.cache_dir),
            "threads": threads,
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "qa.embed.processes", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._waiting: deque[Future[Encoded]] = deque()
        self._lock = threading.Lock()
        self._stderr: deque[bytes] = deque(maxlen=20)
        self._closed = False
        threading.Thread(target=self._read_answers, daemon=True, name="qa-encoder-reader").start()
        threading.Thread(target=self._read_stderr, daemon=True, name="qa-encoder-stderr").start()

    def submit(self, chunks: Sequence[str], spans: Sequence[Sequence[Span]]) -> Future[Encoded]:
        future: Future[Encoded] = Future()
        assert self._proc.stdin is not None
        with self._lock:
            if self._proc.poll() is not None:
                future.set_exception(self._died())
                return future
            self._waiting.append(future)
            try:
                pickle.dump((list(chunks), [list(s) for s in spans]), self._proc.stdin, protocol=5)
                self._proc.stdin.flush()
            except OSError:  # the worker is gone; _read_answers fails the futures
                pass
        return future

    def close(self, kill: bool = False) -> None:
        """Let the worker finish what it was given and exit (or, with `kill`, stop it now)."""
        if self._closed:
            return
        self._closed = True
        if kill:
            self._proc.kill()
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> EncoderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the parent's side of the pipe ----------------------------------------------------
    def _read_answers(self) -> None:
        out = self._proc.stdout
        assert out is not None
        while True:
            try:
                ok, value = pickle.load(out)
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            with self._lock:
                future = self._waiting.popleft()
            if ok:
                future.set_result(value)
            else:
                future.set_exception(EmbedderError(f"The encoder process failed: {value}"))
        self._proc.wait()
        with self._lock:
            while self._waiting:
                self._waiting.popleft().set_exception(self._died())

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def _died(self) -> EmbedderError:
        tail = b"".join(self._stderr).decode(errors="replace").strip()
        return EmbedderError(
            f"The encoder process stopped (exit code {self._proc.returncode})"
            + (f": {tail.splitlines()[-1]}" if tail else ".")
        )


MAX_PROCESSES = 4  # each holds the model (~100 MB); more rarely pays on a laptop-sized machine


@contextlib.contextmanager
def encoder_processes(embedder: LocalEmbedder, processes: int | None = None) -> Iterator[Encode]:
    """`embed_chunks` of `embedder`'s model spread over single-threaded processes (default: one
    per core, at most MAX_PROCESSES), taking calls in turn; stopped on leaving the block."""
    cores = os.cpu_count() or 1
    n = processes or max(1, min(cores, MAX_PROCESSES))
    workers = [EncoderProcess(embedder, threads=max(1, cores // n)) for _ in range(n)]
    turn = itertools.cycle(workers)
    try:
        yield lambda chunks, spans: next(turn).submit(chunks, spans)
    except BaseException:
        for w in workers:  # their queued work is of no use now
            w.close(kill=True)
        raise
    for w in workers:
        w.close()


def _die_with_parent() -> None:
    """Have Linux kill this worker when the process that started it dies (a SIGKILLed ingest
    would otherwise leave it encoding the groups it was given, a few seconds, for nobody)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere it stops at the end of its current group, on reading the closed pipe
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _serve(spec: dict[str, Any], requests: IO[bytes], answers: IO[bytes]) -> None:
    embedder = LocalEmbedder(
        batch_size=int(spec["batch_size"]),
        encoder=spec["encoder"],
        cache_dir=Path(spec["cache_dir"]),
        threads=int(spec["threads"]),
    )
    while True:
        try:
            chunks, spans = pickle.load(requests)
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, embedder.embed_chunks(chunks, spans))
        except Exception as exc:  # reported to the parent, which raises it where it waits
            answer = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(answer, answers, protocol=5)
        answers.flush()


if __name__ == "__main__":
    # The pipe is the original stdout; anything a library prints goes to stderr instead.
    _die_with_parent()
    pipe = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(json.loads(sys.argv[1]), sys.stdin.buffer, pipe)
