"""The three yardsticks on a tiny corpus: output shape, offsets, and the right document found."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qa.evaluation import YARDSTICKS, LocalLangChainEmbeddings, run_yardstick, score

pytestmark = pytest.mark.integration

DOCS: list[dict[str, Any]] = [
    {
        "doc_id": "volcano",
        "title": "Mount Etna erupts",
        "source": "Test Wire",
        "published_at": "2024-05-01",
        "text": (
            "Mount Etna erupted on Tuesday night in Sicily. Lava fountains rose above the "
            "south-east crater.\n\nCatania airport closed for six hours because of volcanic ash. "
            "Flights resumed on Wednesday morning."
        ),
    },
    {
        "doc_id": "football",
        "title": "Cup final",
        "source": "Test Wire",
        "published_at": None,
        "text": (
            "Arsenal beat Chelsea 3-1 in the cup final at Wembley. Bukayo Saka scored twice "
            "in the second half. The manager praised the young squad."
        ),
    },
    {
        "doc_id": "bank",
        "title": "Rates on hold",
        "source": "Test Wire",
        "text": (
            "The central bank kept its interest rate at 5.25 percent. Inflation fell to 2.3 "
            "percent in April. Economists expect a cut in the autumn."
        ),
    },
    {
        "doc_id": "garden",
        "title": "Tomato season",
        "source": "Test Wire",
        "text": (
            "Gardeners should plant tomatoes after the last frost. Tomato seedlings need six "
            "hours of sun a day and regular watering."
        ),
    },
]
QUESTIONS: list[dict[str, Any]] = [
    {
        "qid": "q-ash",
        "question": "Why did Catania airport close after the Etna eruption?",
        "gold_answer": "volcanic ash",
        "gold_evidence": [
            "Catania airport closed for six hours because of volcanic ash.",
        ],
        "doc_ids": ["volcano"],
        "type": "single",
    },
    {
        "qid": "q-rate",
        "question": "What interest rate did the central bank keep?",
        "gold_answer": "5.25 percent",
        "gold_evidence": ["The central bank kept its interest rate at 5.25 percent."],
        "doc_ids": ["bank"],
        "type": "single",
    },
]
EXPECTED = {"q-ash": "volcano", "q-rate": "bank"}
TEXT = {d["doc_id"]: d["text"] for d in DOCS}


@pytest.fixture(scope="module", params=YARDSTICKS)
def run(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, run_yardstick(request.param, DOCS, QUESTIONS)


def test_one_prediction_per_question_in_order(run: tuple[str, list[dict]]) -> None:
    _, preds = run
    assert [p["qid"] for p in preds] == ["q-ash", "q-rate"]
    for p in preds:
        assert p["abstained"] is False
        assert p["mode"] == "extractive"
        assert p["timings_ms"]["total"] >= 0
        assert p["question"] in {q["question"] for q in QUESTIONS}


def test_right_document_ranks_first_and_is_cited_first(run: tuple[str, list[dict]]) -> None:
    _, preds = run
    for p in preds:
        ranked = p["retrieved_doc_ids"]
        assert ranked[0] == EXPECTED[p["qid"]]
        assert len(ranked) == len(set(ranked))
        assert p["citations"][0]["doc_id"] == EXPECTED[p["qid"]]


def test_citations_point_into_the_document_text(run: tuple[str, list[dict]]) -> None:
    name, preds = run
    limit = 4 if name == "langchain_tutorial" else 5
    for p in preds:
        cits = p["citations"]
        assert 1 <= len(cits) <= limit
        assert [c["n"] for c in cits] == list(range(1, len(cits) + 1))
        for c in cits:
            assert TEXT[c["doc_id"]][c["start"] : c["end"]] == c["text"]
            if name != "langchain_tutorial":
                assert c["sentence_id"].startswith(c["doc_id"] + "#")
        assert p["answer"] == "\n\n".join(c["text"] for c in cits)


def test_sentence_yardsticks_cite_single_sentences(run: tuple[str, list[dict]]) -> None:
    name, preds = run
    if name == "langchain_tutorial":
        # Every document is shorter than one chunk, so a citation is a whole document.
        assert all(c["text"] == TEXT[c["doc_id"]] for p in preds for c in p["citations"])
        return
    evidence = {q["qid"]: q["gold_evidence"][0] for q in QUESTIONS}
    for p in preds:
        assert p["citations"][0]["text"] == evidence[p["qid"]]


def test_predictions_score_full_evidence_recall(run: tuple[str, list[dict]]) -> None:
    _, preds = run
    overall = score(QUESTIONS, preds)["overall"]
    assert overall["citations"]["evidence_recall"] == 1.0
    assert overall["retrieval"]["gold"]["mrr"] == 1.0
    assert overall["answers"]["contained"] == 1.0


def test_unknown_yardstick_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown yardstick"):
        run_yardstick("gpt_magic", DOCS, QUESTIONS)


def test_langchain_adapter_returns_unit_vectors() -> None:
    emb = LocalLangChainEmbeddings()
    docs = emb.embed_documents(["Lava and ash.", "Interest rates."])
    query = emb.embed_query("volcano")
    assert len(docs) == 2 and len(docs[0]) == len(query) == 384
    assert np.linalg.norm(docs[0]) == pytest.approx(1.0, abs=1e-4)
    assert np.dot(query, docs[0]) > np.dot(query, docs[1])
