"""The lexical index: BM25 over every visible sentence, in SQLite FTS5, kept up to date with the
library a few articles at a time by the store's change log.

What is stored. One SQLite file per library and machine (`QA_HOME/cache/lexical-<collection>.sqlite`,
WAL mode). Each visible sentence is a row of `sentences` holding its key (doc id, index) and
its text already tokenised as before (lower case, scikit-learn's token pattern, bm25s's English
stop words, PyStemmer's English stems) in two forms: `tokens`, the words BM25 scores (FTS5 table
`lex`), and `terms`, the set of stemmed content words the answerability score weighs by their
document frequency (FTS5 table `words`, whose `fts5vocab` table gives that frequency). Both FTS5
tables index the stems with the `ascii` tokenizer, which keeps every non-ASCII character in the
token: the tokens FTS5 sees are exactly the stems Python made. `docs` notes the version of each
article indexed; `removed` the row ids each update deleted (for the in-memory caches of other
processes, below); `meta` the schema, the identity of the library's change log, the generation
of the log the file reflects and the counts BM25 needs.

How it follows changes. Every committed write or delete bumps the change log's generation
(`qa.store.changes`, in Chroma, shared by every process). `ensure(store)` at each request costs
nothing while the store's generation is the one this object last caught up with. When it moved,
one SQLite transaction (BEGIN IMMEDIATE: one process at a time updates the file) reads the
file's generation, asks the log which articles changed since, re-indexes only those (their rows
deleted, the sentences of their current version read from Chroma and inserted) and writes the
new generation. The process that wrote catches up the same way at its next question, for the
cost of its own articles. When the log cannot tell (it dropped old entries, or a crash was
recovered), every article's committed version is read from Chroma and compared with `docs`, and
only the articles that differ are re-indexed. The first catch-up of a process also compares
`docs` with the catalog the store read when it opened, which repairs a write whose writer was
killed after Chroma committed it and before it reached the log.

Crashes. The rows, `docs` and the generation change in one SQLite transaction, so a file is
never half updated: a process killed mid-update leaves the previous state, and a process killed
between its Chroma write and the update leaves a file whose generation is behind the log, which
the next request of any process catches up. The whole file is built afresh from Chroma when it
is missing, unreadable or corrupt (it is never trusted then), of another schema, or of another
library (the log's identity differs); a file that cannot be written (a full disk) is replaced by
an index in memory for this process.

Several processes. Processes on one machine that share QA_HOME share the file: readers never
wait (WAL), one updater at a time (the others wait up to BUSY_TIMEOUT), and whoever catches up
first does it for all; the others find the file's generation current. Processes on different
machines that share one Chroma server each keep their own file under their own QA_HOME and
catch it up from the same change log.

Scoring. BM25 exactly as bm25s computed it before this index ("lucene": k1 = 1.5, b = 0.75,
idf = ln(1 + (N - n + 0.5) / (n + 0.5)), tf / (tf + k1 (1 - b + b dl / avgdl))), from the counts
the file keeps (N, total tokens, each word's postings), so that rankings did not move. FTS5's
built-in bm25() differs (k1 = 1.2 fixed, idf = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, so
a word in more than half the sentences counts for nothing, and a (k1 + 1) factor), and it was
too slow: it scores every sentence holding any query word, ~8 us each, 490 ms a question at
479k sentences. So FTS5 keeps the postings (its `fts5vocab` instance table reads a word's
sentence ids and term frequencies), each process keeps the postings of the words it was asked
in memory with every sentence's length (`_Cache`: its own updates applied in place, emptied when
another process moved the file on), and numpy sums the scores, as bm25s did.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa.store import Store
from qa.text.words import QUERY_STOP

logger = logging.getLogger(__name__)

Key = tuple[str, int]  # (doc_id, sentence index)
T = TypeVar("T")

UNSEEN_WEIGHT = 2.0
SCHEMA = "qa-lexical-4"  # change it when the tables or the tokens change: older files are rebuilt
BUSY_TIMEOUT = 600.0  # seconds an updater waits for another process's update (a full build)
K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene"), as the index had them before
REBUILD_SHARE = 0.5  # more than this share of the articles changed: build afresh (bulk is faster)
BATCH = 500  # doc ids per SQL statement (SQLite caps the number of parameters)
KEEP_REMOVED = 1000  # generations of removed row ids kept for the caches of other processes

# The token pattern of scikit-learn and bm25s (words of two or more word characters), and
# bm25s's English stop words (bm25s.stopwords.STOPWORDS_EN, the Lucene English set), copied so
# that the index keeps the tokens it always had without importing bm25s for ten lines.
TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their
    then there these they this to was will with""".split()
)

