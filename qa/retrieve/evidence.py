"""Evidence selection: the candidates of a question, their features for the evidence model, and
which sentences are cited (how answerable the question is: qa.retrieve.answerability)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa.retrieve import evidence_model
from qa.store import SentenceHit
from qa.text.words import content_words

MODEL_CANDIDATES = 20
"""The evidence model judges this many of the most relevant candidates (as it was fitted)."""


@dataclass
class Candidate:
    hit: SentenceHit
    dense: float = 0.0
    chunk: float = 0.0
    lexical: float = 0.0
    fused: float = 0.0
    relevance: float = 0.0
    linked: bool = False  # reached through a title link
    bridged: bool = False  # names another of the best articles
    probability: float | None = None  # of being evidence, by the evidence model
    preference: float = 0.0  # taken from relevance for ranking only (why-questions: no reason)


def features(top: list[Candidate], catalog: dict[str, Any]) -> list[list[float]]:
    """The evidence model's features of candidates given most relevant first."""
    doc_rank: dict[str, int] = {}
    rows = []
    for rank, c in enumerate(top):
        doc_rank.setdefault(c.hit.doc_id, len(doc_rank))
        rows.append(
            evidence_model.feature_row(
                relevance=c.relevance,
                best=top[0].relevance,
                dense=c.dense,
                lexical=c.lexical,
                chunk=c.chunk,
                index=c.hit.index,
                rank=rank,
                doc_rank=doc_rank[c.hit.doc_id],
                linked=c.linked,
                bridged=c.bridged,
                n_sentences=catalog[c.hit.doc_id].n_sentences,
                text=c.hit.text,
            )
        )
    return rows


def select(
    ranked: list[Candidate],
    k: int,
    margin: float,
    redundancy: float,
    threshold: float = 2.0,
) -> list[Candidate]:
    """Up to k candidates, none too similar to one chosen before. A candidate is cited when it is
    within `margin` of the best relevance, or when the evidence model gives it a probability of
    at least `threshold` (a weak sentence cited costs precision more than it adds). With
    probabilities, the most probable come first; otherwise relevance order.
    """
    if not ranked:
        return []
    best = ranked[0].relevance
    eligible = [
        c
        for c in ranked
        if c.relevance >= best - margin
        or (c.probability is not None and c.probability >= threshold)
    ]
    eligible.sort(key=lambda c: -(c.probability if c.probability is not None else -1.0))
    chosen: list[Candidate] = []
    for c in eligible:
        if len(chosen) >= k:
            break
        if any(_redundant(c, o, redundancy) for o in chosen):
            continue
        chosen.append(c)
    return chosen


def _redundant(a: Candidate, b: Candidate, threshold: float) -> bool:
    if a.hit.vector is not None and b.hit.vector is not None:
        if float(a.hit.vector @ b.hit.vector) >= threshold:
            return True
    wa, wb = content_words(a.hit.text), content_words(b.hit.text)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.6
