"""The core checks against a real Chroma server (`chroma run` on loopback), via QA(Settings(chroma_url)).

One server serves the module (each test its own collection prefix); the tests that stop, kill or
restart a server start their own. The fake embedder stands in for the model except in the one
test where the answer itself is the point.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from qa.errors import NotFoundError, PartialIngest, StoreError
from qa.types import Article
from tests.support.chroma_server import AuthProxy, ChromaServer, chroma_server, free_port
from tests.support.fakes import HashEmbedder
from tests.support.paths import SEED

pytestmark = pytest.mark.server

ARTICLES = [
    Article(doc_id="afp-1", title="Drills", source="AFP", published_at="2023-09-11",
            text="Armenia and the United States began joint drills on Monday."),
    Article(doc_id="rt-1", title="Kremlin", source="Reuters", published_at="2023-09-12",
            text="The Kremlin said the joint drills with Armenia required deep analysis."),
    Article(doc_id="bbc-1", title="Football", source="BBC", published_at="2022-12-18",
            text="Argentina won the World Cup final in Qatar after penalties."),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    with chroma_server(tmp_path_factory.mktemp("chroma") / "data") as s:
        yield s


def _qa(url: str, home: Path, embedder: Any = None, **settings: Any) -> Any:
    from qa.service import QA
    from qa.settings import Settings

    settings.setdefault("collection", f"t{uuid.uuid4().hex[:10]}")
    return QA(Settings(home=home, chroma_url=url, **settings), embedder=embedder or HashEmbedder())


def _check_citations(qa: Any, citations: list[Any]) -> None:
    assert citations
    for c in citations:
        assert qa.get(c.doc_id).text[c.start : c.end] == c.text


def test_ingest_idempotency_replace_delete(server: ChromaServer, tmp_path: Path) -> None:
    qa = _qa(server.url, tmp_path / "home")
    assert not (tmp_path / "home" / "chroma").exists()  # nothing embedded: the server holds it
    seed = tmp_path / "seed.txt"
    seed.write_text(SEED.read_text())
    assert [(r.status, r.n_sentences) for r in qa.ingest([seed])] == [("added", 13)]
    before = qa.store.count()
    assert before["articles"] == 1 and before["sentences"] == 13
    assert [r.status for r in qa.ingest([seed])] == ["unchanged"]
    assert qa.store.count() == before

    seed.write_text("A short replacement. It has two sentences.")
    assert [(r.status, r.n_sentences) for r in qa.ingest([seed])] == [("replaced", 2)]
    assert qa.store.count() == {"articles": 1, "sentences": 2, "chunks": 1}
    assert [s.text for s in qa.sentences("seed")] == ["A short replacement.", "It has two sentences."]

    # A second client (another process, say) sees the same library.
    other = _qa(server.url, tmp_path / "other-home", collection=qa.settings.collection)
    assert [a.doc_id for a in other.list()] == ["seed"]

    qa.delete("seed")
    assert qa.store.count() == {"articles": 0, "sentences": 0, "chunks": 0}
    with pytest.raises(NotFoundError):
        qa.delete("seed")
    assert qa.store.check().ok


def test_ask_with_citations_and_filters(server: ChromaServer, tmp_path: Path) -> None:
    qa = _qa(server.url, tmp_path / "home")
    assert {r.status for r in qa.ingest_articles(ARTICLES)} == {"added"}
    a = qa.ask("Who won the World Cup final?")
    assert not a.abstained and "[1]" in a.answer
    c = a.citations[0]
    assert (c.doc_id, c.source, c.published_at, c.sentence_id) == ("bbc-1", "BBC", "2022-12-18", "bbc-1#0")
    _check_citations(qa, a.citations)
    q = "joint drills Armenia"
    assert {c.doc_id for c in qa.ask(q, sources=["Reuters"]).citations} == {"rt-1"}
    assert {c.doc_id for c in qa.ask(q, since=date(2023, 9, 12)).citations} == {"rt-1"}
    assert {c.doc_id for c in qa.ask(q, until=date(2023, 9, 11)).citations} == {"afp-1"}
    assert qa.ask("What is the boiling point of mercury in kelvin?").abstained


@pytest.mark.integration
def test_ask_the_seed_with_the_real_model(server: ChromaServer, tmp_path: Path, embedder: Any) -> None:
    qa = _qa(server.url, tmp_path / "home", embedder)
    assert [r.status for r in qa.ingest([SEED])] == ["added"]
    a = qa.ask("Why is Armenia drifting from Moscow?")
    assert not a.abstained
    assert a.citations[0].doc_id == SEED.stem
    _check_citations(qa, a.citations)


def test_unreachable_server_is_a_clear_error_after_retries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(StoreError) as err:
        _qa(url, tmp_path / "home")
    waited = time.monotonic() - t0
    assert url in str(err.value) and "tried 4 times" in str(err.value)
    assert "QA_CHROMA_URL" in err.value.help
    assert waited >= 3.0  # backoff 0.5 + 1 + 2 s before giving up


def test_server_down_then_restarted(tmp_path: Path) -> None:
    with chroma_server(tmp_path / "data") as server:
        qa = _qa(server.url, tmp_path / "home")
        qa.ingest_articles(ARTICLES)
        question = "Who won the World Cup final?"
        assert qa.ask(question).citations[0].doc_id == "bbc-1"

        server.stop()
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=f"The Chroma server at {server.url} is not answering"):
            qa.ask(question)
        assert time.monotonic() - t0 >= 3.0

        server.start()  # same port, same data
        a = qa.ask(question)  # the same QA object: its client reconnects
        assert a.citations[0].doc_id == "bbc-1"
        _check_citations(qa, a.citations)

        # A restart while a call is waiting: the retries with backoff bridge it, or the call
        # fails with the clear error; the next call works either way.
        restarting = threading.Thread(target=server.restart)
        restarting.start()
        time.sleep(0.3)
        try:
            assert qa.ask(question).citations[0].doc_id == "bbc-1"
        except StoreError as exc:
            assert server.url in str(exc)
        restarting.join(60)
        assert qa.ask(question).citations[0].doc_id == "bbc-1"
        assert {r.status for r in qa.ingest_articles(ARTICLES)} == {"unchanged"}


def _many(n: int, gen: int) -> list[Article]:
    return [
        Article(
            doc_id=f"n{i:02d}",
            title=f"Note {i}",
            text=" ".join(f"Version {gen} of note {i} says fact {j} about river{i}x{j}." for j in range(8)),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("gen", [0, 1], ids=["first-ingest", "replacement"])
def test_ingest_interrupted_by_the_server_dying(tmp_path: Path, gen: int) -> None:
    """The server is killed in the middle of an ingest: every article is whole or absent (the old
    version whole, for a replacement); the next write cleans up what the interruption left."""
    with chroma_server(tmp_path / "data") as server:
        # Groups of 4 chunks (one article has one chunk): the 12 articles go in 3 group writes.
        qa = _qa(server.url, tmp_path / "home", embed_batch_size=1)
        collection = qa.settings.collection
        if gen:
            assert {r.status for r in qa.ingest_articles(_many(12, 0))} == {"added"}
        store = qa.store
        real = store._upsert
        commits = 0

        def dying(col: Any, batch: Any) -> None:
            nonlocal commits
            if col is store.articles:
                commits += 1
                if commits == 2:  # the second group's records are in, its commit point is not
                    server.kill()
            real(col, batch)

        store._upsert = dying  # type: ignore[method-assign]
        with pytest.raises(PartialIngest, match=server.url) as stopped:
            qa.ingest_articles(_many(12, gen))
        assert store._journal.path.exists()  # the unfinished write is noted
        # What the first group stored is reported, and only that.
        first_group = [f"n{i:02d}" for i in range(4)]
        status = "replaced" if gen else "added"
        assert [(r.doc_id, r.status) for r in stopped.value.results] == [(d, status) for d in first_group]

        server.start()
        fresh = _qa(server.url, tmp_path / "home", collection=collection)  # as a new process
        health = fresh.store.check()
        assert health.problems == []
        visible = {a.doc_id: fresh.get(a.doc_id).text for a in fresh.list()}
        for doc_id, text in visible.items():
            assert text.startswith(f"Version {gen}") or (gen and text.startswith("Version 0")), doc_id
        if gen:
            assert len(visible) == 12  # a replacement never loses the old version
        assert 0 < sum(t.startswith(f"Version {gen}") for t in visible.values()) < 12
        # Exactly what was reported as stored is there in its new version.
        assert sorted(d for d, t in visible.items() if t.startswith(f"Version {gen}")) == first_group
        a = fresh.ask("What does note 7 say about river7x3?")
        for c in a.citations + a.related:
            assert fresh.get(c.doc_id).text[c.start : c.end] == c.text

        # The next write takes the lock, cleans up exactly what the journal names, and completes.
        assert {r.status for r in fresh.ingest_articles(_many(12, gen))} <= {"added", "replaced", "unchanged"}
        health = fresh.store.check()
        assert health.ok and health.articles == 12, health
        assert not fresh.store._journal.path.exists()


def test_token_is_sent_to_the_server(server: ChromaServer, tmp_path: Path) -> None:
    proxy = AuthProxy(server.url, token="s3cret")
    try:
        qa = _qa(proxy.url, tmp_path / "home", chroma_token="s3cret")
        qa.ingest_articles(ARTICLES[:1])
        assert qa.ask("When did the joint drills begin?").citations[0].doc_id == "afp-1"
        assert proxy.seen and set(proxy.seen) == {"Bearer s3cret"}

        for token in (None, "wrong"):
            t0 = time.monotonic()
            with pytest.raises(StoreError, match=proxy.url) as err:
                _qa(proxy.url, tmp_path / "home2", chroma_token=token,
                    collection=qa.settings.collection)
            assert time.monotonic() - t0 < 3  # a refusal is not retried
            assert "nauthorized" in str(err.value) or "401" in str(err.value)
    finally:
        proxy.close()


def test_export_embedded_import_into_server(server: ChromaServer, tmp_path: Path, make_qa: Any) -> None:
    from qa.ingest.transfer import export_library, import_library

    embedded = make_qa(HashEmbedder())
    embedded.ingest([SEED])
    embedded.ingest_articles(ARTICLES)
    path = tmp_path / "library.jsonl.gz"
    assert export_library(embedded, path) == 4

    remote = _qa(server.url, tmp_path / "home")
    assert {r.status for r in import_library(remote, path)} == {"added"}
    assert {r.status for r in import_library(remote, path)} == {"unchanged"}  # idempotent
    assert remote.store.check().ok
    assert remote.store.count() == embedded.store.count()
    for info in embedded.list():
        assert remote.get(info.doc_id) == embedded.get(info.doc_id)
        assert remote.sentences(info.doc_id) == embedded.sentences(info.doc_id)
    for q in ("Who won the World Cup final?", "Why is Armenia drifting from Moscow?"):
        got, want = remote.ask(q), embedded.ask(q)
        assert got.model_dump(exclude={"timings_ms"}) == want.model_dump(exclude={"timings_ms"})


def _dies_at_write(qa: Any, server: ChromaServer, n: int) -> None:
    """Kill the server as the store is about to make its `n`-th group write."""
    store = qa.store
    real = store.write_articles
    calls = 0

    def write(writes: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == n:
            server.kill()
        real(writes)

    store.write_articles = write


def _cli(*args: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from qa.cli import app

    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "1000"})
    return r.exit_code, r.stdout, r.stderr


def _check_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], kill_at: int,
                   stored: int) -> None:
    """`qa ARGS` in-process with the fake embedder over a server killed at its `kill_at`-th
    group write: it prints each of the `stored` articles written before (n00...), then the
    error, and exits 1; and those are the articles the library holds."""
    collection = f"t{uuid.uuid4().hex[:10]}"
    written = [f"n{i:02d}" for i in range(stored)]
    with chroma_server(tmp_path / "data") as server:

        def service(home: Any, **_: Any) -> Any:
            qa = _qa(server.url, tmp_path / "home", embed_batch_size=1, chroma_retries=0,
                     collection=collection)
            _dies_at_write(qa, server, kill_at)
            return qa

        monkeypatch.setattr("qa.cli._service", service)
        code, out, err = _cli(*args)
        assert code == 1
        shown = [line.split()[1] for line in out.splitlines() if line.startswith("added: ")]
        assert shown == written
        assert f"The Chroma server at {server.url} is not answering" in err
        assert f"{stored} article(s) were stored before the failure" in err
        server.start()
        again = _qa(server.url, tmp_path / "home", collection=collection)
        assert [a.doc_id for a in again.list()] == written


def test_ingest_cut_off_by_the_server_reports_what_it_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(a.model_dump_json() + "\n" for a in _many(12, 0)))
    # Groups of 4 articles: two are written, the server dies at the third.
    _check_cut_off(tmp_path, monkeypatch, ["ingest", "-q", str(feed)], kill_at=3, stored=8)


def test_import_cut_off_by_the_server_reports_what_it_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_qa: Any
) -> None:
    from qa.ingest import transfer

    embedded = make_qa(HashEmbedder())
    embedded.ingest_articles(_many(12, 0))
    path = tmp_path / "library.jsonl.gz"
    assert transfer.export_library(embedded, path) == 12
    monkeypatch.setattr(transfer, "IMPORT_BATCH", 4)
    # Each imported article is shown (an import that completes shows only the counts).
    _check_cut_off(tmp_path, monkeypatch, ["import", str(path)], kill_at=2, stored=4)


def test_upload_cut_off_by_the_server_lists_what_it_stored(tmp_path: Path) -> None:
    from qa.web.library import _Library

    files = []
    for a in _many(12, 0):
        files.append(tmp_path / f"{a.doc_id}.txt")
        files[-1].write_text(a.text)
    with chroma_server(tmp_path / "data") as server:
        qa = _qa(server.url, tmp_path / "home", embed_batch_size=1, chroma_retries=0)
        _dies_at_write(qa, server, n=2)
        shown, _ = _Library(qa).upload([str(f) for f in files], progress=lambda *a, **k: None)
    assert shown.count('class="qa-st-added"') == 4
    for i in range(4):
        assert f"n{i:02d}.txt" in shown
    assert shown.index("qa-results") < shown.index("qa-error")  # the list, then why it stopped
    assert "is not answering" in shown and "4 article(s) were stored before the failure" in shown
