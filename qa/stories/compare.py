"""Where sources agree and differ: the facts several articles state (each source's sentence),
the statements only one makes, and the conflicts (different numbers, dates or names for the
same fact), each side cited.

Offline and explainable: sentences of different articles are aligned when their embeddings
(the QA embedder, plain sentence vectors) are each other's best match above
`Settings.compare_align`; two aligned sentences conflict when each holds a number, a date or a
name of the same kind that the other lacks (numbers normalised: "1,200" is 1200, "five" is 5,
"13 per cent" is 13%; dates normalised by dateparser: "March 3" is "3 March").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from qa.text.dates import DATEPARSER_LOCK
from qa.text.words import content_words
from qa.types import (
    Answer,
    Citation,
    CompareConflict,
    ComparedFact,
    Comparison,
    Evidence,
    Sentence,
    Statement,
)

# --- values of a sentence ----------------------------------------------------------------------

# Spelled-out numbers a copy desk writes as digits (AP style spells one to nine). No pinned
# library turns words into numbers, and these are all a news sentence uses.
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
WORD_NUMBERS = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
WORD_NUMBERS |= {"dozen": 12, "a dozen": 12, "hundred": 100, "a hundred": 100}
SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "m": 1e6, "bn": 1e9,
          "k": 1e3}
MONTHS = ("january february march april may june july august september october november december "
          "jan feb mar apr jun jul aug sep sept oct nov dec").split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()

_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{4}}"
    rf"|(?:{'|'.join(WEEKDAYS)}))\b",
    re.I,
)
NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
    r"(?:\s*(%|per\s*cent|percent)|\s*(thousand|million|billion|trillion|bn|m|k)\b)?",
    re.I,
)
WORD_NUMBER = re.compile(
    r"\b(" + "|".join(sorted(WORD_NUMBERS, key=len, reverse=True)) + r")\b"
    r"(?:[\s-]+(" + "|".join(_UNITS[1:10]) + r"))?"
    r"(?:\s*(%|per\s*cent|percent)|\s+(thousand|million|billion|trillion)\b)?",
    re.I,
)
NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+|van\s+)?[A-Z][\w'’.-]*)*")
# Capitalised words that are not names: sentence openers, pronouns, months and days (those are
# dates), titles that stay the same.
NOT_NAMES = frozenset(
    """the a an he she it they we i you his her its their our this that these those there here
    but and or if when while after before as at in on of for to by with from mr mrs ms dr
    however meanwhile according also yes no""".split()
) | frozenset(MONTHS) | frozenset(WEEKDAYS)


def _number(text: str, scale: str | None, percent: str | None) -> str:
    value = float(text.replace(",", ""))
    if scale:
        value *= SCALES[scale.lower()]
    out = f"{value:g}" if value < 1e15 else str(value)
    if value == int(value):
        out = str(int(value))
    return out + ("%" if percent else "")


@lru_cache(maxsize=4096)
def _date_key(span: str) -> str:
    """A date span normalised: weekday names as they are, month and day (and year) by
    dateparser, so that "March 3", "3 March" and "Mar. 3rd" are one date."""
    low = span.lower().strip()
    if low in WEEKDAYS:
        return low
    import dateparser

    has_year = bool(re.search(r"\d{4}", span))
    has_day = bool(re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\b", re.sub(r"\d{4}", "", span)))
    with DATEPARSER_LOCK:
        got = dateparser.parse(span, languages=["en"], settings={"PREFER_DAY_OF_MONTH": "first"})
    if got is None:
        return low
    parts = [f"{got.year:04d}" if has_year else "", f"{got.month:02d}", f"{got.day:02d}" if has_day else ""]
    return "-".join(p for p in parts if p)


@dataclass(frozen=True)
class Values:
    """The numbers, dates and names a sentence states."""

    numbers: tuple[str, ...]  # with repeats: "2013-2014" and "2014-2014" differ
    dates: frozenset[str]
    names: frozenset[str]


@lru_cache(maxsize=8192)
def values(sentence: str) -> Values:
    dates = {m.group(0): _date_key(m.group(0)) for m in DATE.finditer(sentence)}
    rest = DATE.sub(" ", sentence)  # the day of "March 3" is not a number of its own
    numbers = [_number(m.group(1), m.group(3), m.group(2)) for m in NUMBER.finditer(rest)]
    for m in WORD_NUMBER.finditer(rest):
        word = m.group(1).lower()
        value = WORD_NUMBERS[word] + (WORD_NUMBERS[m.group(2).lower()] if m.group(2) else 0)
        if word in ("one", "a dozen", "a hundred") and not (m.group(3) or m.group(4)):
            continue  # "one of the", "a hundred" in a phrase: rarely a fact's number
        numbers.append(_number(str(value), m.group(4), m.group(3)))
    names = set()
    for m in NAME.finditer(rest):
        words = [w for w in m.group(0).split() if w.lower().strip(".'’") not in NOT_NAMES]
        if not words:
            continue
        if m.start() == 0 and len(words) == 1 and len(m.group(0).split()) == 1:
            continue  # the sentence's first word is capitalised whatever it is
        names.add(" ".join(w.strip(".,'’") for w in words).lower())
    return Values(tuple(sorted(numbers)), frozenset(dates.values()), frozenset(names))


Kind = Literal["number", "date", "name"]


def _shortened(n: str, m: str) -> bool:
    """Whether two names are one named two ways: one is the other's last words ("biden" of
    "joe biden"), or they end in the same surname ("democrat kamala harris", "vice president
    kamala harris")."""
    wn, wm = n.split(), m.split()
    k = min(len(wn), len(wm))
    return wn[-k:] == wm[-k:] or (len(wn) > 1 and len(wm) > 1 and wn[-1] == wm[-1])


def mismatch(a: str, b: str) -> tuple[Kind, list[str], list[str]] | None:
    """How two sentences that state one fact differ: ("number" | "date" | "name", what only
    `a` says, what only `b` says), or None when nothing of one kind differs on both sides (a
    value one side leaves out is an omission, not a conflict)."""
    va, vb = values(a), values(b)
    checks: tuple[tuple[Kind, Counter[str], Counter[str]], ...] = (
        ("number", Counter(va.numbers), Counter(vb.numbers)),
        ("date", Counter(va.dates), Counter(vb.dates)),
        ("name", Counter(va.names), Counter(vb.names)),
    )
    for kind, xa, xb in checks:
        only_a, only_b = set(xa - xb), set(xb - xa)
        if kind == "name":
            # A name one side shortens ("Joe Biden" / "Biden") is the same name.
            only_a = {n for n in only_a if not any(_shortened(n, m) for m in xb)}
            only_b = {n for n in only_b if not any(_shortened(n, m) for m in xa)}
        if only_a and only_b:
            return kind, sorted(only_a), sorted(only_b)
    return None


# --- aligning sentences across articles --------------------------------------------------------

# Content-word Jaccard two aligned sentences need to count as one fact told two ways, else two
# facts about one topic (two articles' casualty counts on different days) would conflict. Chosen
# with the alignment threshold on tune rows (eval/compare.py): on the labelled copies it costs a
# little recall; on distinct articles about one topic it cuts the conflicts flagged by a lot.
CONFLICT_OVERLAP = 0.3


def word_overlap(a: str, b: str) -> float:
    """Jaccard of the two sentences' content words, numbers left out (they are what differs)."""
    wa = {w for w in content_words(a) if not w[0].isdigit()}
    wb = {w for w in content_words(b) if not w[0].isdigit()}
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


@dataclass
class Side:
    """One article's sentences as a comparison sees them."""

    statements: list[Statement]
    vectors: np.ndarray  # unit vectors, one row per statement


def aligned_pairs(sides: Sequence[Side], threshold: float) -> list[tuple[int, int, int, int, float]]:
    """(side i, sentence a, side j, sentence b, similarity) of sentences of two articles that
    are each other's best match in the other article, at or above `threshold`."""
    out = []
    for i in range(len(sides)):
        for j in range(i + 1, len(sides)):
            vi, vj = sides[i].vectors, sides[j].vectors
            if not len(vi) or not len(vj):
                continue
            sim = vi @ vj.T
            best_j = sim.argmax(axis=1)
            best_i = sim.argmax(axis=0)
            for a, b in enumerate(best_j):
                if best_i[b] == a and sim[a, b] >= threshold:
                    out.append((i, a, j, int(b), float(sim[a, b])))
    return out


def compare_sides(
    sides: Sequence[Side], threshold: float, max_one_sided: int = 12,
    relevance: Sequence[np.ndarray] | None = None,
) -> tuple[list[ComparedFact], list[Statement], list[CompareConflict]]:
    """Agreed facts, one-sided statements and conflicts among the articles' sentences.

    Aligned sentences are grouped across articles (a fact several sources state is one group);
    a group with a conflicting pair is reported as conflicts, one per pair, and not as agreed.
    `relevance`: per side, each sentence's similarity to the query, to keep the one-sided
    statements that matter most when there are many."""
    pairs = aligned_pairs(sides, threshold)
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    conflicts: list[CompareConflict] = []
    conflicted: set[tuple[int, int]] = set()
    kept = []
    for i, a, j, b, s in pairs:
        sa, sb = sides[i].statements[a], sides[j].statements[b]
        got = mismatch(sa.text, sb.text)
        if got is not None and word_overlap(sa.text, sb.text) < CONFLICT_OVERLAP:
            # Values differ and few words are shared: two facts about one topic (two
            # articles' different casualty counts on different days), not one fact told twice.
            continue
        kept.append((i, a, j, b, s))
        parent[find((i, a))] = find((j, b))
        if got is not None:
            kind, va, vb = got
            conflicts.append(CompareConflict(kind=kind, statements=[sa, sb], values=[va, vb],
                                             similarity=round(s, 3)))
            conflicted.add(find((i, a)))
    pairs = kept
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, a, j, b, _ in pairs:
        for x in ((i, a), (j, b)):
            members = groups.setdefault(find(x), [])
            if x not in members:
                members.append(x)
    conflicted = {find(x) for x in conflicted}
    agreed = [
        ComparedFact(statements=[sides[i].statements[a] for i, a in sorted(members)])
        for root, members in groups.items()
        if root not in conflicted
    ]
    agreed.sort(key=lambda f: (-len({s.doc_id for s in f.statements}), f.statements[0].doc_id,
                               f.statements[0].start))
    in_pairs = {x for members in groups.values() for x in members}
    lone = [(i, a) for i, side in enumerate(sides) for a in range(len(side.statements))
            if (i, a) not in in_pairs]
    if relevance is not None:
        lone.sort(key=lambda x: -float(relevance[x[0]][x[1]]))
    one_sided = [sides[i].statements[a] for i, a in lone[:max_one_sided]]
    return agreed, one_sided, conflicts


def comparison_answer(question: str, comparison: Comparison) -> Answer:
    """A comparison told as an answer with numbered citations ("How do outlets differ on X?")."""
    citations: list[Citation] = []

    def cite(s: Statement) -> str:
        citations.append(Citation(n=len(citations) + 1, doc_id=s.doc_id, title=s.title,
                                  source=s.source, published_at=s.published_at,
                                  sentence_id=s.sentence_id, start=s.start, end=s.end, text=s.text))
        return f"[{len(citations)}]"

    parts = []
    for c in comparison.conflicts[:5]:
        a, b = c.statements
        parts.append(f"They differ on a {c.kind}: {a.source or a.doc_id} says "
                     f"{', '.join(c.values[0])} {cite(a)}, {b.source or b.doc_id} says "
                     f"{', '.join(c.values[1])} {cite(b)}.")
    for f in comparison.agreed[:3]:
        names = ", ".join(dict.fromkeys(s.source or s.doc_id for s in f.statements))
        first = f.statements[0]
        parts.append(f"{names} agree: {first.text} {cite(first)}")
    for s in comparison.one_sided[:3]:
        parts.append(f"Only {s.source or s.doc_id}: {s.text} {cite(s)}")
    if not parts:
        return Answer(question=question, answer="The articles found share no statement to "
                      "compare.", abstained=True, mode="extractive")
    return Answer(question=question, answer=" ".join(parts), abstained=False,
                  citations=citations, mode="extractive")


def comparison_evidence(comparison: Comparison) -> list[Evidence]:
    """The compared sentences as the evidence a chat model is shown (conflicts, then agreed
    facts, then one-sided statements), each once."""
    seen: set[str] = set()
    out: list[Evidence] = []
    statements = [s for c in comparison.conflicts for s in c.statements]
    statements += [s for f in comparison.agreed for s in f.statements]
    statements += list(comparison.one_sided)
    for s in statements:
        if s.sentence_id in seen:
            continue
        seen.add(s.sentence_id)
        index = int(s.sentence_id.rsplit("#", 1)[-1]) if "#" in s.sentence_id else 0
        out.append(Evidence(
            sentence=Sentence(sentence_id=s.sentence_id, doc_id=s.doc_id, index=index,
                              start=s.start, end=s.end, text=s.text),
            title=s.title, source=s.source, published_at=s.published_at,
        ))
    return out


COMPARE_QUESTION = re.compile(
    r"\b(?:how|where|what)\b.*\b(?:outlets?|sources?|reports?|newspapers?|media|articles?|"
    r"coverage|accounts?)\b.*\b(?:differ|disagree|diverge|contradict|compare|vary|conflict)",
    re.I,
)
_TOPIC = re.compile(r".*\b(?:on|about|over|regarding)\b\s+(.+?)\??$", re.I)


def compare_topic(question: str) -> str | None:
    """The topic of a "How do outlets differ on X?" question, or None for any other question."""
    if not COMPARE_QUESTION.search(question):
        return None
    got = _TOPIC.search(question.strip())
    return (got.group(1) if got else question).strip(" ?.") or question
