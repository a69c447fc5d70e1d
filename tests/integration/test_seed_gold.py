"""The seed gold set (eval/seed_gold.jsonl) with the real model and a real Chroma."""

import json
from pathlib import Path

import pytest

from tests.support.paths import ROOT, SEED

pytestmark = pytest.mark.integration

GOLD = [json.loads(line) for line in (ROOT / "eval" / "seed_gold.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def seeded(embedder, tmp_path_factory):  # noqa: ANN001, ANN201
    from qa.service import QA
    from qa.settings import Settings

    qa = QA(Settings(home=Path(tmp_path_factory.mktemp("seed"))), embedder=embedder)
    assert [r.status for r in qa.ingest([SEED])] == ["added"]
    return qa


def _params():  # noqa: ANN202
    for q in GOLD:
        marks = [pytest.mark.xfail(strict=True, reason=q["known_failure"])] if q.get("known_failure") else []
        yield pytest.param(q, id=q["qid"], marks=marks)


@pytest.mark.parametrize("q", list(_params()))
def test_gold_question(seeded, q: dict) -> None:  # noqa: ANN001
    a = seeded.ask(q["question"])
    if not q["doc_ids"]:
        assert a.abstained, f"should abstain, cited {[c.sentence_id for c in a.citations]}"
        assert a.answer == "The articles do not answer this." and not a.citations
        return
    assert not a.abstained
    cited = [int(c.sentence_id.split("#")[1]) for c in a.citations]
    assert set(cited) & set(q["must_cite_any"]), f"cited {cited}, wanted one of {q['must_cite_any']}"
    assert len(cited) <= 5
    text = seeded.get(SEED.stem).text
    for c in a.citations:
        assert text[c.start : c.end] == c.text
    if q.get("gold_answer"):
        assert q["gold_answer"] in a.answer


def test_lead_paraphrases_are_not_both_cited(seeded) -> None:  # noqa: ANN001
    # Sentences 0 and 1 of the seed say the same thing; a summary keeps only one of them.
    s = seeded.summarize([SEED.stem])
    ids = {c.sentence_id.split("#")[1] for c in s.citations}
    assert not {"0", "1"} <= ids
    assert 1 <= len(s.citations) <= 5
    assert all(c.text in s.summary for c in s.citations)
    assert "Please wait" not in s.summary and "Khalil" not in s.summary


def test_chunks_fit_the_model_window(seeded, embedder) -> None:  # noqa: ANN001
    got = seeded.store.chunks.get(include=["documents"])
    assert got["documents"]
    for doc in got["documents"]:
        assert embedder.count_tokens(doc) <= seeded.settings.chunk_max_tokens


def test_over_long_sentence_is_cut_to_fit(embedder, make_qa) -> None:  # noqa: ANN001
    from qa.types import Article

    qa = make_qa(embedder)
    qa.ingest_articles([Article(doc_id="long", title="L", text=" ".join(["alpha beta"] * 2000))])
    for s in qa.sentences("long"):
        assert embedder.count_tokens(s.text) <= qa.settings.chunk_max_tokens


REASONS = {2, 8, 10, 12}  # the seed's reasons for the drift: failed guarantor, no support, ...
MISSION_FORMS = (
    "Why is Armenia drifting from Moscow?",
    "why is Armenia drifting from Moscow",
    "why is armenia drifting from moscow",
    "WHY IS ARMENIA DRIFTING FROM MOSCOW ?",
    "  Why is Armenia drifting from Moscow?!  ",
)


@pytest.mark.parametrize("question", MISSION_FORMS)
def test_the_mission_question_typed_any_way_cites_its_reasons(seeded, question: str) -> None:  # noqa: ANN001
    cited = [int(c.sentence_id.split("#")[1]) for c in seeded.ask(question).citations]
    assert len(set(cited) & REASONS) >= 2, f"cited {cited}"
    assert cited == [int(c.sentence_id.split("#")[1]) for c in seeded.ask(MISSION_FORMS[0]).citations]


def test_the_mission_answer_holds_beside_an_unrelated_short_article(embedder, make_qa) -> None:  # noqa: ANN001
    from qa.types import Article

    qa = make_qa(embedder)
    qa.ingest([SEED])
    qa.ingest_articles([Article(doc_id="bakery", title="Bakery opens",
                                text="A new bakery opened on Main Street. It sells rye bread.")])
    cited = [int(c.sentence_id.split("#")[1]) for c in qa.ask(MISSION_FORMS[1]).citations
             if c.doc_id == SEED.stem]
    assert len(set(cited) & REASONS) >= 2, f"cited {cited}"
