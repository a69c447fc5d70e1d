"""File locks under QA_HOME: one process opening an embedded store at a time, one writer at a time.

Chroma has no locks of its own across processes. Two processes creating a new embedded store at
once race in its schema set-up, and two writers would interleave their versions and their notes
in the journal of pending writes; so qa takes `open.lock` while opening and `write.lock` while
writing. The write lock also records the writer's pid, which is how the next process learns that
a writer was killed mid-write (`qa.store.rebuild`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qa.errors import StoreError

OPEN_LOCK = "open.lock"
WRITE_LOCK = "write.lock"


def flock(fh: Any, wait: float, poll: float, on_timeout: Callable[[], Exception]) -> None:
    """An exclusive lock on an open file, polled every `poll` s for up to `wait` s (a blocking
    flock could not time out), then the error `on_timeout` makes."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise on_timeout() from None
            time.sleep(poll)


@contextlib.contextmanager
def opening(home: Path, wait: float) -> Iterator[None]:
    """Open an embedded store one process at a time: two processes creating a new store at once
    race in Chroma's schema set-up ("table collections already exists"). Held only while opening,
    so readers never wait for a writer's whole ingest."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / OPEN_LOCK, "a+") as fh:
        flock(
            fh,
            wait,
            0.05,
            lambda: StoreError(f"Another qa process has been opening {home} for too long."),
        )
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class WriteLock:
    """One writer at a time per QA_HOME, across processes; re-entrant within a thread.

    The file lock is `write.lock` under QA_HOME and holds the writer's pid while it writes; a
    writer that finishes empties the file, so a pid found there means a killed writer. `guard`
    is the in-process side: the thread that holds it is the one that may re-enter.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / WRITE_LOCK
        self.guard = threading.RLock()
        self.depth = 0

    @property
    def held(self) -> bool:
        return self.depth > 0

    @contextlib.contextmanager
    def hold(self, wait: float, on_acquire: Callable[[bool], None]) -> Iterator[None]:
        """Hold the lock, waiting up to `wait` s for another process's writer and then raising
        StoreError; `on_acquire(killed)` runs once the file lock is taken (not on re-entry),
        `killed` telling whether the last writer left its pid behind."""
        with self.guard:
            if self.depth:
                self.depth += 1
                try:
                    yield
                finally:
                    self.depth -= 1
                return
            self.home.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+") as fh:
                flock(
                    fh,
                    wait,
                    0.1,
                    lambda: StoreError(
                        f"Another qa process is writing to {self.home} "
                        f"(waited {wait:.0f}s for {self.path}).",
                        help="Wait for it to finish, or use a Chroma server (QA_CHROMA_URL).",
                    ),
                )
                self.depth = 1
                try:
                    fh.seek(0)
                    killed = bool(fh.read().strip())
                    mark(fh, str(os.getpid()))
                    on_acquire(killed)
                    yield
                finally:
                    self.depth = 0
                    # An empty lock file tells the next process that this writer was not killed.
                    mark(fh, "")
                    fcntl.flock(fh, fcntl.LOCK_UN)


def mark(fh: Any, text: str) -> None:
    """Replace what an open lock file says: a pid, or nothing once the writer is done."""
    fh.seek(0)
    fh.truncate()
    if text:
        fh.write(text)
    fh.flush()


class SharedLock:
    """Many readers at once, or one writer; the writer's own thread may read meanwhile.

    The store's Chroma calls read under it while `Store.sync` swaps in a freshly opened client
    under its write side, so no request uses a client as it is being closed. Written here
    because the standard library has no readers-writer lock; writers go first once waiting, so
    a stream of requests cannot starve a sync.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # the writing thread's ident
        self._waiting_writers = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._writer == me:
            yield
            return
        with self._cond:
            while self._writer is not None or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer is not None or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()
