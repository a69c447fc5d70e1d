"""`qa eval summarize --split` and the bootstrap margins of the summary report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluation.compare import bootstrap_margin, summary_items, summary_report
from tests.integration.test_eval_cli import ITEMS as PLAIN_ITEMS
from tests.integration.test_eval_cli import run, write_jsonl

BRIDGE, HEAT = PLAIN_ITEMS


@pytest.mark.unit
def test_bootstrap_margin_is_seeded_and_brackets_the_mean() -> None:
    diffs = [0.02, -0.01, 0.03, 0.0, 0.05, -0.02, 0.01, 0.04]
    b = bootstrap_margin(diffs)
    assert b["n"] == 8 and b["margin"] == pytest.approx(sum(diffs) / 8)
    assert b["low"] < b["margin"] < b["high"]
    assert bootstrap_margin(diffs) == b  # same seed, same interval
    assert bootstrap_margin([0.01] * 5) == {"margin": 0.01, "low": 0.01, "high": 0.01, "n": 5}
    assert bootstrap_margin([]) == {"margin": None, "low": None, "high": None, "n": 0}
    wide = bootstrap_margin(diffs, resamples=200, seed=1)
    assert wide["margin"] == b["margin"] and wide["low"] != b["low"]


@pytest.mark.unit
def test_summary_items_keep_one_split() -> None:
    items = [{"doc_id": "a", "split": "tune"}, {"doc_id": "b", "split": "validate"}, {"doc_id": "c"}]
    assert [it["doc_id"] for it in summary_items(items, "validate")] == ["b"]
    assert summary_items(items, None) == items


@pytest.mark.unit
def test_summary_report_shows_the_margins_and_the_split() -> None:
    system = {"rouge1": 0.4, "rouge2": 0.2, "rougeLsum": 0.35, "sentences": 3.0, "words": 60.0}
    result = {
        "n": 24,
        "split": "validate",
        "systems": {"qa": {**system, "cited_share": 1.0}, "lead3": system},
        "margins": {
            "rouge1": {"margin": 0.0123, "low": -0.004, "high": 0.031, "n": 24},
            "rouge2": {"margin": -0.002, "low": -0.02, "high": 0.015, "n": 24},
            "rougeLsum": {"margin": None, "low": None, "high": None, "n": 0},
        },
    }
    text = summary_report(result, "Summaries")
    assert "24 articles (split validate)" in text
    assert "| ROUGE-1 | +0.0123 | -0.0040 to +0.0310 | 24 |" in text
    assert "| ROUGE-2 | -0.0020 | -0.0200 to +0.0150 | 24 |" in text
    assert "| ROUGE-Lsum | – | – to – | 0 |" in text
    del result["margins"], result["split"]  # a result of an older run still renders
    assert "| qa (extractive summary) | 0.400 |" in summary_report(result, "Summaries")


ITEMS = [{**BRIDGE, "split": "tune"}, {**HEAT, "split": "validate"}]


@pytest.mark.integration
def test_summarize_one_split_with_margins(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    items = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    code, out, err = run("summarize", "--items", str(items), "--split", "validate", "--json", "-q")
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 1 and result["split"] == "validate"
    assert [r["doc_id"] for r in result["per_item"]] == ["heat"]
    assert result["systems"]["qa"]["cited_share"] == 1.0
    for metric in ("rouge1", "rouge2", "rougeLsum"):
        b = result["margins"][metric]
        row = result["per_item"][0]
        assert b["n"] == 1 and b["margin"] == pytest.approx(row["qa"][metric] - row["lead3"][metric])
    code, out, _ = run("summarize", "--items", str(items), "--split", "validate", "-q")
    assert code == 0 and "1 articles (split validate)" in out and "| ROUGE-1 |" in out
    code, _, err = run("summarize", "--items", str(items), "--split", "nope", "-q")
    assert code == 2 and "no item has split 'nope'" in err
