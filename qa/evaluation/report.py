"""`qa eval all`: every development set found in a data folder, through qa and its yardsticks, into
one dated report (Markdown and self-contained HTML, with plots).

The data folder holds the files described in ../shared/eval/README.md; sets whose files are
missing are skipped and named in the report. Only numbers and plots are written: the articles'
text stays where it is, since most sets may not be copied.

>>> result = run_all(Path("../shared/eval"))  # doctest: +SKIP
>>> md, html = write_report(result, Path("eval/reports") / result.date)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.evaluation import metrics as m
from qa.evaluation.compare import (
    PROJECT,
    SYSTEMS,
    Comparison,
    Progress,
    compare_summaries,
    compare_systems,
    summary_report,
)
from qa.evaluation.intopic import in_topic_set
from qa.evaluation.io import load_jsonl, write_jsonl
from qa.evaluation.score import fmt, md_table, report_comparison, report_markdown
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.embed.base import Embedder

__all__ = [
    "DATASETS",
    "SUMMARIES",
    "Dataset",
    "EvalRun",
    "find_datasets",
    "main_table",
    "markdown_to_html",
    "render_markdown",
    "run_all",
    "write_plots",
    "write_report",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """A question set of the data folder: `<key>_docs.jsonl` and `<key>_questions.jsonl`."""

    key: str
    title: str
    note: str = ""

    def docs(self, data: Path) -> Path:
        return data / f"{self.key}_docs.jsonl"

    def questions(self, data: Path) -> Path:
        return data / f"{self.key}_questions.jsonl"


DATASETS = (
    Dataset(
        "hotpotqa",
        "HotpotQA",
        "Wikipedia paragraphs, multi-hop questions; yes/no answers are judged on the answer alone.",
    ),
    Dataset(
        "realtimeqa",
        "RealTimeQA",
        "News quiz questions (asked without the choices); a hit on a silver article or sentence "
        "counts, so retrieval is also shown against gold or silver documents.",
    ),
    Dataset(
        "multihoprag_partial",
        "MultiHop-RAG (partial)",
        "Article stubs holding only evidence sentences, so retrieval and citation precision come "
        "out better than on full articles; answers and abstention on null queries are meaningful.",
    ),
)
"""The question sets `run_all` looks for, in report order."""

SUMMARIES = "summarization_cnndm_frank.jsonl"
"""The summarization items `run_all` looks for."""

IN_TOPIC = ("hotpotqa", "realtimeqa")
"""The sets whose in-topic unanswerable variant `run_all` also runs."""

CURVE_DATASET = "multihoprag_partial"
"""The set whose unanswerable questions draw the abstention curve."""


def find_datasets(data: Path) -> tuple[list[Dataset], list[str]]:
    """The question sets whose two files are in `data`, and the names of the missing files."""
    found, missing = [], []
    for d in DATASETS:
        absent = [p.name for p in (d.docs(data), d.questions(data)) if not p.is_file()]
        if absent:
            missing.extend(absent)
        else:
            found.append(d)
    if not (data / SUMMARIES).is_file():
        missing.append(SUMMARIES)
    return found, missing


@dataclass
class EvalRun:
    """Everything `run_all` measured, ready to be written by `write_report`."""

    date: str
    data: str
    settings: dict[str, Any]
    limit: int | None
    datasets: dict[str, Comparison] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    summaries: dict | None = None
    missing: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _settings_summary(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    llm = settings.mode == "llm" or (
        settings.mode == "auto" and bool(settings.openai_api_key or settings.openai_base_url)
    )
    return {
        "mode": "llm" if llm else "extractive",
        "llm_model": settings.llm_model if llm else None,
        "embedder": getattr(embedder, "name", settings.embedder),
        "k": settings.k,
        "abstain_threshold": settings.abstain_threshold,
        "chunk_max_tokens": settings.chunk_max_tokens,
        "encoder": getattr(embedder, "encoder", None),
    }


def run_all(
    data: Path,
    *,
    settings: Settings | None = None,
    limit: int | None = None,
    systems: Sequence[str] = SYSTEMS,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    split: str | None = "validate",
) -> EvalRun:
    """Run qa and the yardsticks on every question set in `data`, and the summaries beside Lead-3.

    `split` keeps the rows of that split only ("validate" by default: the rows nothing was
    fitted on; None: every row). After each set in IN_TOPIC, its in-topic unanswerable variant
    (qa.evaluation.intopic) is run through qa alone (the yardsticks never abstain).

    `limit` keeps the first N questions (and summary items) of each set; every document is still
    indexed. The embedding model is loaded once for the whole run.
    """
    settings = settings or Settings()
    if embedder is None:
        from qa.embed.local import local_embedder

        embedder = local_embedder(settings.embed_batch_size, settings.encoder)
    found, missing = find_datasets(data)
    result = EvalRun(
        date=date.today().isoformat(),
        data=str(data),
        settings=_settings_summary(settings, embedder),
        limit=limit,
        missing=missing,
    )

    def stage(prefix: str) -> Progress | None:
        if progress is None:
            return None
        report = progress
        return lambda name, done, total: report(f"{prefix} {name}", done, total)

    def keep(rows: list[dict]) -> list[dict]:
        # A row without a split belongs to every split (sets made before the splits existed).
        return [r for r in rows if split is None or r.get("split", split) == split][:limit]

    for d in found:
        all_questions = load_jsonl(d.questions(data))
        questions = keep(all_questions)
        t0 = time.perf_counter()
        result.datasets[d.key] = compare_systems(
            d.docs(data),
            questions,
            settings,
            systems=systems,
            embedder=embedder,
            progress=stage(d.key),
        )
        result.seconds[d.key] = time.perf_counter() - t0
        result.titles[d.key] = d.title
        result.notes[d.key] = d.note
        if d.key in IN_TOPIC and PROJECT in systems:
            made = in_topic_set(load_jsonl(d.docs(data)), all_questions, split=split)
            key = f"{d.key}_intopic"
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="qa-intopic-") as tmp:
                docs = Path(tmp) / "docs.jsonl"
                write_jsonl(docs, made.docs)
                result.datasets[key] = compare_systems(
                    docs, made.questions[:limit], settings, systems=(PROJECT,), embedder=embedder,
                    progress=stage(key),
                )
            result.seconds[key] = time.perf_counter() - t0
            result.titles[key] = f"{d.title} in-topic"
            result.notes[key] = (
                f"{d.title} with the gold and silver articles of half its questions removed: "
                f"{made.unanswerable} of those whose answer then appears nowhere must abstain, "
                f"{made.answerable} of the other half stay answerable (qa/evaluation/intopic.py)."
            )
    if (data / SUMMARIES).is_file():
        items = keep(load_jsonl(data / SUMMARIES))
        t0 = time.perf_counter()
        result.summaries = compare_summaries(
            items, settings, embedder=embedder, progress=stage("summaries"), split=split
        )
        result.seconds["summaries"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------------------------------------
# Tables

_MAIN_COLUMNS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("doc hit@5", ("retrieval", "gold", "hit@5"), 3),
    ("hit@5 gold/silver", ("retrieval", "gold_or_silver", "hit@5"), 3),
    ("MRR", ("retrieval", "gold", "mrr"), 3),
    ("evidence recall", ("citations", "evidence_recall"), 3),
    ("citation precision", ("citations", "precision"), 3),
    ("cited chars", ("citations", "mean_cited_chars"), 0),
    ("answer contained", ("answers", "contained"), 3),
    ("F1", ("answers", "f1"), 3),
    ("abstain on null", ("abstention", "abstain_on_null"), 3),
    ("false abstain", ("abstention", "false_abstain"), 3),
    ("p50 ms", ("latency_ms", "p50"), 0),
)


def _get(section: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = section
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def main_table(run: EvalRun) -> str:
    """One Markdown table: every dataset and system with the headline figures."""
    rows = []
    for key, comparison in run.datasets.items():
        for system, scores in comparison.scores.items():
            overall = scores["overall"]
            rows.append(
                [
                    run.titles.get(key, key),
                    system,
                    str(overall["n"]),
                    *(fmt(_get(overall, path), digits) for _, path, digits in _MAIN_COLUMNS),
                    fmt(comparison.seconds.get(system), 0),
                ]
            )
    header = ["dataset", "system", "n", *(h for h, _, _ in _MAIN_COLUMNS), "run s"]
    return "\n".join(md_table(header, rows))


def robustness_table(run: EvalRun) -> str:
    """qa's answers asked another way (qa.evaluation.robustness): the share of questions whose
    decision and citations stay the same."""
    rows = []
    for key, comparison in run.datasets.items():
        scores = comparison.scores.get(PROJECT)
        if scores is None:
            continue
        same = scores["overall"].get("robustness") or {}
        rows.append([run.titles.get(key, key), str(scores["overall"]["n"]),
                     fmt(same.get("same_typed_casually")), fmt(same.get("same_beside_unrelated"))])
    header = ["dataset", "n", "same typed casually", "same beside an unrelated article"]
    return "\n".join(md_table(header, rows))


def _demote(markdown: str, levels: int) -> str:
    """Headings pushed down `levels` levels, so a whole report nests inside another."""
    return re.sub(r"^(#+) ", lambda mt: "#" * (len(mt.group(1)) + levels) + " ", markdown, flags=re.M)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def render_markdown(run: EvalRun, plots: Mapping[str, str], command: str | None = None) -> str:
    """The report as Markdown; `plots` maps a plot's caption to its file, relative to the report."""
    s = run.settings
    total = sum(run.seconds.values())
    commit = _git_commit()
    out = [f"# qa evaluation, {run.date}", ""]
    out.append(
        f"Data: `{run.data}`. qa in {s['mode']} mode"
        + (f" ({s['llm_model']})" if s.get("llm_model") else "")
        + f", embedder {s['embedder']}"
        + (f" ({s['encoder']} encoder)" if s.get("encoder") else "")
        + f", k={s['k']}, abstain threshold {s['abstain_threshold']}. "
        + f"Run time {total / 60:.1f} min on {os.cpu_count()} CPUs ({platform.machine()})"
        + (f", code {commit}" if commit else "")
        + "."
    )
    if command:
        out += ["", f"Command: `{command}`"]
    if run.limit:
        out += ["", f"**Only the first {run.limit} questions and summary items of each set.**"]
    if run.missing:
        out += ["", f"Not found, so not run: {', '.join(run.missing)}."]
    out += [
        "",
        "Yardsticks: `langchain_tutorial` (LangChain RAG tutorial: 1000-character chunks, top 4), "
        "`bm25_only` and `dense_only` (top 5 sentences); none of them abstains. Citation "
        "precision is per cited sentence against gold (or silver) evidence.",
        "",
    ]
    if run.datasets:
        out += ["## Question answering: qa and the yardsticks", "", main_table(run)]
        out += [
            "## The same answer asked another way",
            "",
            "Each question asked again in lower case without its question mark, and again after "
            "one short unrelated article joins the library (qa/evaluation/robustness.py): the "
            "share whose answer-or-abstain decision and cited sentences stay the same.",
            "",
            robustness_table(run),
        ]
    if run.summaries is not None:
        out += [_demote(summary_report(run.summaries, "Summaries: qa and Lead-3"), 1)]
    if plots:
        out += ["## Plots", ""]
        for caption, path in plots.items():
            out += [f"### {caption}", "", f"![{caption}]({path})", ""]
    for key, comparison in run.datasets.items():
        title = run.titles.get(key, key)
        out += [f"## {title}", "", run.notes.get(key, ""), ""]
        out += [_demote(report_comparison(comparison.scores, f"{title}: side by side"), 2)]
        out += [_demote(report_markdown(comparison.scores[PROJECT], f"{title}: qa in detail"), 2)]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Plots

