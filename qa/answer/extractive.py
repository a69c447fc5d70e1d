"""Offline answers: the evidence sentences themselves, numbered and cited, or an abstention."""

from __future__ import annotations

from collections.abc import Sequence

from qa.types import ABSTAIN_PHRASE, Answer, Evidence


def reading_order(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Articles in the order of their best sentence, sentences in article order within each:
    an answer that jumps back and forth inside one article reads badly."""
    first_seen: dict[str, int] = {}
    for i, ev in enumerate(evidence):
        first_seen.setdefault(ev.sentence.doc_id, i)
    return sorted(evidence, key=lambda ev: (first_seen[ev.sentence.doc_id], ev.sentence.index))


def extractive_answer(question: str, evidence: Sequence[Evidence]) -> Answer:
    """The evidence sentences in reading order, each followed by its marker [n]."""
    ordered = reading_order(evidence)
    citations = [ev.cite(n) for n, ev in enumerate(ordered, start=1)]
    text = " ".join(f"{c.text} [{c.n}]" for c in citations)
    return Answer(
        question=question, answer=text, abstained=False, citations=citations, mode="extractive"
    )


def abstention(question: str, related: Sequence[Evidence], mode: str = "extractive") -> Answer:
    """The fixed phrase, with the nearest sentences offered as related reading, not as citations."""
    return Answer(
        question=question,
        answer=ABSTAIN_PHRASE,
        abstained=True,
        related=[ev.cite(n) for n, ev in enumerate(related, start=1)],
        mode="llm" if mode == "llm" else "extractive",
    )
