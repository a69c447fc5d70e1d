"""Stories: articles that tell the same story (wire copies under new headlines, trimmed endings,
outlet furniture, corrections and updates of one article) grouped at ingest.

Each article gets a MinHash signature (datasketch) of the word shingles of its cleaned text; a
MinHash LSH proposes the articles it may copy, and it joins the story of the best candidate
whose shingles contain most of the smaller article's (containment, estimated from the signatures
and the shingle counts: a copy with its last paragraphs cut shares little Jaccard with the whole
but is contained in it). Adding an article queries the LSH once and joins or opens one story;
nothing else is regrouped, and two existing stories are never merged (so one borderline article
cannot chain two stories together).

The signatures and the story of every article live in a small SQLite file in QA_HOME
(`stories-<collection>.sqlite`), written only under the store's write lock (by the Indexer and
by delete) and read by every process; it is rebuildable from the stored texts (`reconcile`
adds what it lacks, drops what the store no longer has, and recomputes everything when the
signature settings changed).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from qa.types import Article, StoryCopy

WORD = re.compile(r"\w+", re.U)
SEED = 1  # the same permutations in every process, so that stored signatures stay comparable
SCHEME = "affine32"  # datasketch 2's default hashing, named: stored values depend on it
DTYPE = np.uint32  # what SCHEME's hash values are


@dataclass(frozen=True)
class StoryParams:
    """How signatures are made and compared (qa.settings story_*)."""

    # Chosen on the tune rows of eval/make_story_set.py (qa.settings holds the same defaults).
    num_perm: int = 128
    shingle: int = 3
    threshold: float = 0.2
    min_containment: float = 0.6
    # Short texts (a stub, a templated paragraph) share most of their few shingles by template
    # alone: a smaller side under `short_shingles` needs `short_containment`, one under
    # `tiny_shingles` also Jaccard >= `tiny_jaccard` (set against the dev corpora's templated
    # stubs that merged without it; eval/make_story_set.py).
    short_shingles: int = 100
    short_containment: float = 0.7
    tiny_shingles: int = 50
    tiny_jaccard: float = 0.5

    def key(self) -> str:
        """What stored signatures depend on: other values need them recomputed."""
        return f"{self.num_perm}/{self.shingle}/{SEED}/{SCHEME}"


def shingles(text: str, k: int) -> set[bytes]:
    """The word k-grams of `text`, lower-cased: punctuation and line breaks an outlet changes
    do not matter, the words and their order do."""
    words = WORD.findall(text.lower())
    if len(words) < k:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)}


@dataclass
class Signature:
    """An article's MinHash and how many shingles it was made of."""

    hashvalues: np.ndarray
    size: int

    def minhash(self) -> MinHash:
        return MinHash(num_perm=len(self.hashvalues), seed=SEED, hashvalues=self.hashvalues, scheme=SCHEME)


def signature(text: str, params: StoryParams) -> Signature:
    sh = shingles(text, params.shingle)
    m = MinHash(num_perm=params.num_perm, seed=SEED, scheme=SCHEME)
    if sh:
        m.update_batch(list(sh))
    return Signature(np.asarray(m.hashvalues, dtype=DTYPE), len(sh))


def similarity(a: Signature, b: Signature) -> tuple[float, float]:
    """(Jaccard, containment of the smaller in the larger), estimated from the signatures."""
    if not a.size or not b.size:
        return 0.0, 0.0
    j = float(np.mean(a.hashvalues == b.hashvalues))
    inter = j * (a.size + b.size) / (1.0 + j)
    return j, min(1.0, inter / min(a.size, b.size))


def new_story_id(doc_id: str, content_hash: str) -> str:
    # Not the doc id itself: a replaced first copy that no longer matches must not take the
    # story id its former copies keep.
    return "s-" + hashlib.sha1(f"{doc_id}\n{content_hash}".encode()).hexdigest()[:12]


@dataclass
class Member:
    """An article's row in the story file."""

    doc_id: str
    story_id: str
    content_hash: str
    source: str
    title: str
    published_at: str | None

    def copy(self) -> StoryCopy:
        return StoryCopy(doc_id=self.doc_id, source=self.source, title=self.title,
                         published_at=self.published_at)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY, story_id TEXT NOT NULL, content_hash TEXT NOT NULL,
    source TEXT NOT NULL, title TEXT NOT NULL, published_at TEXT,
    size INTEGER NOT NULL, signature BLOB NOT NULL, added INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS by_story ON articles(story_id);
