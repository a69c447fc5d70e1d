"""The `qa` command: a thin layer over the QA service; errors become messages here and only here."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
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


def _print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    """A record, or a list of them, as one line of JSON on stdout (for --json)."""
    data = ([v.model_dump(mode="json") for v in value] if isinstance(value, Sequence)
            else value.model_dump(mode="json"))
    print(json.dumps(data, ensure_ascii=False))


def _print_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A rich table of one-line cells (a stored title may hold newlines or escape codes)."""
    from rich.table import Table

    table = Table(*header)
    for cells in rows:
        table.add_row(*(plain(cell, one_line=True) for cell in cells))
    out.print(table)


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
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files or folders (txt, md, html, jsonl) and http(s) URLs of web pages."),
    ] = None,
    urls_file: Annotated[
        list[Path] | None,
        typer.Option("--urls-file", help="A text file of URLs, one a line (blank lines and lines "
                     "starting with # are skipped); may be given several times."),
    ] = None,
    home: HomeOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Add articles; unchanged ones are skipped, changed ones replaced. Exit 1 if any failed."""
    from tqdm import tqdm

    from qa.ingest.fetch import is_url

    urls = [p for p in paths or [] if is_url(p)]
    files = [Path(p) for p in paths or [] if not is_url(p)]
    for listing in urls_file or []:
        urls += _read_urls(listing)
    if not files and not urls:
        err.print("error: give files, folders or URLs to ingest (or --urls-file)")
        raise typer.Exit(2)
    results: list[IngestResult] = []
    try:
        qa = _service(home)
        bar = tqdm(total=0, unit="article", disable=quiet or None, file=sys.stderr)

        def progress(done: int, total: int, name: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(printable(name[:30], one_line=True))
            bar.refresh()

        if files:
            results = qa.ingest(files, progress=progress)
        if urls:
            results = results + qa.ingest_urls(urls, progress=progress)
        bar.close()
    except PartialIngest as exc:
        bar.close()
        _report(results + exc.results if urls else exc.results, "nothing was stored", each=True, stopped=exc)
        return
    except QAError as exc:
        _fail(exc)
        return
    _report(results, "nothing to ingest", each=len(results) <= 50)


def _read_urls(listing: Path) -> list[str]:
    """The URLs of a --urls-file: one a line; blank lines and # comments skipped."""
    try:
        lines = listing.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        err.print(plain(f"error: cannot read the URL list {listing}: {exc}"))
        raise typer.Exit(2) from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


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
            why = f" ({r.reason})" if r.reason else ""
            out.print(plain(f"{r.status}: {r.doc_id} ({r.n_sentences} sentences) from {r.path}{why}"))
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
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Read 'latest', 'last week'... as of this day (YYYY-MM-DD; "
                     "default today); later articles are left out."),
    ] = None,
) -> None:
    """Answer a question with cited sentences from the articles."""
    from qa.types import Answer

    try:
        qa = _service(home)
        kwargs = dict(k=k, sources=source, since=_date(since, "--since"),
                      until=_date(until, "--until"), mode=mode, as_of=_date(as_of, "--as-of"))
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
        _print_json(answer)
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
        if c.also_reported_by:
            from qa.stories.copies import also_line

            out.print(plain(f"    ({also_line(c.also_reported_by)})", "dim"))


