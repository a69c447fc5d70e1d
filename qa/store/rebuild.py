"""Mending a torn vector index: detecting a killed writer and rebuilding from Chroma's log.

Chroma (embedded) rewrites an index's files in place every 1,000 records and then drops from its
log what the files now hold; a process killed inside that rewrite leaves an index that cannot be
loaded or extended ("Failed to apply logs to the hnsw segment writer", chroma-core/chroma#7678),
whose vectors exist nowhere else unless the log was kept. So qa keeps the log (`keep_log`) and,
when a writer was killed or on `qa check --repair`, moves the index files aside before Chroma
opens them, and Chroma rebuilds every index from its log. This works on Chroma's sqlite file
directly, since Chroma offers no setting or call for either step.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path

from qa.errors import StoreError
from qa.store.locks import WRITE_LOCK, mark

logger = logging.getLogger(__name__)

CHROMA_DB = "chroma.sqlite3"
_KEEP_LOG = '{"automatically_purge":false,"_type":"EmbeddingsQueueConfigurationInternal"}'


def rebuild_if_torn(home: Path, force: bool) -> bool:
    """Rebuild the vector indexes (`rebuild`) if the last writer was killed while it held the
    write lock (its pid is still in `write.lock`; a writer that finishes empties the file),
    or if `force`. The write lock is held meanwhile; returns whether they were rebuilt."""
    path = home / WRITE_LOCK
    if not (force or path.exists()):
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer: nothing was torn, and nothing may be moved now
            if force:
                raise StoreError(
                    f"Cannot rebuild the vector index of {home}: a qa process is writing to it.",
                    help="Wait for it to finish and try again.",
                ) from None
            return False
        try:
            fh.seek(0)
            if not (force or fh.read().strip()):
                return False
            if not rebuild(home):
                return False
            mark(fh, "")  # mended: the next process need not rebuild again
            return True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rebuild(home: Path) -> bool:
    """Have Chroma rebuild the vector index of every collection from its log: the index files
    are moved away before Chroma opens them. Returns False (and changes nothing) when the log
    no longer holds every record (a store created before qa kept the log).

    Call under the open lock, before connecting. Rebuilding happens only after a writer was
    killed, or on `qa check --repair`; its cost is measured in bench/ reports and the README.
    """
    db_path = home / "chroma" / CHROMA_DB
    if not db_path.exists():
        return False
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
        if not _log_complete(db):
            logger.warning(
                "%s: Chroma's log of this store is incomplete (it was created by an older qa), "
                "so its vector index cannot be rebuilt from it",
                home,
            )
            return False
        segments = [r[0] for r in db.execute("SELECT id FROM segments WHERE scope = 'VECTOR'")]
        for seg in segments:
            folder = db_path.parent / seg
            if folder.exists():
                gone = folder.with_name(f"{seg}.torn")
                shutil.rmtree(gone, ignore_errors=True)
                os.replace(folder, gone)  # Chroma never sees a half-deleted folder
                shutil.rmtree(gone)
        db.execute(
            f"DELETE FROM max_seq_id WHERE segment_id IN ({','.join('?' * len(segments))})",
            segments,
        )
        db.commit()
    return True  # the indexes are gone; Chroma rebuilds them whoever opens the store next


def keep_log(home: Path) -> None:
    """Turn off Chroma's purging of its log in a store whose log is still complete, so that the
    vector indexes can always be rebuilt from it (`rebuild`). The cost is disk: every record is
    stored twice (the README gives the figures). Chroma offers no setting for this; it reads the
    flag from this table before each purge. A store whose log was purged is left as it is."""
    with contextlib.closing(sqlite3.connect(home / "chroma" / CHROMA_DB, timeout=30)) as db:
        row = db.execute("SELECT config_json_str FROM embeddings_queue_config").fetchone()
        if row is None or json.loads(row[0]).get("automatically_purge") is False:
            return
        if _log_complete(db):
            db.execute("UPDATE embeddings_queue_config SET config_json_str = ?", (_KEEP_LOG,))
            db.commit()


def drop_unapplied(home: Path, names: list[str]) -> int:
    """Remove from Chroma's log the records of the named collections that it logged but could
    not apply to its tables (a write that failed for want of disk space); returns how many.

    Chroma (embedded) logs each write, then applies it to its sqlite tables and only after that
    to the vector index, in one transaction that a full disk makes fail as a whole; the failed
    records stay in the log, and every later read tries to apply them first and fails the same
    way, so nothing could be read until space is freed. Dropping them (they belong to a write
    that failed, which the journal of pending writes already covers) lets reads go on. Deleting
    rows needs only a small rollback journal; with not even that much space left this raises
    sqlite3.OperationalError and the reads wait for space like the writes. Call under the write
    lock, after the failed write call returned."""
    with contextlib.closing(sqlite3.connect(home / "chroma" / CHROMA_DB, timeout=30)) as db:
        db.isolation_level = None
        db.execute("BEGIN IMMEDIATE")  # what is applied cannot change until the delete is done
        try:
            marks = ",".join("?" * len(names))
            rows = db.execute(
                "SELECT c.id, m.seq_id FROM collections c "
                "JOIN segments s ON s.collection = c.id AND s.scope = 'METADATA' "
                f"LEFT JOIN max_seq_id m ON m.segment_id = s.id WHERE c.name IN ({marks})",
                names,
            ).fetchall()
            dropped = 0
            for collection, applied in rows:
                if isinstance(applied, bytes):  # stores from older Chroma versions
                    applied = int.from_bytes(applied, "big")
                dropped += db.execute(
                    "DELETE FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ?",
                    (f"%/{collection}", applied or 0),
                ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return dropped


def _log_complete(db: sqlite3.Connection) -> bool:
    """Whether Chroma's log (its `embeddings_queue` table) still holds every write since the
    store was created: nothing was ever purged from it."""
    first = db.execute("SELECT MIN(seq_id) FROM embeddings_queue").fetchone()[0]
    if first is not None:
        return int(first) == 1
    persisted = db.execute("SELECT MAX(seq_id) FROM max_seq_id").fetchone()[0]
    return not persisted  # an empty log is complete only if nothing was ever written
