"""The benchmark runs end to end on a tiny corpus (through `qa bench`) and writes its report. No
timing is asserted: speed is measured by `qa bench` / `python bench/bench.py`, never by the test
suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from tests.support.paths import ROOT


@pytest.mark.slow
@pytest.mark.integration
def test_benchmark_writes_its_report(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    questions = tmp_path / "questions.jsonl"
    lines = (ROOT / "eval" / "hotpotqa_subset_docs.jsonl").read_text(encoding="utf-8").splitlines()
    docs.write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")
    lines = (ROOT / "eval" / "hotpotqa_subset_questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    cmd = [
        sys.executable, "-m", "qa.cli", "bench",
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


@pytest.mark.unit
def test_qa_bench_passes_its_arguments_to_the_script() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["bench", "--help"])
    assert r.exit_code == 0 and "--sections" in r.stdout and "--repeat" in r.stdout
    r = runner.invoke(app, ["bench", "--sections", "scale"])  # refused before any work starts
    assert r.exit_code == 2 and "add ingest" in r.stderr
    r = runner.invoke(app, ["bench", "--sections", "ingest,gpu"])
    assert r.exit_code == 2 and "unknown section(s) gpu" in r.stderr


@pytest.mark.unit
def test_qa_bench_without_the_source_checkout_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.cli

    monkeypatch.setattr(qa.cli, "BENCH_SCRIPT", tmp_path / "bench" / "bench.py")
    r = CliRunner().invoke(app, ["bench", "--sections", "ingest"])
    assert r.exit_code == 2 and "source checkout" in r.stderr