@app.command()
def timeline(
    query: Annotated[str, typer.Argument(help="What the events are about.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    since: Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before (YYYY-MM-DD).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Read 'last month'... as of this day (YYYY-MM-DD).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most events shown.")] = 20,
    home: HomeOpt = None,
) -> None:
    """Dated events about QUERY across the articles, in date order, each a cited sentence; one
    event reported by several outlets is shown once with all of them."""
    try:
        got = _service(home).timeline(query, since=_date(since, "--since"),
                                      until=_date(until, "--until"),
                                      as_of=_date(as_of, "--as-of"), limit=limit)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(got)
        return
    if not got.events:
        out.print("No dated events found.")
        return
    for e in got.events:
        marks = "".join(f"[{c.n}]" for c in e.citations)
        out.print(plain(f"{e.date}  {e.text} {marks}"))
        out.print(plain(f"            reported by {', '.join(e.sources)}", "dim"))
    out.print("\nSources:", style="bold")
    for e in got.events:
        for c in e.citations:
            day = f", {c.published_at[:10]}" if c.published_at else ""
            out.print(plain(f"[{c.n}] {c.title} ({c.source or c.doc_id}{day}) {c.sentence_id}"))


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
        _print_json(summary)
        return
    out.print(plain(summary.summary))
    for c in summary.citations:
        out.print(plain(f"[{c.n}] {c.title} {c.sentence_id} chars {c.start}-{c.end}"))
        if c.also_reported_by:
            from qa.stories.copies import also_line

            out.print(plain(f"    ({also_line(c.also_reported_by)})", "dim"))


@app.command()
def compare(
    query: Annotated[str | None, typer.Argument(help="The story or topic to compare.")] = None,
    doc: Annotated[list[str] | None, typer.Option("--doc", help="Compare these articles.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    home: HomeOpt = None,
) -> None:
    """Where sources agree and differ on a story or topic: shared facts, one-sided statements,
    and conflicting numbers, dates or names, each side cited."""
    if not query and not doc:
        err.print("error: give a query or --doc ID --doc ID")
        raise typer.Exit(2)
    try:
        comparison = _service(home).compare(query, doc)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(comparison)
        return

    def said(st: object) -> str:
        date_part = f", {st.published_at[:10]}" if st.published_at else ""  # type: ignore[attr-defined]
        return f"{st.source or st.doc_id}{date_part} ({st.sentence_id}): {st.text}"  # type: ignore[attr-defined]

    out.print(plain(f"Comparing {len(comparison.doc_ids)} articles: {', '.join(comparison.sources)}"))
    out.print(f"\nConflicts ({len(comparison.conflicts)}):", style="bold")
    for c in comparison.conflicts:
        out.print(plain(f"- {c.kind}: {' / '.join(', '.join(v) for v in c.values)}"))
        for st in c.statements:
            out.print(plain(f"    {said(st)}", "dim"))
    out.print(f"\nAgreed ({len(comparison.agreed)}):", style="bold")
    for f in comparison.agreed:
        out.print(plain(f"- {', '.join(dict.fromkeys(st.source or st.doc_id for st in f.statements))}"))
        for st in f.statements:
            out.print(plain(f"    {said(st)}", "dim"))
    out.print(f"\nOnly one source ({len(comparison.one_sided)}):", style="bold")
    for st in comparison.one_sided:
        out.print(plain(f"- {said(st)}"))


@app.command()
def stories(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Regroup from the stored texts "
                                          "what the story file lacks.")] = False,
    home: HomeOpt = None,
) -> None:
    """The library's stories: articles that are copies of one story, grouped at ingest."""
    try:
        rows = _service(home).stories(rebuild=rebuild)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        first, rest = r.copies[0], r.copies[1:]
        out.print(plain(f"{r.story_id}: {first.title or first.doc_id} ({first.source or first.doc_id})"))
        for c in rest:
            out.print(plain(f"    also {c.doc_id} ({c.source or '?'}): {c.title}", "dim"))
    out.print(f"{len(rows)} stories")


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
        _print_json(rows)
        return
    _print_table(("doc_id", "title", "source", "published", "sentences"),
                 ((r.doc_id, r.title[:60], r.source, (r.published_at or "")[:10], str(r.n_sentences))
                  for r in rows))
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
    """Start the web app and the HTTP APIs (REST /api/v1, OpenAI-compatible /v1; schema at
    /docs) on one port, over the library in QA_HOME."""
    from qa.api.server import serve as serve_all

    # A server's log says what happened to each request: users' errors one line each (info).
    logging.getLogger("qa").setLevel(logging.INFO)
    try:
        serve_all(_service(home, host=host, port=port))
    except QAError as exc:
        _fail(exc)


