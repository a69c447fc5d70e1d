"""Scores a predictions file against a questions file and renders the result as Markdown.

`score` first reduces each (question, prediction) pair to a flat row of per-question figures, then
averages the rows overall and by question type. Averages skip figures that do not apply to a
question (None), so each metric is a mean over the questions it is defined for:

- retrieval, evidence recall, answer EM/F1/contained: answerable questions (`doc_ids` non-empty);
- citation precision: answerable questions answered with at least one cited sentence;
- citations, cited sentences and cited characters per answer: questions not abstained on;
- abstention: all questions, split by answerable or not.

An abstention on an answerable question scores 0 evidence recall and 0 on the answer metrics.
Questions without a prediction are left out of every mean and listed under `missing_qids`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qa.evaluation import metrics as m
from qa.evaluation.io import load_jsonl, write_jsonl

__all__ = [
    "KS",
    "fmt",
    "load_jsonl",
    "md_table",
    "report_comparison",
    "report_markdown",
    "score",
    "write_jsonl",
]

KS = (1, 3, 5, 10)
"""Cut-offs of the retrieval metrics."""


# ---------------------------------------------------------------------------------------------
# Per question


def _retrieval_row(q: Mapping[str, Any], p: Mapping[str, Any], ks: Sequence[int]) -> dict:
    gold = list(q.get("doc_ids") or [])
    silver = list(q.get("silver_doc_ids") or [])
    ranked = [str(d) for d in p.get("retrieved_doc_ids") or []]
    row: dict[str, float | None] = {}
    for k in ks:
        row[f"recall@{k}"] = m.recall_at_k(ranked, gold, k)
        row[f"hit@{k}"] = m.hit_at_k(ranked, gold, k)
        # Only answerable questions have a lenient figure; silver documents of an unanswerable
        # question would make no sense.
        row[f"lenient_recall@{k}"] = (
            m.lenient_recall_at_k(ranked, gold, silver, k) if gold else None
        )
        row[f"lenient_hit@{k}"] = m.lenient_hit_at_k(ranked, gold, silver, k) if gold else None
    row["mrr"] = m.reciprocal_rank(ranked, gold)
    row["lenient_mrr"] = m.lenient_reciprocal_rank(ranked, gold, silver) if gold else None
    return row


def _citation_row(q: Mapping[str, Any], p: Mapping[str, Any]) -> dict:
    answerable = bool(q.get("doc_ids"))
    abstained = bool(p.get("abstained"))
    citations = list(p.get("citations") or [])
    gold_ev = list(q.get("gold_evidence") or [])
    silver_ev = list(q.get("silver_evidence") or [])
    cited = m.cited_sentences(citations)
    row: dict[str, float | None] = {
        "n_citations": None if abstained else float(len(citations)),
        "n_cited_sentences": None if abstained else float(len(cited)),
        "cited_chars": None if abstained else float(m.cited_chars(citations)),
        "evidence_recall": None,
        "context_recall": None,
        "precision": None,
        "precision_hits": None,
        "precision_total": None,
    }
    if answerable and gold_ev:
        row["evidence_recall"] = (
            0.0 if abstained else m.evidence_recall(citations, gold_ev, silver_ev)
        )
        if p.get("llm_context") is not None:  # abstained or not: what retrieval would hand over
            context = [{"text": text} for text in p.get("llm_context") or []]
            row["context_recall"] = m.evidence_recall(context, gold_ev, silver_ev)
    if answerable and not abstained and cited:
        precision = m.citation_precision(cited, gold_ev + silver_ev)
        row["precision"] = precision
        row["precision_hits"] = (precision or 0.0) * len(cited)
        row["precision_total"] = float(len(cited))
    row["dated_reports"] = None
    if answerable and q.get("type") == "temporal_query":
        # MultiHop-RAG's "Did X report ... before Y ...?": the two reports (all the gold
        # articles when fewer) cited, each with its date.
        gold_docs = set(q.get("doc_ids") or [])
        dated = {c.get("doc_id") for c in citations if c.get("published_at")} & gold_docs
        row["dated_reports"] = float(len(dated) >= min(2, len(gold_docs)))
    return row


def _answer_row(q: Mapping[str, Any], p: Mapping[str, Any]) -> dict:
    if not q.get("doc_ids"):
        return {"exact_match": None, "f1": None, "contained": None}
    if p.get("abstained"):
        return {"exact_match": 0.0, "f1": 0.0, "contained": 0.0}
    gold, answer = str(q.get("gold_answer") or ""), str(p.get("answer") or "")
    cited_texts = [str(c.get("text") or "") for c in p.get("citations") or []]
    return {
        "exact_match": m.exact_match(answer, gold),
        "f1": m.token_f1(answer, gold),
        "contained": m.answer_contained(answer, cited_texts, gold),
    }


def _question_row(q: Mapping[str, Any], p: Mapping[str, Any], ks: Sequence[int]) -> dict:
    """Every per-question figure of one answered question, None where it does not apply."""
    confidence = p.get("confidence")
    timings = p.get("timings_ms") or {}
    return {
        "qid": q["qid"],
        "type": str(q.get("type") or "unknown"),
        "answerable": bool(q.get("doc_ids")),
        "has_silver": bool(q.get("silver_doc_ids") or q.get("silver_evidence")),
        "abstained": bool(p.get("abstained")),
        "confidence": float(confidence) if confidence is not None else None,
        "mode": str(p.get("mode") or "unknown"),
        "claims": p.get("claims"),
        "dropped_citations": p.get("dropped_citations"),
        "latency_ms": float(timings["total"]) if "total" in timings else None,
        "same_typed_casually": _flag(p.get("same_typed_casually")),
        "same_beside_unrelated": _flag(p.get("same_beside_unrelated")),
        **_retrieval_row(q, p, ks),
        **_citation_row(q, p),
        **_answer_row(q, p),
    }


def _flag(value: Any) -> float | None:
    return None if value is None else float(bool(value))


# ---------------------------------------------------------------------------------------------
# Aggregation


def _col(rows: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    return [r[key] for r in rows]


def _aggregate(rows: Sequence[Mapping[str, Any]], ks: Sequence[int], with_curve: bool) -> dict:
    """Means of the per-question rows, grouped into sections."""
    answerable = [r for r in rows if r["answerable"]]
    hits = sum(h for h in _col(rows, "precision_hits") if h is not None)
    total = sum(t for t in _col(rows, "precision_total") if t is not None)
    on_null, false_abstain = m.abstention_rates((r["answerable"], r["abstained"]) for r in rows)
    result: dict[str, Any] = {
        "n": len(rows),
        "n_answerable": len(answerable),
        "n_unanswerable": len(rows) - len(answerable),
        "retrieval": {
            "gold": {
                **{f"recall@{k}": m.mean(_col(rows, f"recall@{k}")) for k in ks},
                **{f"hit@{k}": m.mean(_col(rows, f"hit@{k}")) for k in ks},
                "mrr": m.mean(_col(rows, "mrr")),
            },
        },
        "citations": {
            "evidence_recall": m.mean(_col(rows, "evidence_recall")),
            "context_recall": m.mean(_col(rows, "context_recall")),
            "precision": m.mean(_col(rows, "precision")),
            "precision_pooled": hits / total if total else None,
            "dated_reports": m.mean(_col(rows, "dated_reports")),
            "mean_citations": m.mean(_col(rows, "n_citations")),
            "mean_cited_sentences": m.mean(_col(rows, "n_cited_sentences")),
            "mean_cited_chars": m.mean(_col(rows, "cited_chars")),
        },
        "answers": {
            "n": len(answerable),
            "exact_match": m.mean(_col(rows, "exact_match")),
            "f1": m.mean(_col(rows, "f1")),
            "contained": m.mean(_col(rows, "contained")),
        },
        "abstention": {
            "abstained": m.mean(float(r["abstained"]) for r in rows),
            "abstain_on_null": on_null,
            "false_abstain": false_abstain,
        },
        "latency_ms": m.latency_percentiles([x for x in _col(rows, "latency_ms") if x is not None]),
        # qa.evaluation.robustness: the same decision and citations when asked another way.
        "robustness": {
            "same_typed_casually": m.mean(_col(rows, "same_typed_casually")),
            "same_beside_unrelated": m.mean(_col(rows, "same_beside_unrelated")),
        },
    }
    if any(r["has_silver"] for r in rows):
        result["retrieval"]["gold_or_silver"] = {
            **{f"recall@{k}": m.mean(_col(rows, f"lenient_recall@{k}")) for k in ks},
            **{f"hit@{k}": m.mean(_col(rows, f"lenient_hit@{k}")) for k in ks},
            "mrr": m.mean(_col(rows, "lenient_mrr")),
        }
    if with_curve:
        scored = [(r["answerable"], r["confidence"]) for r in rows if r["confidence"] is not None]
        result["abstention"]["curve"] = [list(point) for point in m.abstention_curve(scored)]
    with_claims = [r["claims"] for r in rows if r["claims"] is not None]
    dropped = [r["dropped_citations"] for r in rows if r["dropped_citations"] is not None]
    if with_claims or dropped:
        result["llm"] = {
            "n_answers_with_claims": len(with_claims),
            "claims": m.claim_support(with_claims),
            "mean_dropped_citations": m.mean_dropped_citations(dropped),
        }
    return result


def score(
    questions: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    ks: Sequence[int] = KS,
) -> dict:
    """Every metric of `predictions` against `questions`, overall and by question type.

    Predictions are matched to questions by `qid`; when a qid repeats, the last prediction wins.
    """
    by_qid = {str(p["qid"]): p for p in predictions}
    known = {str(q["qid"]) for q in questions}
    rows = []
    missing = []
    for q in questions:
        p = by_qid.get(str(q["qid"]))
        if p is None:
            missing.append(str(q["qid"]))
        else:
            rows.append(_question_row(q, p, ks))
    types = sorted({r["type"] for r in rows})
    return {
        "counts": {
            "questions": len(questions),
            "predictions": len(predictions),
            "scored": len(rows),
            "missing": len(missing),
            "unknown_predictions": len(set(by_qid) - known),
            "modes": dict(Counter(r["mode"] for r in rows)),
        },
        "missing_qids": missing,
        "overall": _aggregate(rows, ks, with_curve=True),
        "by_type": {t: _aggregate([r for r in rows if r["type"] == t], ks, False) for t in types},
    }


# ---------------------------------------------------------------------------------------------
# Markdown


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats to `digits` places, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table, with a blank line after it."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


_TYPE_COLUMNS = (
    ("n", "n", 0),
    ("recall@5", ("retrieval", "gold", "recall@5"), 3),
    ("MRR", ("retrieval", "gold", "mrr"), 3),
    ("ev. recall", ("citations", "evidence_recall"), 3),
    ("ctx recall", ("citations", "context_recall"), 3),
    ("precision", ("citations", "precision"), 3),
    ("dated reports", ("citations", "dated_reports"), 3),
    ("cited chars", ("citations", "mean_cited_chars"), 0),
    ("EM", ("answers", "exact_match"), 3),
    ("F1", ("answers", "f1"), 3),
    ("contained", ("answers", "contained"), 3),
    ("abstain on null", ("abstention", "abstain_on_null"), 3),
    ("false abstain", ("abstention", "false_abstain"), 3),
)


def _get(section: Mapping[str, Any], path: str | tuple[str, ...]) -> Any:
    keys = (path,) if isinstance(path, str) else path
    value: Any = section
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _type_rows(named: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    return [
        [name, *(fmt(_get(agg, path), digits) for _, path, digits in _TYPE_COLUMNS)]
        for name, agg in named.items()
    ]


def report_markdown(scores: Mapping[str, Any], title: str) -> str:
    """A readable Markdown report of one `score` result: headline tables, by type, curve, LLM."""
    counts, overall = scores["counts"], scores["overall"]
    out = [f"# {title}", ""]
    out.append(
        f"{counts['scored']} of {counts['questions']} questions scored "
        f"({overall['n_answerable']} answerable, {overall['n_unanswerable']} unanswerable); "
        f"modes: {', '.join(f'{k} {v}' for k, v in counts['modes'].items()) or 'none'}."
    )
    if counts["missing"]:
        shown = ", ".join(scores["missing_qids"][:10])
        more = " …" if counts["missing"] > 10 else ""
        out.append(f"**{counts['missing']} questions have no prediction** ({shown}{more}).")
    if counts["unknown_predictions"]:
        out.append(f"{counts['unknown_predictions']} predictions match no question.")
    out.append("")

    retrieval = overall["retrieval"]
    out += ["## Retrieval (answerable questions)", ""]
    header = ["metric", *retrieval.keys()]
    metric_names = list(retrieval["gold"].keys())
    out += md_table(
        header, [[name, *(fmt(v.get(name)) for v in retrieval.values())] for name in metric_names]
    )

    c, a, ab = overall["citations"], overall["answers"], overall["abstention"]
    out += ["## Citations and answers", ""]
    out += md_table(
        ["metric", "value"],
        [
            ["evidence recall", fmt(c["evidence_recall"])],
            ["evidence in the LLM context", fmt(c.get("context_recall"))],
            ["citation precision (mean per answer)", fmt(c["precision"])],
            ["citation precision (pooled sentences)", fmt(c["precision_pooled"])],
            ["temporal: both reports cited with dates", fmt(c.get("dated_reports"))],
            ["citations per answer", fmt(c["mean_citations"], 2)],
            ["cited sentences per answer", fmt(c["mean_cited_sentences"], 2)],
            ["cited characters per answer", fmt(c["mean_cited_chars"], 0)],
            ["exact match", fmt(a["exact_match"])],
            ["token F1", fmt(a["f1"])],
            ["answer contained", fmt(a["contained"])],
            ["abstained (all questions)", fmt(ab["abstained"])],
            ["abstain on unanswerable", fmt(ab["abstain_on_null"])],
            ["false abstention on answerable", fmt(ab["false_abstain"])],
            ["latency p50 (ms)", fmt(overall["latency_ms"]["p50"], 0)],
            ["latency p95 (ms)", fmt(overall["latency_ms"]["p95"], 0)],
        ],
    )

    out += ["## By question type", ""]
    out += md_table(["type", *(h for h, _, _ in _TYPE_COLUMNS)], _type_rows(scores["by_type"]))

    curve = ab.get("curve") or []
    if curve:
        out += ["## Abstention by confidence threshold (abstain when confidence < threshold)", ""]
        out += md_table(
            ["threshold", "abstain on null", "false abstain"],
            [[fmt(t), fmt(n), fmt(f)] for t, n, f in curve],
        )

    llm = overall.get("llm")
    if llm:
        claims = llm["claims"]
        out += ["## LLM answers", ""]
        out += md_table(
            ["metric", "value"],
            [
                ["answers with claims", fmt(llm["n_answers_with_claims"])],
                ["claims", fmt(claims["n_claims"])],
                ["claims supported", fmt(claims["supported"])],
                ["claims partial", fmt(claims["partial"])],
                ["claims unsupported", fmt(claims["unsupported"])],
                ["dropped citations per answer", fmt(llm["mean_dropped_citations"], 2)],
            ],
        )
    return "\n".join(out).rstrip() + "\n"


def report_comparison(scores_by_system: Mapping[str, Mapping[str, Any]], title: str) -> str:
    """One Markdown table comparing the overall figures of several systems on the same questions."""
    rows = _type_rows({name: s["overall"] for name, s in scores_by_system.items()})
    out = [f"# {title}", ""]
    out += md_table(["system", *(h for h, _, _ in _TYPE_COLUMNS)], rows)
    return "\n".join(out).rstrip() + "\n"
