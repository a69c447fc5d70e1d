"""Evidence selection: the candidates of a question, their features for the evidence model, and
which sentences are cited (how answerable the question is: qa.retrieve.answerability)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa.retrieve import evidence_model
from qa.retrieve.answerability import expected_type, has_type, question_words
from qa.store import SentenceHit
from qa.text.words import content_words

if TYPE_CHECKING:
    from qa.retrieve.lexical import LexicalIndex

MODEL_CANDIDATES = 20
"""The evidence model judges this many of the most relevant candidates (as it was fitted)."""


# Where a sentence of a question may end: the end of a word, then a capital or an opening quote.
# An abbreviation matches too ("U.S. Senate"); asked_kind keeps only splits whose rest asks.
_QUESTION_BREAK = re.compile(r"[.!?][\"”’]?\s+(?=[A-Z\"“‘])")


def asked_kind(question: str) -> str:
    """The kind of thing the question asks for (answerability.expected_type), read from its
    last sentence that asks for a kind: a quiz question often opens with a statement ("King
    Charles III became Britain's new monarch ... . Who is next in the line of succession?"),
    and its question word is then not the question's first word. The whole question decides
    when no such sentence is found (so a break after "Gov." or "U.S." loses nothing)."""
    for brk in reversed(list(_QUESTION_BREAK.finditer(question))):
        kind = expected_type(question[brk.end():])
        if kind != "other":
            return kind
    return expected_type(question)


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


def features(
    top: list[Candidate], catalog: dict[str, Any], question: str, lexical: LexicalIndex
) -> list[list[float]]:
    """The evidence model's features of candidates given most relevant first (the asked-for
    kind by `asked_kind`: the model in evidence_model.json was fitted so)."""
    kind = asked_kind(question)
    _, weights, held, rarest = question_words(question, [c.hit.text for c in top], lexical)
    total = sum(weights.values()) or 1.0
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
                type_match=kind != "other" and has_type(c.hit.text, kind, question),
                type_asked=kind != "other",
                coverage=sum(weights[t] for t in held[rank]) / total,
                rarest=rarest is not None and rarest in held[rank],
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


def with_neighbour(
    chosen: list[Candidate],
    question: str,
    neighbours: Callable[[Candidate], list[Candidate]],
    k: int,
) -> list[Candidate]:
    """`chosen` with the next sentence of the most probable one's article (the previous one
    after an article's last sentence) when that sentence does not hold the kind of thing the
    question asks for, or the kind is not recognised: a news sentence that names the event is
    often followed by the one that gives the name, number or date asked for. The neighbour
    takes the least probable place when `chosen` is full. Only when the evidence model judged
    the candidates (not for why-questions, which prefer reasons by another rule).

    `neighbours(c)`: c's next and previous sentences in its article, in that order, as far as
    they exist. Chosen on tune questions (eval/train_evidence_model.py, eval/CALIBRATION.md).
    """
    if not chosen or chosen[0].probability is None:
        return chosen
    first = chosen[0]
    kind = asked_kind(question)
    if kind != "other" and has_type(first.hit.text, kind, question):
        return chosen
    near = neighbours(first)
    if not near:
        return chosen
    n = near[0]
    if any((c.hit.doc_id, c.hit.index) == (n.hit.doc_id, n.hit.index) for c in chosen):
        return chosen
    return [*chosen, n] if len(chosen) < k else [*chosen[: k - 1], n]


def _redundant(a: Candidate, b: Candidate, threshold: float) -> bool:
    if a.hit.vector is not None and b.hit.vector is not None:
        if float(a.hit.vector @ b.hit.vector) >= threshold:
            return True
    wa, wb = content_words(a.hit.text), content_words(b.hit.text)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.6
