"""qa beside its yardsticks: the same documents and questions through every system, and qa's
summaries beside Lead-3 on the same articles.

Every system indexes the documents afresh (qa into a Chroma store in a temporary folder), and all
of them share one loaded embedding model, so a dataset costs one model load and one indexing per
system. Predictions come out in the format of `qa eval run`, ready for `score`.

>>> result = compare_systems(Path("docs.jsonl"), load_jsonl("questions.jsonl"))  # doctest: +SKIP
>>> print(report_comparison(result.scores, "HotpotQA"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.evaluation import metrics as m
from qa.evaluation import robustness
from qa.evaluation.io import load_jsonl
from qa.evaluation.run import eval_settings, fresh_qa, predictions, question_date
from qa.evaluation.score import fmt, md_table, score
from qa.evaluation.yardsticks import YARDSTICKS, run_yardstick
from qa.settings import Settings
from qa.text import sentences as sent

if TYPE_CHECKING:
    from qa.embed.base import Embedder
    from qa.service import QA

__all__ = [
    "PROJECT",
    "SYSTEMS",
    "Comparison",
    "Progress",
    "bootstrap_margin",
    "compare_summaries",
    "compare_systems",
    "eval_settings",
    "qa_predictions",
    "summary_report",
]

logger = logging.getLogger(__name__)

PROJECT = "qa"
"""The name of this project's system in tables and plots."""

SYSTEMS = (PROJECT, *YARDSTICKS)
"""Every system `compare_systems` runs, the project first."""

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total) as work advances; a stage is e.g. "qa: questions"."""


def _tick(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _ingest_progress(progress: Progress | None, stage: str) -> Callable[[int, int, str], None]:
    def report(done: int, total: int, _name: str) -> None:
        _tick(progress, stage, done, total)

    return report


def qa_predictions(
    docs: Path,
    questions: Sequence[Mapping[str, Any]],
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> list[dict]:
    """The project's prediction for every question, after ingesting `docs` into a fresh store.

    The same rows as `qa eval run` writes: the Answer as JSON plus the question's qid, and
    whether the answer stays the same typed casually and beside an unrelated article
    (qa.evaluation.robustness).
    """
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp, fresh_qa(settings, Path(tmp), embedder) as qa:
        rows = predictions(qa, docs, questions, on_ingest=_ingest_progress(progress, f"{PROJECT}: ingest"))
        next(rows)
        out = []
        for i, row in enumerate(rows, start=1):
            out.append(row)
            _tick(progress, f"{PROJECT}: questions", i, len(questions))
        _tick(progress, f"{PROJECT}: typed casually, beside an unrelated article", 0, 1)
        robustness.check(qa, questions, out, [question_date(q) for q in questions])
        _tick(progress, f"{PROJECT}: typed casually, beside an unrelated article", 1, 1)
    return out


@dataclass
class Comparison:
    """Predictions, scores and run time of each system on one set of questions."""

    questions: list[dict] = field(default_factory=list)
    predictions: dict[str, list[dict]] = field(default_factory=dict)
    scores: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def compare_systems(
    docs: Path,
    questions: Sequence[Mapping[str, Any]],
    settings: Settings | None = None,
    *,
    systems: Sequence[str] = SYSTEMS,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Run each named system on the same documents and questions, and score each.

    `systems` may name the project (PROJECT) and any yardstick; the embedding model is loaded
    once and shared by all of them.
    """
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    if embedder is None:
        from qa.embed.local import local_embedder

        settings = settings or Settings()
        embedder = local_embedder(settings.embed_batch_size, settings.encoder)
    qs = list(questions)
    doc_rows: list[dict] | None = None
    result = Comparison(questions=[dict(q) for q in qs])
    for name in systems:
        t0 = time.perf_counter()
        if name == PROJECT:
            preds = qa_predictions(docs, qs, settings, embedder=embedder, progress=progress)
        else:
            doc_rows = doc_rows if doc_rows is not None else load_jsonl(docs)
            _tick(progress, f"{name}: index and answer", 0, 1)
            preds = run_yardstick(name, doc_rows, [dict(q) for q in qs], embedder=embedder)
            _tick(progress, f"{name}: index and answer", 1, 1)
        result.seconds[name] = time.perf_counter() - t0
        result.predictions[name] = preds
        result.scores[name] = score(qs, preds)
    return result


# ---------------------------------------------------------------------------------------------
# Summaries


def _cited_share(qa: QA, summary: Any) -> float | None:
    """Share of summary sentences that are the text of a citation pointing at a stored sentence.

    A citation counts when its text equals the stored sentence it names and the article's text at
    its offsets: the check `qa` makes of model citations, applied to its own summaries.
    """
    if not summary.sentences:
        return None
    texts: dict[str, str] = {}
    stored: dict[str, str] = {}
    good: set[str] = set()
    for c in summary.citations:
        if c.doc_id not in texts:
            texts[c.doc_id] = qa.get(c.doc_id).text
            stored.update((s.sentence_id, s.text) for s in qa.sentences(c.doc_id))
        if stored.get(c.sentence_id) == c.text == texts[c.doc_id][c.start : c.end]:
            good.add(c.text)
    return sum(s in good for s in summary.sentences) / len(summary.sentences)


BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the items behind each margin's interval."""


