"""Regression gate: qa on the HotpotQA subset and the seed gold set must not score below the levels
recorded in eval/gate.json (minus its margin), with the real model and a real Chroma in a temp dir.

A change that makes retrieval, citations or answers worse fails here. A change that is meant to
move the figures (a better trade-off) re-measures them and commits the new levels with it:

    python -m tests.integration.test_eval_gate --write     # prints the levels and rewrites eval/gate.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT, SEED

pytestmark = pytest.mark.integration

GATE = ROOT / "eval" / "gate.json"
SUBSET_DOCS = ROOT / "eval" / "hotpotqa_subset_docs.jsonl"
SUBSET_QUESTIONS = ROOT / "eval" / "hotpotqa_subset_questions.jsonl"
SEED_GOLD = ROOT / "eval" / "seed_gold.jsonl"
COMMAND = "python -m tests.integration.test_eval_gate --write"
MARGIN = 0.025
"""Allowed drop below a measured level: less than one question of the 30 (0.033) or 17 (0.059)."""

# What each gated figure is, where score() puts it, so the gate and the measurement agree.
SUBSET_METRICS = {
    "evidence_recall": ("citations", "evidence_recall"),
    "citation_precision": ("citations", "precision"),
    "doc_hit@5": ("retrieval", "gold", "hit@5"),
    "doc_recall@5": ("retrieval", "gold", "recall@5"),
    "mrr": ("retrieval", "gold", "mrr"),
    "answer_contained": ("answers", "contained"),
}


def _settings(home: Path):  # noqa: ANN202 - Settings imported lazily like the service
    from qa.settings import Settings

    # Extractive whatever the environment says: the gate measures the offline pipeline.
    return Settings(home=home, collection="gate", mode="extractive")


def _dig(section: Mapping[str, Any], path: tuple[str, ...]) -> float:
    value: Any = section
    for key in path:
        value = value[key]
    return float(value)


def subset_levels(embedder: object) -> dict[str, float]:
    """qa's figures on the HotpotQA subset in eval/ (every question answerable)."""
    from qa.evaluation.compare import qa_predictions
    from qa.evaluation.io import load_jsonl
    from qa.evaluation.score import score

    questions = load_jsonl(SUBSET_QUESTIONS)
    with tempfile.TemporaryDirectory(prefix="qa-gate-") as tmp:
        preds = qa_predictions(SUBSET_DOCS, questions, _settings(Path(tmp)), embedder=embedder)  # type: ignore[arg-type]
    scores = score(questions, preds)
    assert scores["counts"]["missing"] == 0
    overall = scores["overall"]
    return {f"hotpotqa_subset.{name}": _dig(overall, path) for name, path in SUBSET_METRICS.items()}


def seed_passes(q: Mapping[str, Any], answer: Any) -> bool:
    """The check of tests/integration/test_seed_gold.py for one question, as a yes or no."""
    if not q["doc_ids"]:
        return bool(answer.abstained) and not answer.citations
    if answer.abstained or len(answer.citations) > 5:
        return False
    cited = {int(c.sentence_id.split("#")[1]) for c in answer.citations}
    if not cited & set(q["must_cite_any"]):
        return False
    return not q.get("gold_answer") or q["gold_answer"] in answer.answer


def seed_levels(embedder: object) -> dict[str, float]:
    """Shares of the seed gold questions that pass, overall and by answerable or not."""
    from qa.service import QA

    gold = [json.loads(line) for line in SEED_GOLD.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory(prefix="qa-gate-seed-") as tmp:
        qa = QA(_settings(Path(tmp)), embedder=embedder)  # type: ignore[arg-type]
        assert [r.status for r in qa.ingest([SEED])] == ["added"]
        passed = [(bool(q["doc_ids"]), seed_passes(q, qa.ask(q["question"]))) for q in gold]
    answerable = [ok for has_docs, ok in passed if has_docs]
    unanswerable = [ok for has_docs, ok in passed if not has_docs]
    return {
        "seed.pass_share": sum(ok for _, ok in passed) / len(passed),
        "seed.answerable_pass_share": sum(answerable) / len(answerable),
        "seed.unanswerable_abstain_share": sum(unanswerable) / len(unanswerable),
    }


def _gate() -> dict[str, Any]:
    return json.loads(GATE.read_text(encoding="utf-8"))


def _check(measured: Mapping[str, float], gate: Mapping[str, Any]) -> None:
    margin = float(gate["margin"])
    below = {
        name: f"{measured[name]:.3f} < {level:.3f} - {margin}"
        for name, level in gate["levels"].items()
        if name in measured and measured[name] < level - margin
    }
    assert not below, f"below the gate in {GATE.name} (measured {gate['measured']}): {below}"


def test_gate_file_names_every_measured_figure() -> None:
    gate = _gate()
    expected = {f"hotpotqa_subset.{n}" for n in SUBSET_METRICS} | {
        "seed.pass_share",
        "seed.answerable_pass_share",
        "seed.unanswerable_abstain_share",
    }
    assert set(gate["levels"]) == expected
    assert gate["command"] == COMMAND and date.fromisoformat(gate["measured"])
    assert 0 < gate["margin"] < 0.05


def test_hotpotqa_subset_holds_the_gate(embedder) -> None:  # noqa: ANN001
    _check(subset_levels(embedder), _gate())


def test_seed_gold_holds_the_gate(embedder) -> None:  # noqa: ANN001
    _check(seed_levels(embedder), _gate())


def main(argv: list[str]) -> None:
    from qa.embed.local import local_embedder

    embedder = local_embedder()
    levels = {**subset_levels(embedder), **seed_levels(embedder)}
    for name, value in levels.items():
        print(f"{name:45} {value:.4f}")
    if "--write" in argv:
        gate = {
            "measured": date.today().isoformat(),
            "command": COMMAND,
            "margin": MARGIN,
            "encoder": getattr(embedder, "encoder", "torch"),
            "what": (
                "qa (extractive, bundled all-MiniLM-L6-v2 with the encoder named here, default "
                "settings) on "
                "eval/hotpotqa_subset_*.jsonl (30 questions, 121 paragraphs) and on "
                "eval/seed_gold.jsonl; tests/integration/test_eval_gate.py fails when a figure drops more "
                "than `margin` below its level."
            ),
            "levels": {name: round(value, 4) for name, value in levels.items()},
        }
        GATE.write_text(json.dumps(gate, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {GATE}")


if __name__ == "__main__":
    main(sys.argv[1:])
