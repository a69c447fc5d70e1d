"""The `qa` command: a thin layer over the QA service; errors become messages here and only here."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qa.errors import PartialIngest, QAError
from qa.settings import Settings
from qa.text.terminal import plain, printable
from qa.types import IngestResult

app = typer.Typer(
    help="Cited answers and summaries over news articles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Evaluation: predictions, scores and reports.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
# Every outside string (stored text, file names, user input, error messages quoting them) is
# printed through `plain`: as written, never as Rich markup, control characters replaced.
out = Console()
err = Console(stderr=True)

ModeOpt = Annotated[
    str | None,
    typer.Option("--mode", help="extractive, llm or auto (default: QA_MODE, else auto)."),
]
HomeOpt = Annotated[
    Path | None, typer.Option("--home", help="Data folder (default: QA_HOME or ~/.qa).")
]


def _settings(home: Path | None, **overrides: object) -> Settings:
    updates = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        updates["home"] = home
    return Settings(**updates)  # type: ignore[arg-type]


def _service(home: Path | None, **overrides: object):  # noqa: ANN202 - QA imported lazily
    # Importing the service pulls in torch and chromadb: keep `qa --help` fast.
    from qa.service import QA

    return QA(_settings(home, **overrides))


def _fail(exc: QAError) -> None:
    err.print(plain("error:", "red"), plain(exc.user_message()))
    raise typer.Exit(2)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(plain(f"error: {name} must be a date like 2023-09-11, not {value!r}"))
        raise typer.Exit(2) from None


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (txt, md, html, jsonl).")],
    home: HomeOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Add articles; unchanged ones are skipped, changed ones replaced. Exit 1 if any failed."""
    from tqdm import tqdm

    try:
        qa = _service(home)
        bar = tqdm(total=0, unit="article", disable=quiet or None, file=sys.stderr)

        def progress(done: int, total: int, name: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(printable(name[:30], one_line=True))
            bar.refresh()

        results = qa.ingest(paths, progress=progress)
        bar.close()
    except PartialIngest as exc:
        bar.close()
        _report(exc.results, "nothing was stored", each=True, stopped=exc)
        return
    except QAError as exc:
        _fail(exc)
        return
    _report(results, "nothing to ingest", each=len(results) <= 50)


def _report(
    results: list[IngestResult], nothing: str, *, each: bool, stopped: PartialIngest | None = None
) -> None:
    """Failures to stderr, each result when asked, then counts by status; exit 1 on a failure.
    `stopped`: the store failure that cut the ingest short, printed last (the results are
    those up to it)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status == "failed":
            err.print(plain(f"failed: {r.path}: {r.reason}"))
        elif each:
            out.print(plain(f"{r.status}: {r.doc_id} ({r.n_sentences} sentences) from {r.path}"))
        for warning in r.warnings:  # the article was stored, without what the warning names
            err.print(plain(f"warning: {r.path}: {r.doc_id}: {warning}"))
    out.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or nothing, highlight=False)
    if stopped is not None:
        err.print(plain("error:", "red"), plain(stopped.user_message()))
    if counts.get("failed") or stopped is not None:
        raise typer.Exit(1)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    k: Annotated[int | None, typer.Option("--k", help="Most sentences cited.")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only this source.")] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before (YYYY-MM-DD).")] = None,
    mode: ModeOpt = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it comes.")] = False,
    home: HomeOpt = None,
) -> None:
    """Answer a question with cited sentences from the articles."""
    from qa.types import Answer

    try:
        qa = _service(home)
        kwargs = dict(k=k, sources=source, since=_date(since, "--since"),
                      until=_date(until, "--until"), mode=mode)
        if stream and not as_json:
            answer = None
            for piece in qa.ask_stream(question, **kwargs):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    print(printable(piece), end="", flush=True)
            print("\n")
            assert answer is not None
        else:
            answer = qa.ask(question, **kwargs)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False))
        return
    if not stream:
        out.print(plain(answer.answer))
    elif answer.mode == "llm" and not answer.abstained:
        # The streamed tokens carry the model's own [S#] markers; this is the checked text.
        out.print("Checked answer:", style="bold")
        out.print(plain(answer.answer))
    shown = answer.citations or answer.related
    if shown:
        out.print("\nRelated sentences:" if answer.abstained else "\nSources:", style="bold")
    for c in shown:
        date_part = f", {c.published_at[:10]}" if c.published_at else ""
        out.print(
            plain(
                f"[{c.n}] {c.title} ({c.source or c.doc_id}{date_part}) "
                f"{c.sentence_id} chars {c.start}-{c.end}"
            )
        )
        out.print(plain(f"    {c.text}", "dim"))


@app.command()
def summarize(
    doc_ids: Annotated[list[str] | None, typer.Argument(help="Article ids.")] = None,
    query: Annotated[str | None, typer.Option("--query", help="Summarize what this finds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    mode: ModeOpt = None,
    home: HomeOpt = None,
) -> None:
    """A cited summary of one or several articles (by id or by a query)."""
    if not doc_ids and not query:
        err.print("error: give article ids or --query")
        raise typer.Exit(2)
    try:
        summary = _service(home).summarize(doc_ids or [], query=query, mode=mode)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps(summary.model_dump(mode="json"), ensure_ascii=False))
        return
    out.print(plain(summary.summary))
    for c in summary.citations:
        out.print(plain(f"[{c.n}] {c.title} {c.sentence_id} chars {c.start}-{c.end}"))


@app.command(name="list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    home: HomeOpt = None,
) -> None:
    """The stored articles."""
    try:
        rows = _service(home).list()
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("doc_id", "title", "source", "published", "sentences")
    for r in rows:
        cells = (r.doc_id, r.title[:60], r.source, (r.published_at or "")[:10], str(r.n_sentences))
        table.add_row(*(plain(cell, one_line=True) for cell in cells))
    out.print(table)
    out.print(f"{len(rows)} articles")


@app.command()
def delete(
    doc_id: Annotated[str, typer.Argument(help="The article to remove.")],
    home: HomeOpt = None,
) -> None:
    """Remove an article and everything derived from it."""
    try:
        _service(home).delete(doc_id)
    except QAError as exc:
        _fail(exc)
        return
    out.print(plain(f"deleted {doc_id}"))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 7860).")] = None,
    home: HomeOpt = None,
) -> None:
    """Start the web app over the library in QA_HOME."""
    from qa.web.app import launch

    # A server's log says what happened to each request: users' errors one line each (info).
    logging.getLogger("qa").setLevel(logging.INFO)
    try:
        launch(_service(home, host=host, port=port))
    except QAError as exc:
        _fail(exc)


@eval_app.command("run")
def eval_run(
    docs: Annotated[Path, typer.Option("--docs", help="Docs JSONL (doc_id, title, text, ...).")],
    questions: Annotated[Path, typer.Option("--questions", help="Questions JSONL.")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write predictions JSONL.")],
    k: Annotated[int | None, typer.Option("--k", help="Most sentences cited.")] = None,
    mode: ModeOpt = None,
    home: HomeOpt = None,
) -> None:
    """Ingest DOCS into a fresh collection and write one prediction line per question."""
    from tqdm import tqdm

    from qa.evaluation.run import run

    bar = tqdm(unit="question", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = run(docs, questions, out_path, _settings(None), home=home, k=k, progress=progress)
    except QAError as exc:
        _fail(exc)
        return
    bar.close()
    out.print(json.dumps(summary), highlight=False, markup=False)


@app.command(name="export")
def export_(
    path: Annotated[Path, typer.Argument(help="File to write: .jsonl, or .jsonl.gz to compress.")],
    no_vectors: Annotated[
        bool, typer.Option("--no-vectors", help="Texts and metadata only: the import embeds again.")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Write the whole library (texts, metadata, ids, vectors) to one JSONL file."""
    from qa.ingest.transfer import export_library

    try:
        n = export_library(_service(home), path, vectors=not no_vectors)
    except QAError as exc:
        _fail(exc)
        return
    out.print(plain(f"exported {n} articles to {path}"))


@app.command(name="import")
def import_(
    path: Annotated[Path, typer.Argument(help="A file written by `qa export`.")],
    reembed: Annotated[
        bool,
        typer.Option("--re-embed", "--reembed", help="Embed the texts again with this library's "
                     "embedder instead of using the vectors in the file (needed when the export "
                     "was made with another embedder)."),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Re-create an exported library here (embedded, or QA_CHROMA_URL). Importing twice changes
    nothing. Exit 1 if any article failed."""
    from qa.ingest.transfer import import_library

    try:
        results = import_library(_service(home), path, reembed=reembed)
    except PartialIngest as exc:
        _report(exc.results, "nothing was imported", each=True, stopped=exc)
        return
    except QAError as exc:
        _fail(exc)
        return
    _report(results, "nothing to import", each=False)


@app.command()
def check(
    repair: Annotated[
        bool, typer.Option(
            "--repair",
            help="Rebuild the vector indexes from Chroma's log and delete the records "
            "interrupted writes left behind.",
        )
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Read every record and report what is inconsistent. Exit 1 if a problem remains."""
    try:
        with _service(home) as qa:
            health, removed = qa.check(repair=repair)
    except QAError as exc:
        _fail(exc)
        return
    out.print(
        f"{health.articles} articles, {health.sentences} sentence and {health.chunks} chunk records; "
        f"{health.orphans} left by interrupted writes" + (f" ({removed} removed)" if repair else ""),
        highlight=False,
    )
    for p in health.problems:
        err.print(plain(f"problem: {p}"))
    if health.problems or (health.orphans and repair):
        raise typer.Exit(1)


# The benchmark is a script of the source checkout (bench/bench.py, beside the qa package), not
# part of the installed package; `qa bench` runs it with the arguments it is given.
BENCH_SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "bench.py"


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench(ctx: typer.Context) -> None:
    """Run the performance benchmark (bench/bench.py) with the arguments given: see --help."""
    import importlib.util

    if not BENCH_SCRIPT.is_file():
        err.print(
            f"error: {BENCH_SCRIPT} is not there: the benchmark runs from a source checkout of qa "
            "(pip install -e .), not from an installed package.",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(2)
    spec = importlib.util.spec_from_file_location("qa_bench_script", BENCH_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raise typer.Exit(int(module.main(list(ctx.args))))


def _register_eval_commands() -> None:
    # score, summarize, compare, all: defined with the evaluation code they drive.
    from qa.evaluation.cli import register

    register(eval_app)


_register_eval_commands()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG
    app()


if __name__ == "__main__":
    main()
