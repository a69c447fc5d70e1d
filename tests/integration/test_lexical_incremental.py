"""The incremental lexical index (qa.retrieve.lexical, SQLite FTS5): after adds, replaces and
deletes it answers exactly as a full rebuild does; another process's write is caught up at the
next request without a rebuild; a process killed between its Chroma write and the index update,
or in the middle of the update, leaves both consistent at the next open; a corrupt file is
rebuilt. Real Chroma in a temp dir, real SQLite files, real processes; the fake embedder stands
in for the model (the lexical index is the point)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa.retrieve.lexical import LexicalIndex
from qa.service import QA
from qa.settings import Settings
from qa.types import Article
from tests.support.fakes import HashEmbedder
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration]

QUERIES = [
    "penguins Antarctica winter",
    "Armenia joint drills Kremlin",
    "World Cup final penalties",
    "central bank interest rates inflation",
    "glacier melting scientists said",
    "zebra",
    "the of and",  # stop words only: nothing to search
]
TERMS = ["penguin", "armenia", "drill", "glacier", "rate", "unseen", "said"]


def article(doc_id: str, text: str, title: str = "T") -> Article:
    return Article(doc_id=doc_id, title=title, source="S", text=text)


FIRST = [
    article("pen", "Penguins migrate across Antarctica every winter. Scientists said the colony grew."),
    article("arm", "Armenia and the United States began joint drills on Monday. The Kremlin objected."),
    article("cup", "Argentina won the World Cup final in Qatar after penalties. Fans celebrated."),
    article("bank", "The central bank raised interest rates again. Inflation stayed high, it said."),
]


def make(home: Path) -> QA:
    return QA(Settings(home=home, mode="extractive"), embedder=HashEmbedder())


def answers(index: LexicalIndex) -> tuple[list, list]:
    return [index.search(q, 20) for q in QUERIES], [round(index.idf(t), 12) for t in TERMS]


def full_rebuild(qa: QA, path: Path) -> tuple[list, list]:
    fresh = LexicalIndex(path)
    fresh.ensure(qa.store)
    assert fresh.rebuilds == 1
    try:
        return answers(fresh)
    finally:
        fresh.close()


def test_adds_replaces_and_deletes_equal_a_full_rebuild(tmp_path: Path) -> None:
    qa = make(tmp_path / "home")
    qa.ingest_articles(FIRST)
    qa.ask("Where do penguins migrate?")
    assert qa.lexical.rebuilds == 1
    steps = [
        lambda: qa.ingest_articles([article("gla", "Glaciers melt faster, scientists said on Tuesday.")]),
        lambda: qa.ingest_articles([article("pen", "Penguins stay on the ice in winter. Zebra finches go.")]),
        lambda: qa.delete("arm"),
        lambda: qa.ingest_articles([
            article("arm", "Armenia held drills again; the Kremlin said nothing this time."),
            article("cup", "The World Cup final went to penalties. Argentina won it."),
        ]),
        lambda: qa.delete("bank"),
    ]
    for n, step in enumerate(steps):
        step()
        if n != 1:  # (steps 1 and 2 are caught up together)
            qa.ask("Which colony grew?")
            assert answers(qa.lexical) == full_rebuild(qa, tmp_path / f"full-{n}.sqlite"), f"step {n}"
    assert qa.lexical.rebuilds == 1, "every change was applied in place"
    assert qa.lexical.reindexed == 6  # gla; pen and arm; arm and cup; bank
    searched = dict(qa.lexical.search("Kremlin central bank", 20))
    assert not any(doc == "bank" for doc, _ in searched), "a deleted article is not found"
    assert ("arm", 0) in searched
    assert qa.lexical.search("zebra finches", 5)[0][0] == ("pen", 1)


CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from qa.service import QA
    from qa.settings import Settings
    from qa.types import Article
    from tests.support.fakes import HashEmbedder

    home, what = Path(sys.argv[1]), sys.argv[2]

    def hang(message):
        print(message, flush=True)
        time.sleep(600)

    if what == "in-update":  # killed inside the index's SQLite transaction, after its changes
        from qa.retrieve import lexical
        insert = lexical.LexicalIndex._insert
        def stalled(self, con, rows):
            got = insert(self, con, rows)
            if self._checked:  # the first catch-up goes through; the one after the write hangs
                hang("in-update")
            return got
        lexical.LexicalIndex._insert = stalled
    if what == "before-log":  # killed after Chroma committed, before the change log heard of it
        from qa.store.store import Store
        committed = Store._committed
        def stalled_commit(self, doc_ids):
            if doc_ids and "pen" in doc_ids:
                hang("before-log")
            committed(self, doc_ids)
        Store._committed = stalled_commit

    qa = QA(Settings(home=home, mode="extractive"), embedder=HashEmbedder())
    qa.ask("Where do penguins migrate?")  # the index is current before the write
    qa.ingest_articles([
        Article(doc_id="pen", title="T", source="S",
                text="Penguins now winter on the northern ice. Zebra finches never do."),
        Article(doc_id="new", title="N", source="S", text="Quokkas smile on Rottnest Island."),
    ])
    if what == "after-write":  # killed between the Chroma write and the index update
        hang("after-write")
    qa.ask("Where do quokkas smile?")  # this process's own catch-up (hangs for in-update)
    print("done", qa.lexical.rebuilds, qa.lexical.reindexed, flush=True)
    """
).format(root=str(ROOT))


