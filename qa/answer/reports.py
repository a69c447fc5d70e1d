"""Questions about when outlets reported ("Did Mashable report X before Fortune reported Y?",
"Between the TechCrunch report of 6 November and the one of 15 December..."): the reports the
question names are found by retrieval restricted to each named outlet (and to the day named
with it), and the answer compares their publication dates, citing both with their dates.

The outlets are read from the library's own source names ("The Independent - Life and Style" is
also "The Independent"); this module only reads the question, the `find` callback retrieves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from qa.retrieve.time import named_days
from qa.types import Answer, Evidence

__all__ = ["Mention", "mentions", "could_be_order_question", "is_order_question", "order_answer",
           "find_reports"]

ORDER_WORDS = re.compile(r"\b(before|after|earlier|later|prior to|between|subsequent|subsequently)\b",
                         re.IGNORECASE)
ASKS_ORDER = re.compile(r"\s*['\"]?(did|was|were|has|have|had|is|are|does|do|between|after|"
                        r"before|following|prior)\b", re.IGNORECASE)
SAME_DAY = re.compile(r"\bsame (?:day|date)\b", re.IGNORECASE)
# Find callback: (text to search, sources allowed, since, until, doc ids to skip) -> evidence.
Find = Callable[[str, list[str], date | None, date | None, set[str]], list[Evidence]]


@dataclass
class Mention:
    """An outlet named in the question: where, and the library sources it stands for."""

    start: int
    end: int
    sources: list[str]


def aliases(sources: Iterable[str]) -> dict[str, set[str]]:
    """Lower-cased names a question may use for each source: the full name and the part before
    " | " or " - " ("Cnbc | World Business News Leader" -> "cnbc")."""
    out: dict[str, set[str]] = {}
    for src in sources:
        if not src:
            continue
        names = {src.lower()}
        head = re.split(r"\s+[|\-–]\s+", src)[0].strip().lower()
        if len(head) >= 3:
            names.add(head)
        for name in names:
            out.setdefault(name, set()).add(src)
    return out


def mentions(question: str, sources: Iterable[str]) -> list[Mention]:
    """The outlets the question names, in order; the longest name wins where names overlap."""
    found: list[Mention] = []
    taken: list[tuple[int, int]] = []
    table = aliases(sources)
    for name in sorted(table, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", question, re.IGNORECASE):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(Mention(m.start(), m.end(), sorted(table[name])))
    return sorted(found, key=lambda x: x.start)


def could_be_order_question(question: str) -> bool:
    """The cheap half of `is_order_question`: the wording, before any outlet is looked up."""
    return bool(ASKS_ORDER.match(question) and ORDER_WORDS.search(question))


def is_order_question(question: str, named: list[Mention], as_of: date | None = None) -> bool:
    """Reports named by outlet and a word about their order, in a yes/no question or one that
    opens with the order ("Between the report of ... and ..."): two outlets, or one outlet with
    two days named ("by Sporting News ... published on October 24 ... on November 6"). A
    wh-question ("Who, before the FTX collapse, was portrayed by The Verge ...") asks for a
    fact, not for an order of reports."""
    if not named or not ORDER_WORDS.search(question) or not ASKS_ORDER.match(question):
        return False
    return len(named) >= 2 or len(named_days(question, as_of)) >= 2


def _around(day: date) -> tuple[date, date]:
    """A named day, a day wider on each side: a report dated late in the evening in one zone
    is the next day in another."""
    return day - timedelta(days=1), day + timedelta(days=1)


def find_reports(question: str, named: list[Mention], find: Find, as_of: date | None = None,
                 ) -> list[Evidence]:
    """One evidence sentence per report the question names, in the order it names them.

    Each outlet's segment of the question (from its name to the next outlet's) is searched in
    that outlet's articles, within the day the segment names if it names one. An outlet named
    once with several days ("by Sporting News ... the article published on October 24 ...
    the report published on November 6") yields a report for each day, searched with the words
    that lead up to that day."""
    segments: list[tuple[str, list[str], date | None]] = []
    if len(named) >= 2:
        for i, m in enumerate(named):
            end = named[i + 1].start if i + 1 < len(named) else len(question)
            text = question[m.end : end]
            days = named_days(text, as_of)
            day = days[0][2] if days else None
            if day is None and segments and SAME_DAY.search(text):
                day = segments[-1][2]  # "... later that same day"
            segments.append((text, m.sources, day))
    else:
        srcs = named[0].sources
        pos = 0
        for _start, end, day in named_days(question, as_of):
            segments.append((question[pos:end], srcs, day))
            pos = end
        rest = question[pos:]
        if len(segments) == 1 and any(ch.isalpha() for ch in rest):
            # "the report on NBA prop bets published on October 2 and the one published later"
            same = segments[0][2] if SAME_DAY.search(rest) else None
            segments.append((rest, srcs, same))
        if len(segments) < 2:
            segments = [(question, srcs, None), (question, srcs, None)]
    picked: list[Evidence] = []
    used: set[str] = set()
    for text, srcs, day in segments:
        # The day named, then a day either side, then any day.
        got = find(text, srcs, day, day, used) if day else []
        if not got and day is not None:
            got = find(text, srcs, *_around(day), used)
        if not got:
            got = find(text, srcs, None, None, used)
        if got:
            picked.append(got[0])
            used.add(got[0].sentence.doc_id)
    return picked


def order_answer(question: str, reports: list[Evidence]) -> Answer:
    """The named reports cited in the order the question names them, each with its date, and
    which came first (yes/no when the question asks "did A ... before/after B")."""
    citations = [ev.cite(n) for n, ev in enumerate(reports, start=1)]
    lines = []
    for c in citations:
        when = c.published_at[:10] if c.published_at else "an unknown date"
        lines.append(f"{c.source or c.doc_id} reported on {when}: {c.text} [{c.n}]")
    verdict = ""
    if len(citations) >= 2 and all(c.published_at for c in citations[:2]):
        a, b = citations[0], citations[1]
        da, db = a.published_at or "", b.published_at or ""
        m = re.search(r"\b(before|after|prior to)\b", question, re.IGNORECASE)
        if da == db:
            verdict = "Both were published at the same time."
        elif m and re.match(r"\s*(did|was|were|has|had|is)\b", question, re.IGNORECASE):
            # "Did A report ... before B ...": A is the first outlet named.
            before = m.group(1).lower() in ("before", "prior to")
            verdict = "Yes." if (da < db) == before else "No."
            verdict += f" [{a.n}] was published {'before' if da < db else 'after'} [{b.n}]."
        else:
            first, second = (a, b) if da < db else (b, a)
            verdict = f"[{first.n}] was published before [{second.n}]."
    text = " ".join([verdict, *lines]).strip()
    return Answer(question=question, answer=text, abstained=not citations, citations=citations,
                  mode="extractive")