@app.command()
def mcp(
    allow_ingest: Annotated[
        bool | None,
        typer.Option("--allow-ingest/--read-only",
                     help="Offer the tools that add articles (default: QA_MCP_ALLOW_INGEST, else off)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Serve the library to an MCP client (Claude Desktop, an agent) over stdin/stdout."""
    from qa.api.mcp import run_stdio

    try:
        run_stdio(_service(home, mcp_allow_ingest=allow_ingest))
    except QAError as exc:
        _fail(exc)


feeds_app = typer.Typer(
    help="RSS and Atom feeds: their new items are fetched and ingested by `qa feeds refresh` "
    "(and by `qa serve` every QA_FEED_REFRESH_MINUTES).",
    no_args_is_help=True,
)
app.add_typer(feeds_app, name="feeds")


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
    name: Annotated[str | None, typer.Option("--name", help="A short name (default: its host).")] = None,
    home: HomeOpt = None,
) -> None:
    """Register a feed; `qa feeds refresh` then ingests its items."""
    try:
        feed = _service(home).feeds_add(url, name)
    except QAError as exc:
        _fail(exc)
        return
    out.print(plain(f"added feed {feed.name}: {feed.url}"))


@feeds_app.command("list")
def feeds_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    home: HomeOpt = None,
) -> None:
    """The registered feeds, with their last refresh and its new and failed items."""
    try:
        feeds = _service(home).feeds_list()
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(feeds)
        return
    _print_table(("name", "url", "last refresh", "status", "new", "failed", "articles", "last error"),
                 ((f.name, f.url, (f.last_refresh or "never")[:19], f.last_status or "", str(f.last_new),
                   str(f.last_failed), str(f.items), (f.last_error or "")[:80]) for f in feeds))
    out.print(f"{len(feeds)} feeds")


@feeds_app.command("remove")
def feeds_remove(
    feed: Annotated[str, typer.Argument(help="The feed's name or URL.")],
    home: HomeOpt = None,
) -> None:
    """Forget a feed; the articles it brought stay in the library."""
    try:
        gone = _service(home).feeds_remove(feed)
    except QAError as exc:
        _fail(exc)
        return
    out.print(plain(f"removed feed {gone.name}: {gone.url}"))


@feeds_app.command("refresh")
def feeds_refresh(
    feed: Annotated[str | None, typer.Argument(help="Only this feed (name or URL).")] = None,
    home: HomeOpt = None,
) -> None:
    """Fetch the feeds and ingest their new items, with a line per item. Exit 1 if a feed or
    an item failed."""
    try:
        reports = _service(home).feeds_refresh(feed)
    except PartialIngest as exc:
        _report(exc.results, "nothing was stored", each=True, stopped=exc)
        return
    except QAError as exc:
        _fail(exc)
        return
    failed = False
    for rep in reports:
        name = rep.feed.name
        if rep.status == "failed":
            failed = True
            err.print(plain(f"feed {name}: failed: {rep.reason}"))
        elif rep.status == "unchanged":
            out.print(plain(f"feed {name}: unchanged ({rep.reason})"))
        else:
            out.print(plain(f"feed {name}: {rep.feed.last_new} new, {rep.feed.last_failed} failed, "
                            f"{len(rep.items)} items looked at"))
        for r in rep.items:
            if r.status == "failed":
                failed = True
                err.print(plain(f"  failed: {r.path}: {r.reason}"))
            else:
                why = f" ({r.reason})" if r.reason else ""
                out.print(plain(f"  {r.status}: {r.doc_id} ({r.n_sentences} sentences) from {r.path}{why}"))
    if not reports:
        out.print("no feeds registered (add one with `qa feeds add URL`)")
    if failed:
        raise typer.Exit(1)


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
