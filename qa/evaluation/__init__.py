"""Evaluation: metrics, scoring of predictions files, and baseline systems to compare against.

Heavy dependencies (Chroma, bm25s, rouge-score, the embedding model) load only when a yardstick
runs or ROUGE is computed, so importing this package stays cheap.
"""

from __future__ import annotations

from qa.evaluation.io import load_jsonl, write_jsonl
from qa.evaluation.metrics import (
    abstention_curve,
    abstention_rates,
    answer_contained,
    citation_precision,
    cited_chars,
    cited_sentences,
    claim_support,
    evidence_recall,
    exact_match,
    hit_at_k,
    latency_percentiles,
    lead3,
    lenient_hit_at_k,
    lenient_recall_at_k,
    lenient_reciprocal_rank,
    mean_dropped_citations,
    recall_at_k,
    reciprocal_rank,
    rouge,
    sentences_match,
    token_f1,
)
from qa.evaluation.score import report_comparison, report_markdown, score
from qa.evaluation.yardsticks import YARDSTICKS, LocalLangChainEmbeddings, run_yardstick

__all__ = [
    "YARDSTICKS",
    "LocalLangChainEmbeddings",
    "abstention_curve",
    "abstention_rates",
    "answer_contained",
    "citation_precision",
    "cited_chars",
    "cited_sentences",
    "claim_support",
    "evidence_recall",
    "exact_match",
    "hit_at_k",
    "latency_percentiles",
    "lead3",
    "lenient_hit_at_k",
    "lenient_recall_at_k",
    "lenient_reciprocal_rank",
    "load_jsonl",
    "mean_dropped_citations",
    "recall_at_k",
    "reciprocal_rank",
    "report_comparison",
    "report_markdown",
    "rouge",
    "run_yardstick",
    "score",
    "sentences_match",
    "token_f1",
    "write_jsonl",
]