# SQLite primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF).
_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_NO_DISK = {8, 10, 13, 14}  # SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN

_TOKENIZER = "tokenize = \"ascii tokenchars '_'\""
_TABLES = [
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE docs(doc_id TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID",
    # AUTOINCREMENT: a new row never takes a deleted row's id, which caches of ids rely on.
    "CREATE TABLE sentences(id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, "
    "idx INTEGER NOT NULL, tokens TEXT NOT NULL, dl INTEGER NOT NULL, terms TEXT NOT NULL)",
    "CREATE INDEX sentences_doc ON sentences(doc_id)",
    # The rows each update removed: how another process's cache of postings follows the file.
    "CREATE TABLE removed(generation INTEGER NOT NULL, id INTEGER NOT NULL)",
    "CREATE INDEX removed_generation ON removed(generation)",
    f"CREATE VIRTUAL TABLE lex USING fts5(tokens, content='sentences', content_rowid='id', {_TOKENIZER})",
    # One row per occurrence of a word: a word's postings with their term frequencies.
    "CREATE VIRTUAL TABLE lex_instances USING fts5vocab(lex, instance)",
    # Only which sentences hold a content word matters here: no positions kept.
    f"CREATE VIRTUAL TABLE words USING fts5(terms, content='sentences', content_rowid='id', "
    f"{_TOKENIZER}, detail=none)",
    "CREATE VIRTUAL TABLE words_vocab USING fts5vocab(words, row)",
]
# The FTS5 tables read their text from `sentences` (external content): these triggers keep
# them in step, inside the transaction that changes the rows (SQLite's documented pattern).
_TRIGGERS = [
    "CREATE TRIGGER sentences_ai AFTER INSERT ON sentences BEGIN "
    "INSERT INTO lex(rowid, tokens) VALUES (new.id, new.tokens); "
    "INSERT INTO words(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER sentences_ad AFTER DELETE ON sentences BEGIN "
    "INSERT INTO lex(lex, rowid, tokens) VALUES ('delete', old.id, old.tokens); "
    "INSERT INTO words(words, rowid, terms) VALUES ('delete', old.id, old.terms); END",
]
_POSTINGS = "SELECT doc FROM lex_instances WHERE term = ?"


class _Unusable(Exception):
    """The file cannot be trusted (corrupt, another schema): it is built afresh."""


def _kind(exc: BaseException) -> str:
    """What a failure means for the file: corrupt, busy (another updater), disk (cannot write)."""
    if isinstance(exc, _Unusable):
        return "corrupt"
    if isinstance(exc, OSError):
        return "disk"
    code = getattr(exc, "sqlite_errorcode", None)
    code = None if code is None else code & 0xFF
    message = str(exc).lower()
    if code in _BUSY or "locked" in message:
        return "busy"
    if code in _NO_DISK or "disk is full" in message or "disk i/o" in message:
        return "disk"
    return "corrupt"  # malformed, not a database, a table missing: rebuilt, never trusted


class LexicalIndex:
    """BM25 over every visible sentence in an SQLite FTS5 file, caught up from the change log.

    `rebuilds` counts the full builds this object made and `reindexed` the articles it
    re-indexed one by one (for tests and the benchmark).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rebuilds = 0
        self.reindexed = 0
        self._cache = _Cache(None)  # postings read from the file, for the generation it notes
        self._generation: int | None = None  # the store generation last caught up with
        self._checked = False  # compared `docs` with the store's catalog once
        self._lock = threading.Lock()  # one catch-up at a time in this process
        self._local = threading.local()  # each thread reads through its own connection
        self._epoch = 0  # bumped when the file is replaced: threads reconnect
        self._memory: sqlite3.Connection | None = None  # when the file cannot be written
        self._opened: tuple[int, int] | None = None  # (device, inode) of the file connected to
        self._suspect = False  # a read failed as if the file were corrupt
        self._memory_lock = threading.RLock()
        self._stemmer: Any = None

    @classmethod
    def for_store(cls, cache_dir: Path, store: Store) -> LexicalIndex:
        """The index file of `store`'s library under `cache_dir`: named by its collection, and
        for a Chroma server by its URL too (a server's library is not the embedded one)."""
        import hashlib

        tag = store.prefix
        if store.url:
            tag += "-" + hashlib.sha1(store.url.encode()).hexdigest()[:8]
        return cls(cache_dir / f"lexical-{tag}.sqlite")

    # --- tokens -------------------------------------------------------------------------------
    def _stem(self, words: list[str]) -> list[str]:
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        return list(self._stemmer.stemWords(words))

    def tokens(self, text: str) -> list[str]:
        """The words BM25 scores: bm25s.tokenize's (lower case, two or more word characters, its
        English stop words out) stemmed by PyStemmer's English stemmer, repeats kept."""
        return self._stem([w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS])

    def query_tokens(self, query: str) -> list[str]:
        """The words a query is searched by: its tokens without the words that only make it a
        question ("what", "did", "say"; QUERY_STOP, as `terms` reads it), or all of its tokens
        when nothing else is left ("What did they say?")."""
        # In a library of a few articles "what" is as rare as a name, and BM25 ranked "over what
        # it sees as" first for "What did Peskov say?". On the tune corpora, where such words
        # are common and weigh little, it changes nothing beyond a question or two (CALIBRATION).
        words = [w for w in TOKEN.findall(query.lower()) if w not in STOPWORDS]
        return self._stem([w for w in words if w not in QUERY_STOP] or words)

    def terms(self, text: str) -> set[str]:
        """Stemmed content words of a text, as the answerability score compares them."""
        # TOKEN finds exactly the words of content_words() longer than one character.
        return set(self._stem([w for w in TOKEN.findall(text.lower()) if w not in QUERY_STOP]))

    def _analyse(self, text: str) -> tuple[str, int, str]:
        """(tokens, their number, terms) of a sentence as stored: stems joined by spaces."""
        words = TOKEN.findall(text.lower())
        stems = self._stem(words)
        tokens = [s for w, s in zip(words, stems, strict=True) if w not in STOPWORDS]
        terms = {s for w, s in zip(words, stems, strict=True) if w not in QUERY_STOP}
        return " ".join(tokens), len(tokens), " ".join(sorted(terms))

    # --- connections ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._opened = _identity(self.path)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # readers never wait for an updater
            con.execute("PRAGMA synchronous=NORMAL")  # a lost last update is only caught up again
        except BaseException:
            con.close()
            raise
        return con

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to the file (opened afresh after the file was replaced)."""
        local = self._local
        if getattr(local, "epoch", None) != self._epoch or local.con is None:
            if getattr(local, "con", None) is not None:
                local.con.close()
            local.con = None
            local.con = self._connect()
            local.epoch = self._epoch
        con: sqlite3.Connection = local.con
        return con

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """A connection to read from; None before the first `ensure`."""
        if self._generation is None and self._memory is None:
            yield None
        elif self._memory is not None:
            with self._memory_lock:  # one connection in memory: one user at a time
                yield self._memory
        else:
            yield self._connection()

    # --- keeping up with the store --------------------------------------------------------------
    def ensure(self, store: Store) -> None:
        """Bring the index up to the store's generation (nothing to do when it has not moved)."""
        if self._generation is not None and self._generation == store.generation:
            return
        with self._lock:
            if self._generation is not None and self._generation == store.generation:
                return
            target = store.generation
            if self._memory is not None:
                with self._memory_lock:
                    self._update(self._memory, store)
            elif not self._update_file(store):
                # Busy: read the file as it is meanwhile; the next request tries again.
                self._generation = -1
                return
            self._generation = target
            self._checked = True

    def _update_file(self, store: Store) -> bool:
        """Catch the file up (rebuilt if corrupt; an index in memory if it cannot be written);
        False when another process held it longer than BUSY_TIMEOUT."""
        if self._suspect:  # a read said corrupt: never trusted again
            self._suspect = False
            logger.warning("lexical index %s failed a read; rebuilding it from Chroma", self.path)
            self._discard()
        for attempt in range(2):
            try:
                con = self._connection()
                if not self._checked:  # a file this process has not looked at yet
                    check = con.execute("PRAGMA quick_check").fetchone()
                    if check is None or check[0] != "ok":
                        raise _Unusable(f"quick_check: {check[0] if check else 'no answer'}")
                self._update(con, store)
                return True
            except (sqlite3.Error, OSError, _Unusable) as exc:
                kind = _kind(exc)
                if kind == "busy":
                    # Another process has held the update for BUSY_TIMEOUT: serve what the file
                    # has and try again at the next request.
                    logger.warning("lexical index %s busy (%s); using it as it is", self.path, exc)
                    return False
                if kind == "corrupt" and attempt == 0:
                    logger.warning("lexical index %s unusable (%s); rebuilding it from Chroma",
                                   self.path, exc)
                    self._discard()
                    continue
                # The file cannot be written (a full disk, say): an index in memory serves
                # this process; the file is left for the others (or removed if half made).
                logger.warning("could not save the lexical index to %s (%s); using it from memory",
                               self.path, exc)
                self._close_local()
                if not self._valid_file():
                    self._discard()
                self._memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                with self._memory_lock:
                    self._update(self._memory, store)
                return True
        return True  # (not reached: the second attempt returns or falls back to memory)

    def _valid_file(self) -> bool:
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return False
        return bool(row and row[0] == SCHEMA)

    def _close_local(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
        self._local.con = None
        self._epoch += 1  # other threads reconnect too

    def _discard(self) -> None:
        """Delete the file (and its WAL) to build it afresh. Under a lock file, and only if it
        is still the file this process opened: another process may have replaced it already."""
        opened = self._opened
        self._close_local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if _identity(self.path) not in (None, opened):
                    return  # replaced meanwhile by a process that rebuilt it
                for suffix in ("", "-wal", "-shm", "-journal"):
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close this thread's connection to the file (the last one to close folds the WAL
        into the file); the next use opens it again."""
        self._close_local()

    def discard(self) -> None:
        """Forget the index and delete its file: the next `ensure` builds it afresh (the
        benchmark times that)."""
        with self._lock:
            self._close_local()
            for suffix in ("", "-wal", "-shm", "-journal"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            self._generation = None
            self._checked = False

    def _meta(self, con: sqlite3.Connection) -> dict[str, str] | None:
        """The file's notes; None for a new (empty) file; _Unusable for one of another kind."""
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise _Unusable("not a lexical index of this version")
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema") != SCHEMA:
            raise _Unusable(f"schema {meta.get('schema')!r}, not {SCHEMA!r}")
        return meta

    def _update(self, con: sqlite3.Connection, store: Store) -> None:
        """Catch the index up with the store, in one transaction."""
        meta = self._meta(con)
        if (
            meta is not None
            and self._checked
            and meta.get("log") == store.log_id
            and int(meta["generation"]) == store.generation
        ):
            return  # another process on this machine caught the file up already
        con.execute("BEGIN IMMEDIATE")  # one updater at a time across processes
        try:
            meta = self._meta(con)
            if meta is None or meta.get("log") != store.log_id:
                self._build(con, store)
            else:
                self._follow(con, store, int(meta["generation"]))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def _follow(self, con: sqlite3.Connection, store: Store, seen: int) -> None:
        """Re-index the articles changed since generation `seen` (inside a transaction)."""
        changed: set[str] | None
        if seen == store.generation:
            now, changed = seen, set()
        else:
            now, changed = store.changes_since(seen)
        if changed is None:  # the log cannot tell: compare every article's version
            versions = store.article_versions()
            changed = self._differing(con, versions)
        else:
            if not self._checked:
                # A writer killed between its Chroma commit and its note in the log: the
                # catalog, read from Chroma when the store opened, has what it wrote.
                catalog = {d: m.version for d, m in store.catalog().articles.items()}
                changed |= self._differing(con, catalog)
            versions = store.article_versions(changed) if changed else {}
        indexed = int(con.execute("SELECT count(*) FROM docs").fetchone()[0])
        if changed and len(changed) > max(BATCH, REBUILD_SHARE * indexed):
            self._build(con, store)
            return
        if changed:
            self._reindex(con, store, changed, versions, now)
        con.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(now),))

    def _differing(self, con: sqlite3.Connection, versions: Mapping[str, str]) -> set[str]:
        """Doc ids whose indexed version is not the one in `versions` (or that only one has)."""
        have = dict(con.execute("SELECT doc_id, version FROM docs").fetchall())
        return {d for d in have.keys() | versions.keys() if have.get(d) != versions.get(d)}

    def _reindex(
        self,
        con: sqlite3.Connection,
        store: Store,
        changed: set[str],
        versions: Mapping[str, str],
        generation: int,
    ) -> None:
        ids = sorted(changed)
        have: dict[str, str] = {}
        for chunk in _chunks(ids, BATCH):
            marks = ",".join("?" * len(chunk))
            have.update(con.execute(f"SELECT doc_id, version FROM docs WHERE doc_id IN ({marks})", chunk))
        todo = [d for d in ids if have.get(d) != versions.get(d)]
        if not todo:
            return
        removed_ids: list[int] = []
        removed_tokens = 0
        for chunk in _chunks(todo, BATCH):
            marks = ",".join("?" * len(chunk))
            for rid, dl in con.execute(f"SELECT id, dl FROM sentences WHERE doc_id IN ({marks})", chunk):
                removed_ids.append(rid)
                removed_tokens += dl
            con.execute(f"DELETE FROM sentences WHERE doc_id IN ({marks})", chunk)
            con.execute(f"DELETE FROM docs WHERE doc_id IN ({marks})", chunk)
        removed = len(removed_ids)
        con.executemany("INSERT INTO removed(generation, id) VALUES (?, ?)",
                        ((generation, rid) for rid in removed_ids))
        con.execute("DELETE FROM removed WHERE generation <= ?", (generation - KEEP_REMOVED,))
        wanted = {d: versions[d] for d in todo if d in versions}
        added, added_tokens = self._insert(con, store.sentences_of(wanted)) if wanted else (0, 0)
        con.executemany("INSERT INTO docs(doc_id, version) VALUES (?, ?)", wanted.items())
        con.executemany(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?",
            [(added - removed, "rows"), (added_tokens - removed_tokens, "tokens")],
        )
        self.reindexed += len(todo)
        logger.info("lexical index: re-indexed %d article(s) (-%d +%d sentences)", len(todo), removed, added)

    def _insert(self, con: sqlite3.Connection, rows: Iterable[tuple[str, int, str]]) -> tuple[int, int]:
        """Insert the sentences; returns (how many, how many tokens they hold)."""
        count = tokens = 0
        batch: list[tuple[str, int, str, int, str]] = []
        sql = "INSERT INTO sentences(doc_id, idx, tokens, dl, terms) VALUES (?, ?, ?, ?, ?)"
        for doc_id, index, text in rows:
            row = (doc_id, index, *self._analyse(text))
            tokens += row[3]
            batch.append(row)
            if len(batch) >= 5000:
                con.executemany(sql, batch)
                count += len(batch)
                batch = []
        con.executemany(sql, batch)
        return count + len(batch), tokens

    def _build(self, con: sqlite3.Connection, store: Store) -> None:
        """Build every table afresh from Chroma (inside a transaction)."""
        now, _ = store.changes_since(store.generation)  # read before the records: never ahead
        versions = store.article_versions()
        # (A file of another schema never gets here: it is deleted. These are this schema's.)
        for trigger in ("sentences_ai", "sentences_ad"):
            con.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for table in ("words_vocab", "words", "lex_instances", "lex", "removed", "sentences", "docs", "meta"):
            con.execute(f"DROP TABLE IF EXISTS {table}")  # an FTS5 table takes its own along
        for sql in _TABLES:
            con.execute(sql)
        added, tokens = self._insert(con, store.sentences_of(versions))
        # Indexing the rows in one pass is faster than a trigger per row.
        con.execute("INSERT INTO lex(lex) VALUES ('rebuild')")
        con.execute("INSERT INTO words(words) VALUES ('rebuild')")
        for sql in _TRIGGERS:
            con.execute(sql)
        con.executemany("INSERT INTO docs(doc_id, version) VALUES (?, ?)", versions.items())
        con.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?)",
            [("schema", SCHEMA), ("log", store.log_id), ("generation", str(now)), ("built", str(now)),
             ("rows", str(added)), ("tokens", str(tokens))],
        )
        self.rebuilds += 1
        logger.info("lexical index: built from Chroma (%d articles, %d sentences)", len(versions), added)

    # --- reading ----------------------------------------------------------------------------
    @property
    def df(self) -> Mapping[str, int]:
        """Stemmed content word -> number of sentences holding it (read from the index)."""
        return _DocFrequencies(self)

    def _counts(self, term: str) -> tuple[int, int]:
        """(sentences indexed, sentences holding the content word `term`), in one snapshot."""
        try:
            with self._reading() as con:
                if con is None:
                    return 0, 0
                con.execute("BEGIN")  # one snapshot
                try:
                    cache, rows, _ = self._current_cache(con)
                    return rows, cache.df(con, term)
                finally:
                    con.execute("COMMIT")
        except sqlite3.Error as exc:
            self._failed(exc)
            return 0, 0

    def idf(self, term: str) -> float:
        """Rarer words weigh more; a word found in no sentence weighs most of all."""
        rows, df = self._counts(term)
        n = max(1, rows)
        # A word no stored sentence contains is the strongest sign that the answer is not here.
        return math.log(1.0 + n / (df + 0.5)) * (UNSEEN_WEIGHT if df == 0 else 1.0)

    def search(
        self, query: str, n: int, allow: Callable[[str], bool] | None = None
    ) -> list[tuple[Key, float]]:
        """The `n` best sentences for `query` by BM25 (higher is better; ties in key order), of
        the articles `allow` lets through."""
        words = self.query_tokens(query)
        if not words or n <= 0:
            return []
        want = n * 4 if allow else n
        try:
            with self._reading() as con:
                if con is None:
                    return []
                con.execute("BEGIN")  # one snapshot for the statistics, postings and keys
                try:
                    best = self._best(con, words, want)
                finally:
                    con.execute("COMMIT")
        except sqlite3.Error as exc:
            self._failed(exc)
            return []
        out: list[tuple[Key, float]] = []
        for score, doc_id, index in best:
            if allow is None or allow(doc_id):
                out.append(((doc_id, index), score))
                if len(out) >= n:
                    break
        return out

    def _current_cache(self, con: sqlite3.Connection) -> tuple[_Cache, int, int]:
        """The postings cache for the file as `con` sees it, and (sentences, tokens).

        When the file moved on (an update by this process or another), the cache takes in the
        rows added since (ids above the last it knew: AUTOINCREMENT never reuses one) and drops
        those removed (table `removed`); after a full build, or a gap longer than the removals
        kept, it starts empty."""
        meta = dict(con.execute(
            "SELECT key, value FROM meta WHERE key IN ('generation', 'built', 'rows', 'tokens')"
        ).fetchall())
        generation = int(meta.get("generation", -1))
        built = int(meta.get("built", -1))
        cache = self._cache
        if cache.generation != generation:
            with cache.lock:
                seen = cache.generation
                if seen == generation:
                    pass
                elif seen is None or seen < built or seen > generation or seen < generation - KEEP_REMOVED:
                    cache = self._cache = _Cache(generation, _last_id(con))
                else:
                    removed = [r[0] for r in con.execute(
                        "SELECT id FROM removed WHERE generation > ?", (seen,))]
                    added = [(rid, tokens.split()) for rid, tokens in con.execute(
                        "SELECT id, tokens FROM sentences WHERE id > ?", (cache.last_id,))]
                    cache.apply(generation, removed, added)
        return cache, int(meta.get("rows", 0)), int(meta.get("tokens", 0))

    def _best(self, con: sqlite3.Connection, words: list[str], want: int) -> list[tuple[float, str, int]]:
        """The `want` best (score, doc_id, index) for the query tokens `words`.

        BM25 as bm25s computed it ("lucene": idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf
        + k1 (1 - b + b dl / avgdl)), k1 1.5, b 0.75, a word asked twice counted twice), from the
        statistics the file keeps, so scores and order are those of before. FTS5's own bm25()
        was measured first: 490 ms a question at 479k sentences (it scores every sentence that
        holds any query word, ~8 us each). Here each word's postings (sentence ids and term
        frequencies, from FTS5's instance table) are read once and kept in memory, and the
        scores are summed with numpy, as bm25s did.
        """
        cache, rows, total = self._current_cache(con)
        generation = cache.generation
        if rows == 0 or total == 0 or generation is None:
            return []
        asked: dict[str, int] = {}
        for w in words:
            asked[w] = asked.get(w, 0) + 1
        postings = {w: cache.postings(con, w, generation) for w in asked}
        dl = cache.lengths(con, max((int(p[0][-1]) for p in postings.values() if len(p[0])), default=0))
        avgdl = total / rows
        scores = np.zeros(len(dl), dtype=np.float64)
        for w, times in asked.items():  # in the query's order: the sums add up the same way
            ids, tf = postings[w]
            lengths = dl[ids]
            alive = lengths >= 0  # rows deleted since the postings were read are -1
            if not alive.all():
                ids, tf, lengths = ids[alive], tf[alive], lengths[alive]
            df = len(ids)
            if df == 0:
                continue
            idf = math.log(1.0 + (rows - df + 0.5) / (df + 0.5))
            scores[ids] += times * idf * tf / (tf + K1 * (1.0 - B + B * lengths / avgdl))
        hit = np.flatnonzero(scores > 0)
        if len(hit) > want:
            # Every sentence scoring at least the want-th best: ties at the edge are ordered by key.
            edge = np.partition(scores[hit], len(hit) - want)[len(hit) - want]
            hit = hit[scores[hit] >= edge]
        keys: dict[int, tuple[str, int]] = {}
        ids_list = [int(i) for i in hit]
        for chunk in _chunks(ids_list, BATCH):
            marks = ",".join("?" * len(chunk))
            for rid, doc_id, index in con.execute(
                f"SELECT id, doc_id, idx FROM sentences WHERE id IN ({marks})", chunk
            ):
                keys[rid] = (doc_id, int(index))
        found = [(float(scores[i]), *keys[i]) for i in ids_list if i in keys]
        found.sort(key=lambda f: (-f[0], f[1], f[2]))
        return found[:want]

    def _failed(self, exc: sqlite3.Error) -> None:
        """A read failed: the next `ensure` looks at the file again (and rebuilds it if corrupt)."""
        logger.warning("lexical index %s could not be read (%s); checking it at the next request",
                       self.path, exc)
        self._generation = None
        self._checked = False
        self._suspect = self._suspect or _kind(exc) == "corrupt"
        self._close_local()