"""


class StoryIndex:
    """The stories of one library: `add` an article, `remove` one, `story_of` a doc id.

    Writers (`add`, `remove`, `reconcile`) must hold the store's write lock; readers see what
    other processes wrote at their next call (the file's generation counter is read each time).
    """

    def __init__(self, path: Path, params: StoryParams | None = None) -> None:
        self.path = Path(path)
        self.params = params or StoryParams()
        self._lock = threading.RLock()
        self._generation = -1
        self._members: dict[str, Member] = {}
        self._stories: dict[str, list[str]] = {}
        self._lsh: MinHashLSH | None = None
        self._signatures: dict[str, Signature] = {}
        self._con: sqlite3.Connection | None = None

    # --- the file ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """The file, opened once per index (closing it would checkpoint the WAL each time);
        callers hold `_lock`, so threads share it one at a time."""
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")  # readers in other processes never block the writer
            # A rebuildable cache: a commit need not wait for the disk (WAL stays consistent after
            # a crash of the process; a power cut may lose the last writes, which reconcile redoes).
            con.execute("PRAGMA synchronous=NORMAL")
            con.executescript(_SCHEMA)
            self._con = con
        return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def _read_generation(self, con: sqlite3.Connection) -> int:
        row = con.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _bump(self, con: sqlite3.Connection) -> None:
        con.execute(
            "INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) DO UPDATE "
            "SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )

    def _load(self, con: sqlite3.Connection, with_signatures: bool = False) -> None:
        """The members (and, for a writer, the LSH) as the file holds them now."""
        gen = self._read_generation(con)
        if gen == self._generation and (self._lsh is not None or not with_signatures):
            return
        members: dict[str, Member] = {}
        stories: dict[str, list[str]] = {}
        rows = con.execute(
            "SELECT doc_id, story_id, content_hash, source, title, published_at FROM articles "
            "ORDER BY added, doc_id"
        ).fetchall()
        for row in rows:
            m = Member(*row)
            members[m.doc_id] = m
            stories.setdefault(m.story_id, []).append(m.doc_id)
        self._members, self._stories = members, stories
        self._lsh = None
        self._signatures = {}
        if with_signatures:
            lsh = MinHashLSH(threshold=self.params.threshold, num_perm=self.params.num_perm)
            for doc_id, size, blob in con.execute("SELECT doc_id, size, signature FROM articles"):
                sig = Signature(np.frombuffer(blob, dtype=DTYPE).copy(), int(size))
                self._signatures[doc_id] = sig
                lsh.insert(doc_id, sig.minhash())
            self._lsh = lsh
        self._generation = gen

    def refresh(self) -> None:
        """Catch up with what any process wrote (one small read when nothing changed)."""
        if not self.path.exists():
            return
        with self._lock:
            self._load(self._connect())

    # --- reading -------------------------------------------------------------------------------
    # Readers take the lock too: a refresh in another thread swaps the two maps, and a writer in
    # this process edits them in place; a reader between those steps could see a story listing
    # an article the members no longer hold (a KeyError in a server answering while it ingests).
    def __len__(self) -> int:
        """Articles placed in stories (as of the last refresh)."""
        with self._lock:
            return len(self._members)

    def story_of(self, doc_id: str) -> str | None:
        with self._lock:
            m = self._members.get(doc_id)
            return m.story_id if m else None

    def copies(self, doc_id: str) -> list[Member]:
        """The other articles of `doc_id`'s story, in the order they joined."""
        with self._lock:
            m = self._members.get(doc_id)
            if m is None:
                return []
            return [self._members[d] for d in self._stories.get(m.story_id, []) if d != doc_id]

    def stories(self) -> dict[str, list[Member]]:
        """story_id -> its articles, in the order they joined."""
        with self._lock:
            return {s: [self._members[d] for d in ds] for s, ds in self._stories.items()}

    # --- writing (under the store's write lock) ------------------------------------------------
    def add(self, articles: Iterable[Article]) -> dict[str, str]:
        """Put each article into a story, in order (a later one may join an earlier one's);
        doc_id -> story_id of each. An article already there with the same content keeps its
        story; a changed one (a correction) is placed afresh, usually back into its story."""
        out: dict[str, str] = {}
        with self._lock:
            con = self._connect()
            try:
                with con:
                    self._check_params(con)
                    self._load(con, with_signatures=True)
                    for a in articles:
                        out[a.doc_id] = self._add_one(con, a)
                    self._bump(con)
            except BaseException:
                self._forget()  # the file rolled back: so must what this process holds
                raise
            self._generation = self._read_generation(con)
        return out

    def _forget(self) -> None:
        """Drop the in-memory copy; the next call reloads it from the file."""
        self._generation = -1
        self._lsh = None
        self._signatures = {}

    def _add_one(self, con: sqlite3.Connection, a: Article) -> str:
        old = self._members.get(a.doc_id)
        if old is not None and old.content_hash == a.content_hash:
            return old.story_id
        if old is not None:
            self._drop(con, a.doc_id)
        sig = signature(a.text, self.params)
        story = self._best_story(sig) or new_story_id(a.doc_id, a.content_hash)
        m = Member(a.doc_id, story, a.content_hash, a.source, a.title, a.published_at)
        added = con.execute("SELECT COALESCE(MAX(added), 0) + 1 FROM articles").fetchone()[0]
        con.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (m.doc_id, m.story_id, m.content_hash, m.source, m.title, m.published_at, sig.size,
             sig.hashvalues.astype(DTYPE).tobytes(), added),
        )
        assert self._lsh is not None
        self._lsh.insert(a.doc_id, sig.minhash())
        self._signatures[a.doc_id] = sig
        self._members[a.doc_id] = m
        self._stories.setdefault(story, []).append(a.doc_id)
        return story

    def _best_story(self, sig: Signature) -> str | None:
        """The story of the most similar candidate the LSH proposes, if it is a copy."""
        if not sig.size or self._lsh is None:
            return None
        best: tuple[float, float, str] | None = None
        for doc_id in self._lsh.query(sig.minhash()):
            other = self._signatures.get(doc_id)
            if other is None:
                continue
            j, c = similarity(sig, other)
            if not self._is_copy(sig, other, j, c):
                continue
            if best is None or (c, j) > best[:2]:
                best = (c, j, self._members[doc_id].story_id)
        return best[2] if best else None

    def _is_copy(self, a: Signature, b: Signature, j: float, c: float) -> bool:
        p = self.params
        smaller = min(a.size, b.size)
        if smaller < p.tiny_shingles and j < p.tiny_jaccard:
            return False
        need = p.short_containment if smaller < p.short_shingles else p.min_containment
        return c >= max(need, p.min_containment)

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Take articles out of their stories (deleted from the library)."""
        with self._lock:
            if not self.path.exists():
                return
            con = self._connect()
            try:
                with con:
                    self._load(con, with_signatures=True)
                    for d in doc_ids:
                        self._drop(con, d)
                    self._bump(con)
            except BaseException:
                self._forget()
                raise
            self._generation = self._read_generation(con)

    def _drop(self, con: sqlite3.Connection, doc_id: str) -> None:
        m = self._members.pop(doc_id, None)
        if m is None:
            return
        con.execute("DELETE FROM articles WHERE doc_id = ?", (doc_id,))
        if self._lsh is not None and doc_id in self._signatures:
            self._lsh.remove(doc_id)
        self._signatures.pop(doc_id, None)
        rest = [d for d in self._stories.get(m.story_id, []) if d != doc_id]
        if rest:
            self._stories[m.story_id] = rest
        else:
            self._stories.pop(m.story_id, None)

    def _check_params(self, con: sqlite3.Connection) -> None:
        """Signatures made with other settings cannot be compared: start the file afresh
        (reconcile then recomputes them from the stored texts)."""
        row = con.execute("SELECT value FROM meta WHERE key='params'").fetchone()
        if row is not None and row[0] == self.params.key():
            return
        con.execute("DELETE FROM articles")
        con.execute(
            "INSERT INTO meta(key, value) VALUES('params', ?) ON CONFLICT(key) DO UPDATE "
            "SET value = excluded.value", (self.params.key(),)
        )
        self._bump(con)
        self._generation = -1

    def reconcile(self, current: dict[str, str], text_of: Callable[[str], Article]) -> int:
        """Bring the file in line with the library: `current` maps each stored doc id to its
        content hash; articles missing (or changed) are added from `text_of(doc_id)`, in doc
        id order, rows of articles no longer stored are dropped. Returns how many changed."""
        with self._lock:
            con = self._connect()
            with con:
                self._check_params(con)
                self._load(con)
            have = {d: m.content_hash for d, m in self._members.items()}
        gone = [d for d in have if d not in current]
        todo = sorted(d for d, h in current.items() if have.get(d) != h)
        if gone:
            self.remove(gone)
        if todo:
            self.add(text_of(d) for d in todo)
        return len(gone) + len(todo)


def story_file(home: Path, collection: str) -> Path:
    return Path(home) / f"stories-{collection}.sqlite"