def child(home: Path, what: str) -> subprocess.Popen[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), what],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )


def run_until(proc: subprocess.Popen[str], line: str) -> None:
    """Read the child's output until `line`, then kill it there (SIGKILL: no clean-up)."""
    assert proc.stdout is not None
    for got in proc.stdout:
        if got.strip() == line:
            break
    else:
        proc.wait()
        raise AssertionError(f"child ended before {line!r}: {proc.stderr.read() if proc.stderr else ''}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_another_process_write_is_seen_at_the_next_request_without_a_rebuild(tmp_path: Path) -> None:
    home = tmp_path / "home"
    reader = make(home)
    reader.ingest_articles(FIRST)
    assert reader.ask("Where do penguins migrate?").citations[0].doc_id == "pen"
    assert (reader.lexical.rebuilds, reader.lexical.reindexed) == (1, 0)
    writer = child(home, "plain")
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    # The writer caught the shared file up with its own write; it rebuilt nothing either.
    assert out.split()[-3:] == ["done", "0", "2"], out
    reader.store.sync()  # what every face does at the start of a request
    assert reader.ask("Where do quokkas smile?").citations[0].doc_id == "new"
    assert reader.lexical.rebuilds == 1, "no rebuild: the file was already current"
    assert answers(reader.lexical) == full_rebuild(reader, tmp_path / "full.sqlite")

    # A second reader on its own file (as on another machine sharing a Chroma server) catches
    # up from the change log alone.
    other = LexicalIndex(tmp_path / "other-machine.sqlite")
    other.ensure(reader.store)
    reader.ingest_articles([article("late", "Kiwis cannot fly, scientists said.")])
    reader.ask("Can kiwis fly?")
    other.ensure(reader.store)
    assert (other.rebuilds, other.reindexed) == (1, 1)
    assert answers(other) == answers(reader.lexical)


@pytest.mark.parametrize("where", ["after-write", "in-update", "before-log"])
def test_a_writer_killed_mid_write_leaves_them_consistent(tmp_path: Path, where: str) -> None:
    home = tmp_path / "home"
    qa = make(home)
    qa.ingest_articles(FIRST)
    qa.ask("Where do penguins migrate?")
    qa.lexical.close()
    qa.close()
    run_until(child(home, where), where)

    after = make(home)  # the next open, as a new process would
    assert after.ask("Where do quokkas smile?").citations[0].doc_id == "new"
    cited = after.ask("Where do penguins winter now?").citations[0]
    assert cited.doc_id == "pen" and "northern ice" in cited.text
    assert after.lexical.rebuilds == 0, "caught up in place, not rebuilt"
    assert answers(after.lexical) == full_rebuild(after, tmp_path / "full.sqlite")
    hits = after.lexical.search("colony grew scientists", 20)
    assert not any(doc == "pen" for (doc, _), _ in hits), "the replaced version is gone"


@pytest.mark.parametrize("damage", ["header", "pages", "other-schema"])
def test_a_corrupt_file_is_rebuilt(tmp_path: Path, damage: str) -> None:
    qa = make(tmp_path / "home")
    qa.ingest_articles(FIRST)
    qa.ask("Where do penguins migrate?")
    expected = answers(qa.lexical)
    path = qa.lexical.path
    qa.lexical.close()  # the WAL is folded into the file
    assert not path.with_name(path.name + "-wal").exists()
    data = bytearray(path.read_bytes())
    if damage == "header":
        data[:100] = b"\x00garbage" * 12 + b"\x00" * 4
    elif damage == "pages":
        page = 4096
        for start in range(page, len(data) - page, 2 * page):
            data[start : start + page] = b"\xff" * page
    else:
        path.unlink()
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('schema', 'qa-lexical-0')")
        con.commit()
        con.close()
        data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data))

    index = LexicalIndex(path)
    index.ensure(qa.store)
    assert index.rebuilds == 1
    assert answers(index) == expected
    qa.lexical = index
    assert qa.ask("Where do penguins migrate?").citations[0].doc_id == "pen"


def test_tokens_are_those_bm25s_made() -> None:
    """The index keeps the tokens the bm25s index had (its pattern, stop words, PyStemmer)."""
    bm25s = pytest.importorskip("bm25s")
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    index = LexicalIndex(Path("unused.sqlite"))
    texts = [
        "The Kremlin said the joint drills with Armenia required deep analysis.",
        "Café owners in São Paulo raised prices 12% in 2023; snake_case_words and x2 stay.",
        "It is what it is: a, an, the, and — nothing else?",
        "Naïve résumés, ΑΘΗΝΑ and Москва are words too.",
    ]
    for text in texts:
        want = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, return_ids=False,
                              show_progress=False)[0]
        assert index.tokens(text) == want, text