class _Cache:
    """What searches read from the file, kept in memory for one generation of it: each asked
    word's postings (sentence ids, term frequencies) and every sentence's length in tokens
    (-1 for an id not, or no longer, in use). The process's own updates are applied to it
    (`apply`); any other change to the file empties it (see `_current_cache`)."""

    def __init__(self, generation: int | None, last_id: int = 0) -> None:
        self.generation = generation
        self.last_id = last_id  # the largest row id in the file at `generation`
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._dl = np.full(0, -1, dtype=np.int32)
        self._loaded = 0  # ids below this have their length in _dl
        self._df: dict[str, int] = {}  # content word -> sentences holding it
        self._lock = threading.Lock()  # guards the arrays and dicts
        self.lock = threading.Lock()  # one catch-up with the file at a time

    def postings(self, con: sqlite3.Connection, word: str, generation: int) -> tuple[np.ndarray, np.ndarray]:
        """A word's (sentence ids, term frequencies), read at `generation` of the file."""
        got = self._postings.get(word)
        if got is None:
            docs = np.fromiter((r[0] for r in con.execute(_POSTINGS, (word,))), dtype=np.int64)
            ids, tf = np.unique(docs, return_counts=True)
            got = (ids, tf.astype(np.float64))
            with self._lock:
                if self.generation == generation:  # not if another thread moved the cache on
                    self._postings[word] = got
        return got

    def df(self, con: sqlite3.Connection, term: str) -> int:
        """Sentences holding the content word `term` (fts5vocab counts them at each ask: kept)."""
        got = self._df.get(term)
        if got is None:
            row = con.execute("SELECT doc FROM words_vocab WHERE term = ?", (term,)).fetchone()
            got = self._df[term] = int(row[0]) if row else 0
        return got

    def lengths(self, con: sqlite3.Connection, upto: int) -> np.ndarray:
        """Sentence lengths by id, read from the file up to id `upto` at least."""
        if upto >= self._loaded:
            with self._lock:
                if upto >= self._loaded:
                    rows = con.execute(
                        "SELECT id, dl FROM sentences WHERE id >= ?", (self._loaded,)
                    ).fetchall()
                    top = max([upto, *(r[0] for r in rows)]) + 1
                    dl = np.full(max(top, len(self._dl)), -1, dtype=np.int32)
                    dl[: len(self._dl)] = self._dl
                    if rows:
                        got = np.array(rows, dtype=np.int64)
                        dl[got[:, 0]] = got[:, 1]
                    self._dl, self._loaded = dl, top
        return self._dl

    def apply(
        self, generation: int, removed: list[int], added: list[tuple[int, list[str]]]
    ) -> None:
        """The file's changes from generation `self.generation` to `generation`: rows
        `removed`, rows `added` (id, tokens)."""
        with self._lock:
            # Lengths read up to the last row: the new rows count as read too. Else the next
            # `lengths` reads from where it stopped, the new rows among them.
            complete = self._loaded > self.last_id
            top = max([self._loaded - 1, *(i for i, _ in added)]) + 1
            dl = np.full(max(top, len(self._dl)), -1, dtype=np.int32)
            dl[: len(self._dl)] = self._dl
            if removed:
                dl[np.array(removed, dtype=np.int64)] = -1
            new: dict[str, list[tuple[int, int]]] = {}
            for rid, tokens in added:
                dl[rid] = len(tokens)
                counts: dict[str, int] = {}
                for t in tokens:
                    counts[t] = counts.get(t, 0) + 1
                for t, c in counts.items():
                    if t in self._postings:
                        new.setdefault(t, []).append((rid, c))
            for t, more in new.items():
                ids, tf = self._postings[t]
                extra = np.array(more, dtype=np.int64)
                self._postings[t] = (np.concatenate([ids, extra[:, 0]]),
                                     np.concatenate([tf, extra[:, 1].astype(np.float64)]))
            self._dl, self.generation = dl, generation
            if complete:
                self._loaded = top
            self.last_id = max([self.last_id, *(i for i, _ in added)])
            self._df = {}


class _DocFrequencies(Mapping[str, int]):
    """The `df` of an index, looked up in its vocabulary table as asked."""

    def __init__(self, index: LexicalIndex) -> None:
        self._index = index

    def __getitem__(self, term: str) -> int:
        df = self._index._counts(term)[1]
        if df == 0:
            raise KeyError(term)
        return df

    def __iter__(self) -> Iterator[str]:
        with self._index._reading() as con:
            terms = [] if con is None else [r[0] for r in con.execute("SELECT term FROM words_vocab")]
        return iter(terms)

    def __len__(self) -> int:
        with self._index._reading() as con:
            return 0 if con is None else int(con.execute("SELECT count(*) FROM words_vocab").fetchone()[0])


def _last_id(con: sqlite3.Connection) -> int:
    row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'sentences'").fetchone()
    return int(row[0]) if row else 0


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