_COLORS = {
    PROJECT: "#d62728",
    "langchain_tutorial": "#1f77b4",
    "bm25_only": "#2ca02c",
    "dense_only": "#9467bd",
}


def _curves(run: EvalRun) -> list[tuple[str, list[tuple[float, float | None, float | None]]]]:
    """The abstention curve of every set with unanswerable and answerable questions (MultiHop-RAG's
    null queries, the in-topic sets), on one threshold grid."""
    keys = [CURVE_DATASET, *(k for k in run.datasets if k != CURVE_DATASET)]
    grid = [i / 100 for i in range(101)]
    out = []
    for key in keys:
        comparison = run.datasets.get(key)
        if comparison is None or PROJECT not in comparison.predictions:
            continue
        by_qid = {str(p["qid"]): p for p in comparison.predictions[PROJECT]}
        items = [
            (bool(q.get("doc_ids")), float(by_qid[str(q["qid"])]["confidence"]))
            for q in comparison.questions
            if by_qid.get(str(q["qid"]), {}).get("confidence") is not None
        ]
        if any(not a for a, _ in items) and any(a for a, _ in items):
            out.append((key, m.abstention_curve(items, grid)))
    return out


def write_plots(run: EvalRun, folder: Path) -> dict[str, str]:
    """PNG plots of the run in `folder`; returns caption -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}

    if run.datasets:
        n = len(run.datasets)
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
        for ax, (key, comparison) in zip(axes[0], run.datasets.items(), strict=True):
            for system, scores in comparison.scores.items():
                c = scores["overall"]["citations"]
                if c["evidence_recall"] is None or c["precision"] is None:
                    continue
                x, y = c["evidence_recall"], c["precision"]
                color = _COLORS.get(system, "gray")
                ax.scatter(x, y, s=70, color=color, label=system, edgecolor="black", zorder=3)
            ax.set_title(run.titles.get(key, key))
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("evidence recall")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("citation precision")
        axes[0][0].legend(loc="lower left", fontsize=8)
        fig.suptitle("Citation precision vs evidence recall")
        fig.tight_layout()
        fig.savefig(folder / "citations.png", dpi=110)
        plt.close(fig)
        written["Citation precision vs evidence recall, per dataset"] = "citations.png"

        latencies = {
            run.titles.get(key, key): [
                float(p["timings_ms"]["total"])
                for p in comparison.predictions.get(PROJECT, [])
                if "total" in (p.get("timings_ms") or {})
            ]
            for key, comparison in run.datasets.items()
        }
        latencies = {k: v for k, v in latencies.items() if v}
        if latencies:
            fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
            left.boxplot(list(latencies.values()), tick_labels=list(latencies), showfliers=True)
            left.set_ylabel("ms per question")
            left.set_title("qa latency by dataset")
            left.grid(alpha=0.3, axis="y")
            top = max(max(v) for v in latencies.values())
            bins = [top * i / 40 for i in range(41)]  # the same bins for every dataset
            for name, values in latencies.items():
                right.hist(values, bins=bins, alpha=0.55, label=name)
            right.set_xlabel("ms per question")
            right.set_ylabel("questions")
            right.set_title("qa latency distribution")
            right.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(folder / "latency.png", dpi=110)
            plt.close(fig)
            written["Latency of qa (total per question)"] = "latency.png"

    curves = _curves(run)
    if curves:
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for i, (key, curve) in enumerate(curves):
            xs = [x for x, _, _ in curve]
            color = f"C{i}"
            name = run.titles.get(key, key)
            ax.plot(xs, [n if n is not None else float("nan") for _, n, _ in curve], color=color,
                    label=f"{name}: abstain on unanswerable")
            ax.plot(xs, [f if f is not None else float("nan") for _, _, f in curve], color=color,
                    linestyle=":", label=f"{name}: false abstention")
        threshold = float(run.settings["abstain_threshold"])
        ax.axvline(threshold, color="black", linestyle="--", label=f"configured {threshold:g}")
        ax.set_xlabel("threshold (abstain when P(answerable) < threshold)")
        ax.set_ylabel("share of questions")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Abstention by threshold")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / "abstention.png", dpi=110)
        plt.close(fig)
        written["Abstention curves (" + ", ".join(run.titles.get(k, k) for k, _ in curves) + ")"] = (
            "abstention.png"
        )
    return written


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f4f4f4; padding: 0 0.2em; }
img { max-width: 100%; border: 1px solid #ddd; }
"""

_NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?$|^–$")
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(markdown: str, images: Mapping[str, str] | None = None, title: str = "") -> str:
    """A standalone HTML page of the Markdown this module writes: headings, paragraphs, tables,
    images, bold and code. `images` maps an image path to what replaces it (e.g. a data URI)."""
    images = images or {}
    body: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        image = _IMAGE.match(line.strip())
        if heading:
            level = len(heading.group(1))
            body.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        elif image:
            src = images.get(image.group(2), image.group(2))
            alt = html.escape(image.group(1))
            body.append(f'<p><img src="{html.escape(src)}" alt="{alt}"></p>')
            i += 1
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            head, rows = _cells(block[0]), [_cells(r) for r in block[2:]]
            parts = ["<table>", "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
            for row in rows:
                tds = "".join(
                    f'<td class="num">{_inline(c)}</td>' if _NUMBER.match(c) else f"<td>{_inline(c)}</td>"
                    for c in row
                )
                parts.append(f"<tr>{tds}</tr>")
            body.append("\n".join([*parts, "</table>"]))
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#|\||!\[)", lines[i]):
                para.append(lines[i])
                i += 1
            body.append(f"<p>{_inline(' '.join(para))}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _scores_json(run: EvalRun) -> dict[str, Any]:
    return {
        "date": run.date,
        "data": run.data,
        "settings": run.settings,
        "limit": run.limit,
        "seconds": run.seconds,
        "missing": run.missing,
        "datasets": {key: {"seconds": c.seconds, "scores": c.scores} for key, c in run.datasets.items()},
        "summaries": None
        if run.summaries is None
        else {k: v for k, v in run.summaries.items() if k != "per_item"},
    }


def write_report(run: EvalRun, folder: Path, command: str | None = None) -> tuple[Path, Path]:
    """Write report.md, report.html (plots embedded), the plots and scores.json into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = write_plots(run, folder / "plots")
    relative = {caption: f"plots/{name}" for caption, name in plots.items()}
    markdown = render_markdown(run, relative, command)
    md_path = folder / "report.md"
    md_path.write_text(markdown, encoding="utf-8")
    inline = {
        path: "data:image/png;base64," + base64.b64encode((folder / path).read_bytes()).decode("ascii")
        for path in relative.values()
    }
    html_path = folder / "report.html"
    html_path.write_text(
        markdown_to_html(markdown, inline, title=f"qa evaluation, {run.date}"), encoding="utf-8"
    )
    (folder / "scores.json").write_text(
        json.dumps(_scores_json(run), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return md_path, html_path
