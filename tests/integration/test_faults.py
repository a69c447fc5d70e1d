"""A disk that fills up under an ingest: a clear error naming the disk, the articles stored before
it reported, reads going on while writes cannot, nothing lost once space is back.

The disk is a small tmpfs mounted for the test (the sandbox runs as root; elsewhere the tests skip
and say why). The fake embedder stands in for the model: what fills the disk is Chroma's records.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa.errors import DiskFullError, PartialIngest
from qa.types import Article
from tests.support.fakes import HashEmbedder

runner = CliRunner()

Mount = Callable[[str], Path]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Mount]:
    """mount("12m") -> the folder of a fresh tmpfs of that size, unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        got = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
        if got.returncode:
            pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {got.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def resize(disk: Path, size: str) -> None:
    """Give the tmpfs more room, as freeing space on a real disk would."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def articles(n: int, start: int = 0) -> list[Article]:
    return [
        Article(doc_id=f"a{i:04d}", title=f"Article {i}", text=" ".join(
            f"Sentence {j} of article {i} is about topic{i}x{j} and a few more words." for j in range(20)
        ))
        for i in range(start, start + n)
    ]


def qa_on(home: Path) -> Any:
    from qa.service import QA
    from qa.settings import Settings

    # Small groups (8 chunks a batch, ~16 articles a group) so that the disk fills between groups.
    return QA(Settings(home=home, embed_batch_size=8), embedder=HashEmbedder())


def cli(home: Path, *args: str) -> tuple[int, str, str]:
    from qa.cli import app

    r = runner.invoke(app, [*args[:1], "--home", str(home), *args[1:]], env={"COLUMNS": "1000"})
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """`qa ...` in-process with the fake embedder."""
    monkeypatch.setattr("qa.cli._service", lambda home, **_: qa_on(home))


READ_IN_ANOTHER_PROCESS = """
import json, sys
from pathlib import Path
from qa.service import QA
from qa.settings import Settings
from tests.support.fakes import HashEmbedder
qa = QA(Settings(home=Path(sys.argv[1])), embedder=HashEmbedder())
health, _ = qa.check()
answer = qa.ask("What is article 3 about? topic3x4")
print(json.dumps({"listed": len(qa.list()), "ok": health.ok, "articles": health.articles,
                  "cited": [c.doc_id for c in answer.citations]}))
"""


def read_in_another_process(home: Path) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    got = subprocess.run([sys.executable, "-c", READ_IN_ANOTHER_PROCESS, str(home)], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    return dict(json.loads(got.stdout.strip().splitlines()[-1]))


def test_disk_full_during_an_ingest(small_disk: Mount, tmp_path: Path, fake_service: None) -> None:
    disk = small_disk("12m")
    home = disk / "home"
    feed = tmp_path / "feed.jsonl"  # on another disk, as a user's files would be
    feed.write_text("".join(json.dumps(a.model_dump()) + "\n" for a in articles(120)))

    code, out, err = cli(home, "ingest", "-q", str(feed))
    assert code == 1
    added = [line for line in out.splitlines() if line.startswith("added: ")]
    assert added, "the articles stored before the disk filled are reported"
    assert f"No space left on the disk holding {home / 'chroma'}: " in err
    assert f"`df {home / 'chroma'}` names it" in err
    assert f"{len(added)} article(s) were stored before the failure" in err
    assert "Traceback" not in err and "InternalError" not in err

    # While the disk stays full, reads work, here and in another process; writes say why not.
    code, out, _ = cli(home, "list", "--json")
    assert code == 0 and [r["doc_id"] for r in json.loads(out)] == [f"a{i:04d}" for i in range(len(added))]
    code, out, _ = cli(home, "ask", "--json", "What is article 3 about? topic3x4")
    assert code == 0 and json.loads(out)["citations"][0]["doc_id"] == "a0003"
    code, out, _ = cli(home, "check")
    assert code == 0, out
    assert read_in_another_process(home) == {
        "listed": len(added), "ok": True, "articles": len(added), "cited": ["a0003"]
    }
    code, out, err = cli(home, "ingest", "-q", str(feed))
    assert code == 1 and "No space left on the disk holding" in err
    assert f"{len(added)} unchanged" in out

    # Space again: the same ingest adds the rest, and nothing was lost.
    resize(disk, "64m")
    code, out, _ = cli(home, "ingest", "-q", str(feed))
    assert code == 0 and f"{len(added)} unchanged" in out and f"{120 - len(added)} added" in out
    code, out, _ = cli(home, "check")
    assert code == 0 and out.startswith("120 articles"), out


def test_disk_full_inside_chroma(small_disk: Mount, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without qa's space check Chroma runs out of space mid-write itself: its error becomes the
    clear one, what it logged and could not apply is taken back so that reads go on, and the
    next write in the same process fails cleanly instead of hanging on a lock Chroma left."""
    from qa.store import connection

    monkeypatch.setattr(connection, "SPACE_PER_BYTE", 0)
    monkeypatch.setattr(connection, "SPACE_MARGIN", 0)
    disk = small_disk("3m")
    home = disk / "home"
    qa = qa_on(home)
    with pytest.raises(PartialIngest) as stopped:
        qa.ingest_articles(articles(200))
    assert isinstance(stopped.value.cause, DiskFullError)
    assert "Failed to apply logs" in str(stopped.value)  # Chroma's own failure, explained
    stored = [r.doc_id for r in stopped.value.results if r.status == "added"]
    assert stored

    assert [a.doc_id for a in qa.list()] == stored
    assert qa.ask("What is article 3 about? topic3x4").citations[0].doc_id == "a0003"
    assert qa.check()[0].problems == []  # (the failed group may leave records: the next write removes them)

    failed: list[BaseException] = []

    def write_again() -> None:
        try:
            qa.ingest_articles(articles(10, start=200))
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            failed.append(exc)

    writer = threading.Thread(target=write_again, daemon=True)
    writer.start()
    writer.join(120)
    assert not writer.is_alive(), "a write after the disk filled hung"
    assert failed and isinstance(failed[0], PartialIngest), failed
    assert [a.doc_id for a in qa.list()] == stored
    seen = read_in_another_process(home)
    assert seen["listed"] == len(stored) and seen["cited"] == ["a0003"]

    resize(disk, "64m")
    results = qa.ingest_articles(articles(200))
    assert {r.status for r in results} == {"added", "unchanged"}
    health, _ = qa.check()
    assert health.ok and health.articles == 200 and health.orphans == 0, health
    qa.close()


def test_a_disk_with_not_a_byte_left(small_disk: Mount) -> None:
    """With nothing at all left, qa's journal of pending writes cannot be written: writes stop
    with the clear error, reads of the open store go on. Chroma writes a journal even to open its
    store, so a new process cannot read: it says why, and reads again once there is space."""
    disk = small_disk("16m")
    home = disk / "home"
    with qa_on(home) as qa:
        qa.ingest_articles(articles(3))
        filler = disk / "filler"
        with open(filler, "wb") as fh, pytest.raises(OSError) as full:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        assert full.value.errno == errno.ENOSPC
        with pytest.raises(DiskFullError, match="No space left on the disk holding"):
            qa.delete("a0001")
        assert [a.doc_id for a in qa.list()] == ["a0000", "a0001", "a0002"]

    def qa_list() -> subprocess.CompletedProcess[str]:  # `qa list` loads no model
        qa_cli = Path(sys.executable).with_name("qa")
        return subprocess.run([str(qa_cli), "list", "--json", "--home", str(home)],
                              capture_output=True, text=True, timeout=120)

    got = qa_list()
    assert got.returncode == 2 and "No space left on the disk holding" in got.stderr, got.stderr
    assert "Traceback" not in got.stderr
    filler.unlink()
    got = qa_list()
    assert got.returncode == 0 and len(json.loads(got.stdout)) == 3, got.stderr


def test_a_lexical_cache_that_cannot_be_saved_is_used_from_memory(
    small_disk: Mount, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from qa.retrieve.lexical import LexicalIndex

    qa = qa_on(tmp_path / "home")
    qa.ingest_articles(articles(5))
    full = small_disk("64k")
    (full / "filler").write_bytes(b"\0" * 60_000)
    qa.lexical = LexicalIndex(full / "cache")
    with caplog.at_level(logging.WARNING, logger="qa.retrieve.lexical"):
        assert qa.ask("What is article 3 about? topic3x4").citations[0].doc_id == "a0003"
    assert "using it from memory" in caplog.text
    assert not any((full / "cache").glob("*/*")), "no half-saved cache is left"


def test_errors_that_mean_a_full_disk(tmp_path: Path) -> None:
    from qa.store.connection import disk_full

    home = tmp_path / "home"
    for exc in (
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        RuntimeError("error returned from database: (code: 13) database or disk is full"),
    ):
        got = disk_full(exc, home, None)
        assert isinstance(got, DiskFullError) and str(home / "chroma") in str(got), exc
        assert "QA_HOME" in got.help
    assert disk_full(RuntimeError("Collection [x] does not exist"), home, None) is None
    server = disk_full(RuntimeError("No space left on device"), home, "http://127.0.0.1:8000")
    assert server is not None and "The Chroma server at http://127.0.0.1:8000 has no space" in str(server)
    assert disk_full(RuntimeError("InternalError: Failed"), home, "http://127.0.0.1:8000") is None
