"""Stories across outlets end to end, with the real model and a real Chroma in a temp dir: three
copies of one wire story and a distinct article on the same topic are ingested; answers cite
the story once and list the other copies, summaries do not repeat it, the library shows it,
and `compare` (service, `ask` routing, CLI) finds a planted number conflict and agreed facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.types import Article
from tests.unit.test_stories import FLOOD, FLOOD_OTHER, wire_copy

pytestmark = pytest.mark.integration

COPIES = [
    Article(doc_id="reuters-flood", title="Floods force 1,200 from their homes", source="Reuters",
            published_at="2024-05-07", text=FLOOD),
    Article(doc_id="afp-flood", title="Northern province floods: what we know", source="AFP",
            published_at="2024-05-07", text=wire_copy(FLOOD)),
    Article(doc_id="f24-flood", title="UPDATE: floods in the north", source="France 24",
            published_at="2024-05-08", text=wire_copy(FLOOD, cut=0.6)),
]
LATER = Article(doc_id="bbc-flood-month", title="A month after the floods", source="BBC",
                published_at="2024-06-07", text=FLOOD_OTHER)


@pytest.fixture
def qa(make_qa, embedder):  # noqa: ANN001, ANN201
    service = make_qa(embedder)
    results = service.ingest_articles([*COPIES, LATER])
    assert [r.status for r in results] == ["added"] * 4
    yield service
    service.close()


def test_answer_cites_one_copy_and_lists_the_others(qa) -> None:  # noqa: ANN001
    answer = qa.ask("How many residents had to leave their homes because of the flooding?")
    assert not answer.abstained
    story_docs = {a.doc_id for a in COPIES}
    cited = [c for c in answer.citations if c.doc_id in story_docs]
    assert cited, answer
    # One copy of the story is cited, however many copies retrieval found.
    assert len({c.doc_id for c in cited}) == 1
    texts = [c.text for c in cited]
    assert len(texts) == len(set(texts))
    first = cited[0]
    others = {c.doc_id for c in first.also_reported_by}
    assert others == story_docs - {first.doc_id}
    assert {c.source for c in first.also_reported_by} <= {"Reuters", "AFP", "France 24"}


def test_summary_and_library_show_each_story_once(qa) -> None:  # noqa: ANN001
    summary = qa.summarize([a.doc_id for a in COPIES] + [LATER.doc_id])
    assert summary.doc_ids == ["reuters-flood", "bbc-flood-month"]
    assert all(c.doc_id in summary.doc_ids for c in summary.citations)
    stories = qa.stories()
    assert sorted(len(s.copies) for s in stories) == [1, 3]
    rows = {r.doc_id: r.story_id for r in qa.list()}
    assert rows["reuters-flood"] == rows["afp-flood"] == rows["f24-flood"] != rows["bbc-flood-month"]
    # Deleting a copy takes it out of its story; the others stay together.
    qa.delete("afp-flood")
    assert sorted(len(s.copies) for s in qa.stories()) == [1, 2]
    # A restart (a new QA on the same home) keeps the stories.
    from qa.service import QA

    again = QA(qa.settings, embedder=qa.embedder)
    try:
        assert sorted(len(s.copies) for s in again.stories()) == [1, 2]
    finally:
        again.close()


def test_compare_finds_planted_conflict_and_agreement(make_qa, embedder) -> None:  # noqa: ANN001
    service = make_qa(embedder)
    edited = FLOOD.replace("at least 14 people", "at least 17 people") + (
        " The army said it would send helicopters to the worst-hit villages.")
    service.ingest_articles([
        Article(doc_id="a", title="Floods", source="Reuters", text=FLOOD),
        Article(doc_id="b", title="Floods hit the north", source="AP", text=edited),
    ])
    got = service.compare(doc_ids=["a", "b"])
    numbers = [c for c in got.conflicts if c.kind == "number"]
    assert len(numbers) == 1
    assert numbers[0].values == [["14"], ["17"]]
    assert {s.doc_id for s in numbers[0].statements} == {"a", "b"}
    agreed = [" ".join(s.text for s in f.statements) for f in got.agreed]
    assert any("1,200 residents" in t for t in agreed)
    assert any("helicopters" in s.text and s.doc_id == "b" for s in got.one_sided)
    # The conflict's sentence is not also reported as agreed.
    assert not any("at least 14" in t for t in agreed)

    answer = service.ask("How do outlets differ on the floods in the northern province?")
    assert not answer.abstained
    assert "differ on a number" in answer.answer
    assert {c.doc_id for c in answer.citations} == {"a", "b"}

    home = str(service.settings.home)
    service.close()
    r = CliRunner().invoke(app, ["compare", "--home", home, "--doc", "a", "--doc", "b", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["conflicts"][0]["values"] == [["14"], ["17"]]
    r = CliRunner().invoke(app, ["compare", "--home", home, "flooding in the northern province"])
    assert r.exit_code == 0 and "Conflicts (1)" in r.stdout and "17" in r.stdout
    r = CliRunner().invoke(app, ["compare", "--home", home, "--doc", "a", "--doc", "nope"])
    assert r.exit_code != 0 and "nope" in r.stderr
    # The two are copies of one story (one number edited, a sentence added).
    r = CliRunner().invoke(app, ["stories", "--home", home, "--json"])
    assert r.exit_code == 0
    assert [sorted(c["doc_id"] for c in st["copies"]) for st in json.loads(r.stdout)] == [["a", "b"]]


def test_compare_needs_two_articles(make_qa, embedder, tmp_path: Path) -> None:  # noqa: ANN001
    from qa.errors import InputError

    service = make_qa(embedder)
    service.ingest_articles([Article(doc_id="a", title="Floods", source="Reuters", text=FLOOD)])
    with pytest.raises(InputError, match="two or more"):
        service.compare(doc_ids=["a"])


def test_llm_phrases_a_comparison_with_checked_citations(make_qa, embedder) -> None:  # noqa: ANN001
    from qa.service import QA
    from tests.support.fakes import FakeChatModel

    base = make_qa(embedder)
    edited = FLOOD.replace("at least 14 people", "at least 17 people")
    base.ingest_articles([
        Article(doc_id="a", title="Floods", source="Reuters", text=FLOOD),
        Article(doc_id="b", title="Floods hit the north", source="AP", text=edited),
    ])
    # The model is shown both articles (seven sentences each, the conflict's articles first);
    # the injured count is the second sentence of each: [S2] and [S9].
    model = FakeChatModel(replies=[], history=[]).enqueue(
        "Officials said at least 14 people had been injured, while the other report says at "
        "least 17 people had been injured [S2][S9]."
    )
    service = QA(base.settings, embedder=embedder, chat_model=model)
    try:
        answer = service.ask("How do outlets differ on the floods in the northern province?",
                             mode="llm")
    finally:
        service.close()
        base.close()
    assert answer.mode == "llm" and not answer.abstained
    assert {c.doc_id for c in answer.citations} == {"a", "b"}
    assert answer.claims and all(c.support != "unsupported" for c in answer.claims)
    # Each side of the conflict is cited at its own sentence.
    cited = {c.doc_id: c.text for c in answer.citations}
    assert "at least 14" in cited["a"] and "at least 17" in cited["b"]
