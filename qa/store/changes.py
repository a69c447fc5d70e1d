"""The change log: how a process learns that another one changed the library.

Each process keeps its own catalog of articles (and, with the embedded store, its own in-memory
copy of Chroma's vector indexes), so a server that runs while `qa ingest` or another server
writes must find out, at its next request, that something changed and what. Every committed
write bumps a generation number and notes which articles it touched, in the metadata of a
collection of its own (`<prefix>_changes`, which holds no records): it lives in Chroma, so
processes on other machines sharing a Chroma server see it too, and reading it touches no
vector index (a torn index cannot stop it). A reader compares the generation with the one it
last saw and refreshes only the articles noted since; a gap the log no longer covers (it keeps
the last KEEP entries, within MAX_LOG_CHARS) means a full refresh of the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

KEEP = 500  # entries kept: a reader further behind than this refreshes its whole catalog
MAX_LOG_CHARS = 200_000  # and no more than this much JSON (a large ingest notes many ids)
_ALL = "*"  # an entry that says "anything may have changed" (a recovered crash)


class ChangeLog:
    """The generation counter and the doc ids changed at each generation.

    `client()` gives the store's current Chroma client (looked up inside each call: the store may
    reopen it meanwhile); `call` is the store's retrying Chroma call. Write only under the
    store's write lock: the log is read, then replaced.
    """

    def __init__(self, client: Callable[[], Any], name: str, call: Callable[..., Any]) -> None:
        self._client = client
        self.name = name
        self._call = call
        col = self._call(lambda: client().get_or_create_collection(name, embedding_function=None))
        # The log's identity: a library deleted and made again starts a new log whose
        # generations repeat the old one's; a cache that noted this id sees the difference.
        self.id = str(col.id)

    def _collection(self) -> Any:
        # Fetched afresh each time: a Collection object keeps the metadata it was fetched with.
        return self._call(lambda: self._client().get_collection(self.name, embedding_function=None))

    def _metadata(self) -> dict[str, Any]:
        return dict(self._collection().metadata or {})

    def generation(self) -> int:
        return int(self._metadata().get("generation", 0))

    def record(self, doc_ids: Iterable[str] | None) -> int:
        """Note a committed change to `doc_ids` (None: anything may have changed); returns the
        new generation."""
        meta = self._metadata()
        generation = int(meta.get("generation", 0)) + 1
        log: list[list[Any]] = json.loads(str(meta.get("log") or "[]"))
        log.append([generation, _ALL if doc_ids is None else sorted(set(doc_ids))])
        log = log[-KEEP:]
        text = json.dumps(log)
        while len(log) > 1 and len(text) > MAX_LOG_CHARS:
            log = log[len(log) // 2 :]
            text = json.dumps(log)
        col = self._collection()
        self._call(col.modify, metadata={"generation": generation, "log": text})
        return generation

    def changed_since(self, seen: int) -> tuple[int, set[str] | None]:
        """The current generation, and the doc ids changed after generation `seen` (None when
        the log cannot tell: entries dropped, or one that says anything may have changed)."""
        meta = self._metadata()
        now = int(meta.get("generation", 0))
        log = json.loads(str(meta.get("log") or "[]"))
        newer = [entry for entry in log if entry[0] > seen]
        if now < seen or len(newer) != now - seen:
            return now, None
        changed: set[str] = set()
        for _, ids in newer:
            if ids == _ALL:
                return now, None
            changed.update(ids)
        return now, changed
