"""A vector index torn by a killed writer is rebuilt from Chroma's log when the store next opens.

Chroma (embedded) rewrites its index files in place and then drops from its log what they hold; a
kill inside that rewrite leaves an index that no later process can load or extend (upstream
chroma-core/chroma#7678). A random kill (tests/integration/test_crash.py) lands there only now and then, so
here the damage is made on purpose: the index files of every collection are cut short and their
id map overwritten, with the pid of a "killed" writer left in write.lock. Each step runs in a
fresh process because Chroma keeps an opened store's index in memory for the whole process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

N_ARTICLES = 40


def _run(fn: Any, *args: Any) -> Any:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _qa(home: str, **store: Any) -> Any:
    from qa.service import QA
    from qa.settings import Settings
    from qa.store import Store
    from tests.support.fakes import HashEmbedder

    # The hashing embedder's similarities mean nothing to the answerability model: never abstain.
    settings = Settings(home=Path(home), abstain_threshold=0.0)
    return QA(settings, embedder=HashEmbedder(), store=Store.from_settings(settings, **store))


def _articles() -> list[Any]:
    from qa.types import Article

    return [
        Article(
            doc_id=f"a{i:02d}",
            title=f"Harbour report {i}",
            # 40 articles x 30 sentences: the sentence index is written to disk (1,000 records a time)
            text=" ".join(f"Ship {i}-{j} unloaded cargo{(i * j) % 17} at pier{j}." for j in range(30)),
        )
        for i in range(N_ARTICLES)
    ]


def _ingest(home: str) -> None:
    qa = _qa(home)
    qa.ingest_articles(_articles())


def _state(home: str, **store: Any) -> dict[str, Any]:
    """What a reader sees: counts, the health check, and nearest sentences of a few queries."""
    from tests.support.fakes import HashEmbedder

    qa = _qa(home, **store)
    e = HashEmbedder()
    # Distances, not ids: the fake embedder gives many sentences equal vectors, and which of
    # those ties an index returns depends on the order it was built in.
    hits = {
        q: [round(h.similarity, 5) for h in qa.store.query_sentences(e.embed_query(q), 5)]
        for q in ("Ship 3-7 unloaded cargo4 at pier7.", "cargo11 pier20", "Ship 39-29")
    }
    health = qa.store.check()
    return {
        "counts": qa.store.count(),
        "problems": health.problems,
        "orphans": health.orphans,
        "hits": hits,
        "answer": qa.ask("Where did ship 12-5 unload?").answer,
    }


_CHROMA_ALONE = """
import sys, chromadb
client = chromadb.PersistentClient(path=sys.argv[1])
for col in client.list_collections():
    col.count()
    col.query(query_embeddings=[[0.1] * 64], n_results=3)
"""


def _open_with_chroma(path: Path) -> subprocess.CompletedProcess[str]:
    """Open the damaged store with Chroma alone (no qa) and read it, in a process of its own: a
    torn index may crash it outright."""
    return subprocess.run(
        [sys.executable, "-c", _CHROMA_ALONE, str(path)], capture_output=True, text=True, timeout=300
    )


def _vector_folders(chroma: Path) -> list[Path]:
    with sqlite3.connect(chroma / "chroma.sqlite3") as db:
        ids = [r[0] for r in db.execute("SELECT id FROM segments WHERE scope = 'VECTOR'")]
    return [chroma / i for i in ids if (chroma / i).exists()]


def _tear(home: Path) -> list[Path]:
    """Damage every persisted index as a kill inside Chroma's rewrite does, and leave the pid of
    a killed writer in write.lock."""
    torn = []
    for folder in _vector_folders(home / "chroma"):
        data = folder / "data_level0.bin"
        os.truncate(data, data.stat().st_size // 3)
        (folder / "index_metadata.pickle").write_bytes(b"\x80\x04torn")
        torn.append(folder)
    (home / "write.lock").write_text("424242")
    return torn


@pytest.mark.slow
def test_a_torn_index_is_rebuilt_when_the_store_opens(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run(_ingest, str(home))
    assert (home / "write.lock").read_text() == "", "a writer that finishes leaves the lock empty"
    before = _run(_state, str(home))
    assert before["counts"]["sentences"] == N_ARTICLES * 30 and not before["problems"]
    assert "pier" in before["answer"]

    torn = _tear(home)
    assert torn, "the sentence index should have been written to disk"
    # Chroma alone cannot read the store any more: the damage is real.
    damage = _open_with_chroma(home / "chroma")
    assert damage.returncode != 0, damage.stdout

    # Restore the damage (Chroma alone may have changed files) and open with qa.
    _tear(home)
    after = _run(_state, str(home))
    assert after == before
    assert (home / "write.lock").read_text() == ""
    # The torn files are gone; an index holding 1,000 records or more is on disk again.
    for folder in torn:
        pickle = folder / "index_metadata.pickle"
        assert not pickle.exists() or pickle.read_bytes() != b"\x80\x04torn"
    assert any((f / "index_metadata.pickle").exists() for f in torn)


@pytest.mark.slow
def test_check_repair_rebuilds_the_index_on_request(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run(_ingest, str(home))
    before = _run(_state, str(home))
    _tear(home)
    (home / "write.lock").write_text("")  # no killed writer recorded: only a repair helps
    after = _run(_state_rebuilt, str(home))
    assert after == before


def _state_rebuilt(home: str) -> dict[str, Any]:
    return _state(home, rebuild_index=True)


def test_a_store_keeps_chromas_log_so_that_its_index_can_be_rebuilt(tmp_path: Path) -> None:
    from qa.service import QA
    from qa.settings import Settings
    from tests.support.fakes import HashEmbedder

    qa = QA(Settings(home=tmp_path), embedder=HashEmbedder())
    qa.ingest_articles(_articles()[:5])
    with sqlite3.connect(tmp_path / "chroma" / "chroma.sqlite3") as db:
        (first,) = db.execute("SELECT MIN(seq_id) FROM embeddings_queue").fetchone()
        (rows,) = db.execute("SELECT COUNT(*) FROM embeddings_queue").fetchone()
    assert first == 1
    assert rows >= sum(qa.store.count().values())


def test_repair_refuses_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    import fcntl

    from qa.errors import StoreError
    from qa.store import Store

    Store(tmp_path)
    with open(tmp_path / "write.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(StoreError, match="writing to it"):
            Store(tmp_path, rebuild_index=True)


@pytest.mark.slow
def test_qa_check_names_the_damage_and_check_repair_mends_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run(_ingest, str(home))
    _tear(home)
    (home / "write.lock").write_text("")
    env = {**os.environ, "QA_HOME": str(home)}

    def qa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, env=env, timeout=300
        )

    damaged = qa("check")
    assert damaged.returncode == 2
    assert "vector index" in damaged.stderr and "qa check --repair" in damaged.stderr
    repaired = qa("check", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert f"{N_ARTICLES} articles, {N_ARTICLES * 30} sentence" in repaired.stdout
    assert "rebuilt the vector indexes" in repaired.stderr
    assert qa("check").returncode == 0
