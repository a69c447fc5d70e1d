"""`qa eval score | summarize | compare | all` and the report writer, on tiny hand-made data.

The commands are mounted on a Typer app of the tests' own, the way qa/cli.py mounts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from qa.evaluation.cli import register
from qa.evaluation.compare import Comparison
from qa.evaluation.report import EvalRun, markdown_to_html, write_report
from qa.evaluation.score import score

app = typer.Typer()
eval_app = typer.Typer()
app.add_typer(eval_app, name="eval")
register(eval_app)

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["eval", *args])
    return r.exit_code, r.stdout, r.stderr


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- score ------------------------------------------------------------------------------------

QUESTIONS = [
    {
        "qid": "q1",
        "question": "What is the capital of France?",
        "gold_answer": "Paris",
        "gold_evidence": ["Paris is the capital of France.", "France is in Europe."],
        "doc_ids": ["d1"],
        "type": "factoid",
    },
    {
        "qid": "q2",
        "question": "Which city is big?",
        "gold_answer": "Berlin",
        "gold_evidence": ["Berlin is big."],
        "doc_ids": ["d2"],
        "type": "factoid",
    },
    {"qid": "q3", "question": "Who won in 2030?", "gold_answer": "", "doc_ids": [], "type": "null"},
]


def _cite(n: int, doc_id: str, text: str) -> dict[str, Any]:
    return {"n": n, "doc_id": doc_id, "sentence_id": f"{doc_id}#0", "text": text}


PREDICTIONS = [
    {  # right document first; one of two gold sentences cited, plus one wrong sentence
        "qid": "q1",
        "answer": "Paris is the capital of France. [1]",
        "abstained": False,
        "citations": [_cite(1, "d1", "Paris is the capital of France."), _cite(2, "d2", "Berlin is big.")],
        "retrieved_doc_ids": ["d1", "d2"],
        "confidence": 0.8,
        "timings_ms": {"total": 100.0},
    },
    {  # gold document second, and a wrong abstention
        "qid": "q2",
        "answer": "The articles do not answer this.",
        "abstained": True,
        "citations": [],
        "retrieved_doc_ids": ["d3", "d2"],
        "confidence": 0.2,
        "timings_ms": {"total": 300.0},
    },
    {  # a right abstention
        "qid": "q3",
        "answer": "The articles do not answer this.",
        "abstained": True,
        "citations": [],
        "retrieved_doc_ids": ["d1"],
        "confidence": 0.1,
        "timings_ms": {"total": 200.0},
    },
]


@pytest.fixture
def scored_files(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_jsonl(tmp_path / "q.jsonl", QUESTIONS),
        write_jsonl(tmp_path / "p.jsonl", PREDICTIONS),
    )


@pytest.mark.unit
def test_score_json_gives_the_numbers_worked_out_by_hand(scored_files: tuple[Path, Path]) -> None:
    q, p = scored_files
    code, out, _ = run("score", "--questions", str(q), "--predictions", str(p), "--json")
    assert code == 0
    overall = json.loads(out)["overall"]
    gold = overall["retrieval"]["gold"]
    assert (gold["hit@1"], gold["hit@3"], gold["mrr"]) == (0.5, 1.0, 0.75)
    c = overall["citations"]
    assert c["evidence_recall"] == pytest.approx(0.25)  # (1/2 + 0) / 2; the abstention scores 0
    assert c["precision"] == pytest.approx(0.5)  # q1 only: 1 of its 2 cited sentences
    assert overall["answers"]["contained"] == pytest.approx(0.5)
    ab = overall["abstention"]
    assert (ab["abstain_on_null"], ab["false_abstain"]) == (1.0, 0.5)
    assert ab["abstained"] == pytest.approx(2 / 3)
    assert overall["latency_ms"]["p50"] == 200.0


@pytest.mark.unit
def test_score_prints_markdown_and_writes_it(scored_files: tuple[Path, Path], tmp_path: Path) -> None:
    q, p = scored_files
    report = tmp_path / "out" / "report.md"
    code, out, err = run("score", "--questions", str(q), "--predictions", str(p), "--out", str(report))
    assert code == 0
    assert out.startswith("# Scores of p.jsonl on q.jsonl")
    for line in (
        "| evidence recall | 0.250 |",
        "| citation precision (mean per answer) | 0.500 |",
        "| abstain on unanswerable | 1.000 |",
        "| false abstention on answerable | 0.500 |",
    ):
        assert line in out
    assert report.read_text(encoding="utf-8") == out
    assert f"wrote {report}" in err


@pytest.mark.unit
def test_score_errors_are_messages(tmp_path: Path, scored_files: tuple[Path, Path]) -> None:
    q, _ = scored_files
    code, _, err = run("score", "--questions", str(q), "--predictions", str(tmp_path / "none.jsonl"))
    assert code == 2 and "none.jsonl: no such file" in err
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"answer": "x"}])
    code, _, err = run("score", "--questions", str(q), "--predictions", str(bad))
    assert code == 2 and "record 1 has no 'qid'" in err


# --- report writing -------------------------------------------------------------------------


def _toy_run() -> EvalRun:
    yardstick = [
        {**p, "abstained": False, "confidence": None, "citations": [_cite(1, "d2", "Berlin is big.")]}
        for p in PREDICTIONS
    ]
    predictions = {"qa": PREDICTIONS, "bm25_only": yardstick}
    comparison = Comparison(
        questions=QUESTIONS,
        predictions=predictions,
        scores={name: score(QUESTIONS, preds) for name, preds in predictions.items()},
        seconds={"qa": 1.5, "bm25_only": 0.1},
    )
    summaries = {
        "n": 2,
        "systems": {
            "qa": {
                "rouge1": 0.4,
                "rouge2": 0.2,
                "rougeLsum": 0.35,
                "sentences": 3.0,
                "words": 60.0,
                "cited_share": 1.0,
                "latency_ms": 50.0,
            },
            "lead3": {"rouge1": 0.38, "rouge2": 0.18, "rougeLsum": 0.33, "sentences": 3.0, "words": 70.0},
        },
        "per_item": [],
    }
    return EvalRun(
        date="2026-01-02",
        data="toy",
        settings={
            "mode": "extractive",
            "llm_model": None,
            "embedder": "hash",
            "k": 5,
            "abstain_threshold": 0.33,
            "chunk_max_tokens": 128,
        },
        limit=None,
        datasets={"toy": comparison},
        titles={"toy": "Toy set"},
        notes={"toy": "Hand-made."},
        summaries=summaries,
        missing=["realtimeqa_docs.jsonl"],
        seconds={"toy": 1.6, "summaries": 0.5},
    )


@pytest.mark.unit
def test_report_writes_markdown_html_and_plots(tmp_path: Path) -> None:
    md, html = write_report(_toy_run(), tmp_path / "rep", command="qa eval all --data toy")
    text = md.read_text(encoding="utf-8")
    assert "| Toy set | qa | 3 | 1.000 | – | 0.750 | 0.250 | 0.500 |" in text
    assert "| Lead-3 (yardstick) | 0.380 | 0.180 | 0.330 |" in text
    assert "Not found, so not run: realtimeqa_docs.jsonl" in text
    plots = sorted(p.name for p in (tmp_path / "rep" / "plots").iterdir())
    assert plots == ["abstention.png", "citations.png", "latency.png"]
    for name in plots:
        assert f"(plots/{name})" in text
        assert (tmp_path / "rep" / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    page = html.read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 3  # self-contained
    assert "plots/" not in page
    assert page.count("<table>") == text.count("\n|---") and '<td class="num">0.750</td>' in page
    scores = json.loads((tmp_path / "rep" / "scores.json").read_text(encoding="utf-8"))
    assert scores["datasets"]["toy"]["scores"]["qa"]["overall"]["n"] == 3


@pytest.mark.unit
def test_markdown_to_html_escapes_and_formats() -> None:
    page = markdown_to_html("# A <b>\n\nSome **bold** `code`\nmore.\n\n| x | y |\n|---|---|\n| 1 | a&b |\n")
    assert "<h1>A &lt;b&gt;</h1>" in page
    assert "<p>Some <strong>bold</strong> <code>code</code> more.</p>" in page
    assert '<tr><td class="num">1</td><td>a&amp;b</td></tr>' in page


# --- commands that run the real model -------------------------------------------------------

ARTICLE = (
    "The city council approved a new bridge over the river on Monday. The bridge will cost 40 "
    "million euros and open in 2027. Council members voted 21 to 4 in favour. Opponents said the "
    "money should go to schools. The mayor called the vote historic. Construction starts in spring."
)
ARTICLE_2 = (
    "A heatwave pushed temperatures above 40 degrees in Seville on Sunday. Hospitals reported a "
    "rise in heatstroke cases. The weather service issued a red alert for Andalusia. Farmers warned "
    "of crop losses. Cooler air is expected by Thursday. Officials urged people to stay indoors."
)
ITEMS = [
    {
        "doc_id": "bridge",
        "text": ARTICLE,
        "reference_summary": "Council approves 40 million euro bridge. Vote was 21 to 4.",
    },
    {
        "doc_id": "heat",
        "text": ARTICLE_2,
        "reference_summary": "Seville tops 40 degrees. Red alert issued for Andalusia.",
    },
]


@pytest.mark.integration
def test_summarize_reports_qa_beside_lead3(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    items = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    code, out, _ = run("summarize", "--items", str(items), "--json", "-q")
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 2 and [r["doc_id"] for r in result["per_item"]] == ["bridge", "heat"]
    ours, lead = result["systems"]["qa"], result["systems"]["lead3"]
    assert ours["cited_share"] == 1.0  # every summary sentence is a cited stored sentence
    assert lead["sentences"] == 3.0
    for system in (ours, lead):
        assert 0 < system["rouge1"] <= 1 and 0 <= system["rouge2"] <= system["rouge1"]
        assert system["words"] > 0
    code, out, _ = run("summarize", "--items", str(items), "--limit", "1", "-q")
    assert code == 0 and "1 articles" in out
    assert "| Lead-3 (yardstick) |" in out and "| qa (extractive summary) |" in out


DOCS = [
    {"doc_id": "bridge", "title": "Bridge vote", "source": "Test Wire", "text": ARTICLE},
    {"doc_id": "heat", "title": "Heatwave", "source": "Test Wire", "text": ARTICLE_2},
]
QA_QUESTIONS = [
    {
        "qid": "b",
        "question": "How much will the new bridge cost?",
        "gold_answer": "40 million euros",
        "gold_evidence": ["The bridge will cost 40 million euros and open in 2027."],
        "doc_ids": ["bridge"],
        "type": "factoid",
    },
    {
        "qid": "h",
        "question": "Which alert did the weather service issue for Andalusia?",
        "gold_answer": "red alert",
        "gold_evidence": ["The weather service issued a red alert for Andalusia."],
        "doc_ids": ["heat"],
        "type": "factoid",
    },
    {
        "qid": "n",
        "question": "Who won the 1966 football World Cup final?",
        "gold_answer": "",
        "gold_evidence": [],
        "doc_ids": [],
        "type": "null_query",
    },
]


@pytest.mark.integration
def test_compare_runs_qa_and_the_yardsticks(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    docs = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    qs = write_jsonl(tmp_path / "q.jsonl", QA_QUESTIONS)
    out_dir = tmp_path / "cmp"
    code, out, err = run("compare", "--docs", str(docs), "--questions", str(qs), "--out", str(out_dir), "-q")
    assert code == 0, err
    for system in ("qa", "langchain_tutorial", "bm25_only", "dense_only"):
        assert f"| {system} | 3 |" in out
        assert len((out_dir / "predictions" / f"{system}.jsonl").read_text().splitlines()) == 3
    scores = json.loads((out_dir / "scores.json").read_text())
    assert scores["qa"]["overall"]["retrieval"]["gold"]["hit@1"] == 1.0
    assert scores["qa"]["overall"]["abstention"]["abstain_on_null"] == 1.0
    assert scores["bm25_only"]["overall"]["abstention"]["abstain_on_null"] == 0.0  # never abstains
    # Asked in lower case without "?", and beside an unrelated article: the same answers.
    assert scores["qa"]["overall"]["robustness"] == {"same_typed_casually": 1.0,
                                                     "same_beside_unrelated": 1.0}
    assert "robustness" not in scores["bm25_only"]["overall"] or scores["bm25_only"]["overall"][
        "robustness"] == {"same_typed_casually": None, "same_beside_unrelated": None}
    code, _, err = run("compare", "--docs", str(docs), "--questions", str(qs), "--system", "nope")
    assert code == 2 and "unknown system 'nope'" in err


@pytest.mark.integration
def test_all_writes_a_dated_report(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "multihoprag_partial_docs.jsonl", DOCS)
    write_jsonl(data / "multihoprag_partial_questions.jsonl", QA_QUESTIONS)
    write_jsonl(data / "summarization_cnndm_frank.jsonl", ITEMS)
    code, out, err = run("all", "--data", str(data), "--out", str(tmp_path / "reports"), "-q")
    assert code == 0, err
    assert "not found, skipped: hotpotqa_docs.jsonl" in err
    (folder,) = (tmp_path / "reports").iterdir()
    assert f"report written to {folder / 'report.md'} and {folder / 'report.html'}" in out
    assert "| MultiHop-RAG (partial) | qa | 3 |" in out and "| Lead-3 (yardstick) |" in out
    assert "| MultiHop-RAG (partial) | 3 | 1.000 | 1.000 |" in (folder / "report.md").read_text()
    assert sorted(p.name for p in (folder / "plots").iterdir()) == [
        "abstention.png",
        "citations.png",
        "latency.png",
    ]
    code, _, err = run("all", "--data", str(tmp_path / "nowhere"))
    assert code == 2 and "no such folder" in err
