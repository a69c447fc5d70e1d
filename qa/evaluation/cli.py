"""`qa eval score | summarize | compare | all`: thin commands over the evaluation code.

qa/cli.py owns the `eval` group (and `eval run`); `register` adds these commands to it, so that
the commands live next to the code they drive. Errors become messages here and only here.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from qa.errors import InputError, QAError
from qa.text.terminal import plain, printable

__all__ = ["register"]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _quiet_libraries() -> None:
    # bm25s sets its logger to DEBUG when imported, which floods the progress bars once logging is
    # set up; a filter outlives that, where a level set here would be overwritten.
    bm25s_logger = logging.getLogger("bm25s")
    if not any(isinstance(f, _BelowWarning) for f in bm25s_logger.filters):
        bm25s_logger.addFilter(_BelowWarning())


def _fail(exc: QAError) -> None:
    err.print(plain("error:", "red"), plain(exc.user_message()))
    raise typer.Exit(2)


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """The JSON lines of `path`; InputError naming the first line that lacks a required field."""
    from qa.evaluation.io import load_jsonl

    rows = load_jsonl(path)
    for lineno, row in enumerate(rows, start=1):
        lacking = [k for k in required if not isinstance(row, dict) or k not in row]
        if lacking:
            raise InputError(f"{path}: record {lineno} has no {', '.join(map(repr, lacking))}")
    return rows


def _file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


class _Bars:
    """One tqdm bar per stage on stderr; a new stage closes the previous bar."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage: str | None = None
        self.bar: Any = None
        self.t0 = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=sys.stderr, disable=self.quiet or None)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def _bars(quiet: bool) -> Iterator[_Bars]:
    _quiet_libraries()
    bars = _Bars(quiet)
    try:
        yield bars
    finally:
        bars.close()


def score_cmd(
    questions: Annotated[Path, typer.Option("--questions", help="Questions JSONL (the gold).")],
    predictions: Annotated[Path, typer.Option("--predictions", help="Predictions JSONL.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Also write what is printed to this file.")
    ] = None,
) -> None:
    """Score predictions against questions: Markdown tables (or JSON)."""
    from qa.evaluation.score import report_markdown, score

    try:
        scores = score(_rows(questions, ("qid",)), _rows(predictions, ("qid",)))
    except QAError as exc:
        _fail(exc)
        return
    text = (
        json.dumps(scores, indent=1, ensure_ascii=False) + "\n"
        if as_json
        else report_markdown(scores, f"Scores of {predictions.name} on {questions.name}")
    )
    print(printable(text), end="")
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text, encoding="utf-8")
        err.print(plain(f"wrote {out_path}"))


def summarize_cmd(
    items: Annotated[Path, typer.Option("--items", help="JSONL of {doc_id, text, reference_summary}.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, per item too.")] = False,
    split: Annotated[
        str | None,
        typer.Option("--split", help="Only the items of this split (tune or validate)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Summarize each item with qa and score it (ROUGE) beside Lead-3 of the same text."""
    from qa.evaluation.compare import compare_summaries, summary_items, summary_report

    try:
        rows = _rows(items, ("text", "reference_summary"))
        if split is not None:
            rows = summary_items(rows, split)
            if not rows:
                raise InputError(f"{items}: no item has split {split!r}")
        with _bars(quiet) as bars:
            result = compare_summaries(rows[:limit], progress=bars, split=split)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        print(printable(summary_report(result, f"Summaries of {items.name}")), end="")


def compare_cmd(
    docs: Annotated[Path, typer.Option("--docs", help="Docs JSONL (doc_id, title, text, ...).")],
    questions: Annotated[Path, typer.Option("--questions", help="Questions JSONL.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write comparison.md, scores.json and each system's predictions here."),
    ] = None,
    system: Annotated[
        list[str] | None,
        typer.Option("--system", help="Only this system (repeatable): qa or a yardstick."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run qa and the yardsticks on the same docs and questions; print the side-by-side table."""
    from qa.evaluation.compare import SYSTEMS, compare_systems
    from qa.evaluation.score import report_comparison, write_jsonl

    chosen = system or list(SYSTEMS)
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown:
        err.print(plain(f"error: unknown system {unknown[0]!r}; choose from {', '.join(SYSTEMS)}"))
        raise typer.Exit(2)
    try:
        qs = _rows(questions, ("qid", "question"))
        with _bars(quiet) as bars:
            result = compare_systems(_file(docs), qs, systems=chosen, progress=bars)
    except QAError as exc:
        _fail(exc)
        return
    table = report_comparison(result.scores, f"{questions.name}: qa and the yardsticks")
    print(printable(table), end="")
    for name, seconds in result.seconds.items():
        err.print(plain(f"{name}: {seconds:.1f} s"))
    if out_dir is not None:
        (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
        (out_dir / "comparison.md").write_text(table, encoding="utf-8")
        (out_dir / "scores.json").write_text(
            json.dumps(result.scores, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        for name, preds in result.predictions.items():
            write_jsonl(out_dir / "predictions" / f"{name}.jsonl", preds)
        out.print(plain(f"wrote {out_dir}"))


def all_cmd(
    data: Annotated[Path, typer.Option("--data", help="Folder of the evaluation sets.")] = Path(
        "../shared/eval"
    ),
    out_dir: Annotated[Path, typer.Option("--out", help="Reports go to OUT/<YYYY-MM-DD>/.")] = Path(
        "eval/reports"
    ),
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Only the first N questions and items of each set."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Every set found in DATA through qa and the yardsticks: report.md and report.html."""
    from qa.evaluation.compare import summary_report
    from qa.evaluation.report import find_datasets, main_table, run_all, write_report

    if not data.is_dir():
        err.print(plain(f"error: {data}: no such folder (the evaluation sets live in ../shared/eval)"))
        raise typer.Exit(2)
    found, missing = find_datasets(data)
    if not found and "summarization_cnndm_frank.jsonl" in missing:
        err.print(plain(f"error: no evaluation set in {data}"))
        raise typer.Exit(2)
    if missing:
        err.print(plain(f"not found, skipped: {', '.join(missing)}"))
    t0 = time.perf_counter()
    try:
        with _bars(quiet) as bars:
            result = run_all(data, limit=limit, progress=bars)
        folder = out_dir / date.today().isoformat()
        command = f"qa eval all --data {shlex.quote(str(data))} --out {shlex.quote(str(out_dir))}"
        command += f" --limit {limit}" if limit else ""
        md_path, html_path = write_report(result, folder, command=command)
    except QAError as exc:
        _fail(exc)
        return
    print(printable(main_table(result)))
    if result.summaries is not None:
        print(printable(summary_report(result.summaries, "Summaries")), end="")
    minutes = (time.perf_counter() - t0) / 60
    out.print(plain(f"report written to {md_path} and {html_path} in {minutes:.1f} min"))


def register(eval_app: typer.Typer) -> None:
    """Add score, summarize, compare and all to the `qa eval` group."""
    eval_app.command("score")(score_cmd)
    eval_app.command("summarize")(summarize_cmd)
    eval_app.command("compare")(compare_cmd)
    eval_app.command("all")(all_cmd)