def bootstrap_margin(
    differences: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> dict[str, float | int | None]:
    """Mean of per-item differences with a percentile bootstrap 95% interval (items resampled).

    Seeded, so the same items give the same interval. Returns {"margin", "low", "high", "n"}
    (None figures with no items).
    """
    import numpy as np

    d = np.asarray([float(x) for x in differences], dtype=np.float64)
    if len(d) == 0:
        return {"margin": None, "low": None, "high": None, "n": 0}
    picks = np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))
    means = d[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"margin": float(d.mean()), "low": float(low), "high": float(high), "n": len(d)}


def _length(sentences: Sequence[str]) -> tuple[float, float]:
    return float(len(sentences)), float(sum(len(s.split()) for s in sentences))


def summary_items(items: Sequence[Mapping[str, Any]], split: str | None) -> list[dict[str, Any]]:
    """The items of one `split` ("tune", "validate"), or all of them when `split` is None."""
    return [dict(it) for it in items if split is None or it.get("split") == split]


def compare_summaries(
    items: Sequence[Mapping[str, Any]],
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    split: str | None = None,
) -> dict:
    """qa's summary of each item beside Lead-3 of the same stored text, scored against the reference.

    Items are {"doc_id", "text", "reference_summary", "split"?}; with `split`, only the items of
    that split are summarized. ROUGE is F1 (rouge-score, Porter stemming); Lead-3 is the first
    three sentences of the article as stored (after cleaning), the text qa chooses from.
    `cited_share` checks every summary sentence: it must be the text of one of the summary's
    citations, equal to the stored sentence it names and to the article at its offsets.
    `margins` holds, per ROUGE type, qa minus Lead-3 with a bootstrap 95% interval over items.
    Returns {"n", "split", "systems": {"qa": {...}, "lead3": {...}}, "margins", "per_item"}.
    """
    from qa.ingest.readers import article_from_record

    items = summary_items(items, split)
    rows: list[dict] = []
    with (
        tempfile.TemporaryDirectory(prefix="qa-eval-sum-") as tmp,
        fresh_qa(settings, Path(tmp), embedder) as qa,
    ):
        articles = [article_from_record(dict(it), default_id=f"item-{i}") for i, it in enumerate(items)]
        results = qa.ingest_articles(articles, progress=_ingest_progress(progress, "summaries: ingest"))
        stored = {r.doc_id for r in results if r.status != "failed"}
        for i, (item, article) in enumerate(zip(items, articles, strict=True), start=1):
            if article.doc_id not in stored:
                logger.warning("summary item %s was not ingested", article.doc_id)
                continue
            t0 = time.perf_counter()
            summary = qa.summarize([article.doc_id])
            ms = (time.perf_counter() - t0) * 1000
            ours = list(summary.sentences)
            text = qa.get(article.doc_id).text
            lead = m.lead3(text)
            lead_sentences = [lead[s:e] for s, e in sent.split(lead)]
            reference = str(item.get("reference_summary") or "")
            rows.append(
                {
                    "doc_id": article.doc_id,
                    "qa": {
                        **m.rouge(" ".join(ours), reference),
                        "sentences": _length(ours)[0],
                        "words": _length(ours)[1],
                        "cited_share": _cited_share(qa, summary),
                        "latency_ms": ms,
                    },
                    "lead3": {
                        **m.rouge(lead, reference),
                        "sentences": _length(lead_sentences)[0],
                        "words": _length(lead_sentences)[1],
                    },
                }
            )
            _tick(progress, "summaries: articles", i, len(items))
    keys = (*m.ROUGE_TYPES, "sentences", "words")
    systems = {
        name: {k: m.mean(r[name].get(k) for r in rows) for k in (*keys, "cited_share", "latency_ms")}
        for name in ("qa", "lead3")
    }
    for k in ("cited_share", "latency_ms"):
        systems["lead3"].pop(k)
    margins = {
        k: bootstrap_margin([r["qa"][k] - r["lead3"][k] for r in rows]) for k in m.ROUGE_TYPES
    }
    return {"n": len(rows), "split": split, "systems": systems, "margins": margins, "per_item": rows}


def _signed(value: Any) -> str:
    return "–" if value is None else f"{value:+.4f}"


def summary_report(result: Mapping[str, Any], title: str) -> str:
    """A Markdown table of `compare_summaries`: ROUGE, cited share and length per system."""
    names = {"qa": "qa (extractive summary)", "lead3": "Lead-3 (yardstick)"}
    rows = []
    for key, label in names.items():
        s = result["systems"][key]
        rows.append(
            [
                label,
                fmt(s["rouge1"]),
                fmt(s["rouge2"]),
                fmt(s["rougeLsum"]),
                fmt(s.get("cited_share")),
                fmt(s["sentences"], 2),
                fmt(s["words"], 1),
            ]
        )
    split = result.get("split")
    which = f" (split {split})" if split else ""
    out = [f"# {title}", "", f"{result['n']} articles{which}; ROUGE F1, Porter stemming.", ""]
    out += md_table(
        ["system", "ROUGE-1", "ROUGE-2", "ROUGE-Lsum", "sentences cited", "sentences", "words"], rows
    )
    margins = result.get("margins")
    if margins:
        labels = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeLsum": "ROUGE-Lsum"}
        out += [
            f"qa minus Lead-3, with a bootstrap 95% interval ({BOOTSTRAP_RESAMPLES} resamples of "
            "the articles, seed 0):",
            "",
        ]
        out += md_table(
            ["metric", "margin", "95% interval", "articles"],
            [
                [
                    labels.get(k, k),
                    _signed(b["margin"]),
                    f"{_signed(b['low'])} to {_signed(b['high'])}",
                    str(b["n"]),
                ]
                for k, b in margins.items()
            ],
        )
    return "\n".join(out).rstrip() + "\n"
