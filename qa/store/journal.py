"""The journal of pending writes: what a killed or cut-off writer may have left behind.

Before an article version is written (or an article deleted), the versions whose records the
write may leave behind are noted in a small JSON file under QA_HOME; the note is removed when
the write is complete. A writer that finds notes (its predecessor was killed, or lost the server
mid-write) deletes exactly those records that belong to no committed version. Unlike a full
`Store.repair` this never touches another process's write in progress, so a killed `qa ingest`
needs no manual repair. The journal is read and written only under the write lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Entry = dict[str, Any]  # {"doc_id": ..., "versions": [...]}; doc_id None asks for a full repair


class Journal:
    """The notes of one library, in `pending-<tag>.json` under QA_HOME."""

    def __init__(self, home: Path, prefix: str, url: str | None = None) -> None:
        self.home = home
        # Named per library so that two libraries in one QA_HOME (prefixes, or a server and the
        # embedded store) keep separate journals.
        tag = prefix if not url else f"{prefix}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"
        self.path = home / f"pending-{tag}.json"

    def pending(self) -> list[Entry]:
        """The notes of unfinished writes; one asking for a full repair if the file is unreadable."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            logger.warning("unreadable journal %s (%s): running a full repair", self.path, exc)
            return [{"doc_id": None, "versions": []}]
        return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []

    def save(self, entries: list[Entry]) -> None:
        if not entries:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(entries))
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk: the old note stands
            raise
        os.replace(tmp, self.path)  # atomic: a kill leaves the old note or the new one

    def begin(self, notes: Sequence[tuple[str, set[str]]]) -> list[Entry]:
        """Note the versions (doc_id, versions) that writes about to start may leave behind, in
        one save however many articles they are; returns the entries for `end`."""
        entries = [{"doc_id": doc_id, "versions": sorted(versions)} for doc_id, versions in notes]
        self.home.mkdir(parents=True, exist_ok=True)
        self.save(self.pending() + entries)
        return entries

    def end(self, entries: list[Entry]) -> None:
        """Remove the notes of writes that are complete. A note that cannot be removed (the
        disk is full) is left for the next writer, whose clean-up keeps committed versions."""
        try:
            self.save([e for e in self.pending() if e not in entries])
        except OSError as exc:
            logger.warning("could not update the journal %s (%s); the next writer will", self.path, exc)

    def recover(
        self,
        committed: Callable[[], Mapping[str, str]],
        delete_version: Callable[[str, str], None],
        repair: Callable[[], object],
    ) -> None:
        """Clean up the writes noted here: delete each noted version that is not the committed
        one (`committed()` maps doc_id to its committed version, read afresh), or run a full
        `repair()` when the journal could not be read; then empty the journal."""
        entries = self.pending()
        if not entries:
            return
        if any(e.get("doc_id") is None for e in entries):
            repair()
            self.save([])
            return
        current = committed()
        for e in entries:
            doc_id = str(e["doc_id"])
            for version in e.get("versions", []):
                if current.get(doc_id) != version:
                    delete_version(doc_id, str(version))
        logger.warning("cleaned up %d write(s) left unfinished by an earlier process", len(entries))
        self.save([])
