"""qa.evaluation.robustness against a real library: each question is asked casually and beside
an unrelated article, the rows are marked, and the library is left as it was."""

from pathlib import Path

import pytest

from qa.evaluation.robustness import UNRELATED, check, decision, typed_casually

SEED = Path(__file__).resolve().parents[2] / "seeds"


def test_typed_casually_is_how_a_search_box_gets_it() -> None:
    typed = typed_casually("  Why is Armenia drifting from  Moscow?! ")
    assert typed == "why is armenia drifting from moscow"


def test_the_same_decision_is_the_same_abstention_and_the_same_sentences() -> None:
    cites = [{"sentence_id": "a#1"}, {"sentence_id": "b#4"}]
    assert decision({"abstained": False, "citations": cites}) == decision(
        {"abstained": False, "citations": cites[::-1]})
    assert decision({"abstained": False, "citations": cites}) != decision(
        {"abstained": False, "citations": cites[:1]})
    assert decision({"abstained": True, "citations": []}) != decision(
        {"abstained": False, "citations": []})


@pytest.mark.integration
def test_check_marks_each_row_and_leaves_the_library_as_it_was(embedder, make_qa) -> None:  # noqa: ANN001
    qa = make_qa(embedder)
    qa.ingest([SEED])
    questions = [{"qid": "why", "question": "Why is Armenia drifting from Moscow?"},
                 {"qid": "pop", "question": "What is the population of Armenia?"}]
    rows = [{"qid": q["qid"], **qa.ask(q["question"]).model_dump(mode="json")} for q in questions]
    # A row that cites something else than the question gets is caught as changed.
    rows.append({"qid": "x", "abstained": False, "citations": [{"sentence_id": "nowhere#0"}]})
    questions.append({"qid": "x", "question": "Why is Armenia drifting from Moscow?"})
    before = {a.doc_id for a in qa.list()}
    check(qa, questions, rows, [None] * len(questions))
    assert [r["same_typed_casually"] for r in rows] == [True, True, False]
    assert [r["same_beside_unrelated"] for r in rows] == [True, True, False]
    assert {a.doc_id for a in qa.list()} == before and UNRELATED.doc_id not in before
