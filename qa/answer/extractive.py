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


def in_date_order(evidence: Sequence[Evidence], order: str) -> list[Evidence]:
    """Reading order with the articles by publication date ("newest" or "oldest" first);
    undated articles last, in their reading order."""
    ordered = reading_order(evidence)
    rank = {ev.sentence.doc_id: i for i, ev in reversed(list(enumerate(ordered)))}

    def key(ev: Evidence) -> tuple[int, str, int, int]:
        day = (ev.published_at or "")[:10]
        if not day:
            return (1, "", rank[ev.sentence.doc_id], ev.sentence.index)
        if order == "newest":  # descending dates: compare the complement of each digit
            day = day.translate(str.maketrans("0123456789", "9876543210"))
        return (0, day, rank[ev.sentence.doc_id], ev.sentence.index)

    return sorted(ordered, key=key)


def extractive_pieces(answer: Answer) -> list[str]:
    """The answer's text in the pieces a stream yields (they join into `answer.answer`)."""
    intro, _, _ = answer.answer.partition(": ")
    dated = answer.answer.startswith(REPORTS_FROM)  # reports of several days, in date order
    pieces = [intro + ":"] if dated else []
    for c in answer.citations:
        date = f" ({c.published_at[:10]})" if dated and c.published_at else ""
        pieces.append(f"{c.text} [{c.n}]{date}")
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


REPORTS_FROM = "Reports from "


def extractive_answer(
    question: str, evidence: Sequence[Evidence], by_date: str | None = None
) -> Answer:
    """The evidence sentences in reading order, each followed by its marker [n].

    `by_date` ("newest" or "oldest"): for a question about time, articles in date order; when
    the cited articles have different dates the answer says so ("Reports from 2024-05-01 to
    2024-05-14, newest first:") and gives each sentence its article's date."""
    ordered = in_date_order(evidence, by_date) if by_date else reading_order(evidence)
    citations = [ev.cite(n) for n, ev in enumerate(ordered, start=1)]
    days = sorted({c.published_at[:10] for c in citations if c.published_at})
    answer = Answer(
        question=question, answer="", abstained=False, citations=citations, mode="extractive"
    )
    if by_date and len(days) > 1:
        answer.answer = f"{REPORTS_FROM}{days[0]} to {days[-1]}, {by_date} first: "
    answer.answer = "".join(extractive_pieces(answer))
    return answer


def abstention(question: str, related: Sequence[Evidence], mode: str = "extractive") -> Answer:
    """The fixed phrase, with the nearest sentences offered as related reading, not as citations."""
    return Answer(
        question=question,
        answer=ABSTAIN_PHRASE,
        abstained=True,
        related=[ev.cite(n) for n, ev in enumerate(related, start=1)],
        mode="llm" if mode == "llm" else "extractive",
    )
