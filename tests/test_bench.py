"""The benchmark runs end to end on a tiny corpus and writes its report. No timing is asserted:
speed is measured by `python bench/bench.py`, never by the test suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_benchmark_writes_its_report(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    questions = tmp_path / "questions.jsonl"
    lines = (ROOT / "eval" / "hotpotqa_subset_docs.jsonl").read_text(encoding="utf-8").splitlines()
    docs.write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")
    lines = (ROOT / "eval" / "hotpotqa_subset_questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    cmd = [
        sys.executable, str(ROOT / "bench" / "bench.py"),
        "--docs", str(docs), "--questions", str(questions), "--sizes", "12,30",
        "--query-repeat", "1", "--cold-runs", "1", "--out", str(out), "--work", str(tmp_path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Ingest", "## Query latency and memory", "## Cold start"):
        assert heading in report
    assert "(a) bare sentence-transformers encode" in report and "(b) LangChain" in report
    assert (out / "latency_memory.png").stat().st_size > 1000

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["ingest"]["corpus"]["articles"] == 8
    assert [p["articles"] for p in results["scale"]] == [8, 12, 30]
    assert all(p["queries"] == 3 and p["p50_ms"] > 0 and p["peak_rss_mb"] > 0
               for p in results["scale"])
    assert results["cold"]["ask"]["median_s"] > 0 and results["cold"]["serve"]["seconds"] > 0
    # The scratch folder is removed; only the report stays.
    assert not list(tmp_path.glob("qa-bench-*"))
