"""Time in questions: "latest", "this week", "last month", "in March 2024", "since June",
"before 3 May" read relative to an as-of date into a publication-date window and a recency
preference, and the question without those phrases (what retrieval searches).

>>> t = understand("What happened in Gaza last week?", as_of=date(2024, 5, 15))
>>> (t.since, t.until, t.text)
(datetime.date(2024, 5, 6), datetime.date(2024, 5, 12), 'What happened in Gaza?')

Date expressions are found and resolved by dateparser (`search_dates` with RELATIVE_BASE at the
as-of date and PREFER_DATES_FROM='past'); its `DateDataParser` gives each one's period (day,
week, month, year), which sets the window's width. Only the words dateparser has no notion of
are a table here: recency cues ("latest", "most recent"), the operators that open or close a
window ("since", "before"), and rolling spans ("the past week").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from qa.text.dates import DATEPARSER_LOCK

__all__ = ["TimeQuery", "understand", "event_date", "named_days"]

# Words that ask for the newest reporting rather than for a period.
RECENCY_CUES = (
    "latest", "most recent", "most recently", "newest", "lately", "right now", "up to date",
    "up-to-date", "last update", "recent news", "recent developments", "recent reports",
    "recent coverage", "recent updates", "current status", "current state", "current situation",
)
# Not "recently" alone: "Authorities are searching for men who recently escaped" asks a fact.
# An operator before a date turns it into one end of an open window.
# Not "from": "a baseball card from 1952" is no window.
OPENERS = {"since": "start", "after": "after"}
CLOSERS = {"before": "before", "until": "end", "till": "end", "by": "end", "prior to": "before"}
ROLLING = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "year": 365}
NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "few": 3, "several": 5}

_MONTHS = "|".join(m.lower() for m in calendar.month_name[1:] + calendar.month_abbr[1:] if m)
_DAYS = "|".join(d.lower() for d in calendar.day_name)
# What makes a found span a date. dateparser also reads "20%", "Now" or the "Friday" of "Black
# Friday" as dates; a span counts only with a month, a year, an ISO date, a relative word, or a
# weekday that an article or "last/this/on" introduces.
_DATEISH = re.compile(
    rf"\b(?:{_MONTHS})\b|\b(?:19|20)\d\d\b|\d{{4}}-\d\d-\d\d|\b(?:yesterday|today|tonight|"
    rf"week|weeks|month|months|year|years|days?\s+ago|fortnight)\b|"
    rf"\b(?:last|this|on|next)\s+(?:{_DAYS})\b",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b\d{4}-\d\d-\d\d\b")
_FULL_DATE = re.compile(
    rf"(?:\b(?:on|in|of|at|during)\s+)?(?:\b\d{{4}}-\d\d-\d\d\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d\b|"
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\.?,?\s+(?:19|20)\d\d\b)",
    re.IGNORECASE,
)
# Spans dateparser reads as dates that are not: a lower-case "may" or "march" (the verbs:
# "Pope Francis may consider") with no day or year, and durations ("in 400 years", "15 years")
# that are not "ago".
_NOT_A_DATE = re.compile(
    r"^(?:\w+\s+)?(?:may|march)$|\b\d+\s+(?:years?|months?|weeks?|days?)\b(?!\s+ago)"
)
# A quick test before calling dateparser (about 1 ms per question, most of which have no date).
_MAYBE = re.compile(rf"\d|\b(?:{_MONTHS}|{_DAYS}|yesterday|today|week|month|year|fortnight)\b",
                    re.IGNORECASE)
# "the past week", "the last 3 days": a span ending at the as-of date ("last week" alone is the
# calendar week before, which dateparser reads).
_N = r"(\d+|" + "|".join(NUMBERS) + r")"
_ROLLING = re.compile(
    r"\b(?:(?:in|over|during|for|within)\s+)?(?:the\s+)?(?:(?:past|previous)\s+(?:" + _N
    + r"\s+)?|last\s+" + _N + r"\s+)(day|week|fortnight|month|year)s?\b",
    re.IGNORECASE,
)
# Words a found phrase may drag along at its end ("this week in", "6 November, and the").
_TRAILING = re.compile(r"(?:[\s,]+(?:and|the|in|on|of|at|about|to|for|a|an))+[\s,]*$|[\s,]+$",
                       re.IGNORECASE)
# "before the election on 5 November": an operator a few words before the date it bounds.
_DISTANT_OP = re.compile(r"\b(since|after|before|until|prior to)\s+the\s+\w+(?:\s+\w+)?\s+$",
                         re.IGNORECASE)
_LEADING = re.compile(r"^(?:in|on|of|at|during|from|for|about|around)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class TimeQuery:
    """What a question says about time, relative to `as_of`."""

    question: str
    text: str  # the question with its time phrases removed: what retrieval searches
    as_of: date
    since: date | None = None
    until: date | None = None
    recency: bool = False  # "latest"-style: prefer the most recent relevant reporting
    phrases: tuple[str, ...] = field(default_factory=tuple)  # the time phrases understood

    @property
    def window(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def temporal(self) -> bool:
        """The question is about time: reports are best shown in date order."""
        return self.recency or self.window or bool(self.phrases)

    def describe(self) -> str:
        """One line for a face: what was understood ("" when nothing was)."""
        parts = []
        if self.recency:
            parts.append("most recent first")
        if self.since or self.until:
            a = self.since.isoformat() if self.since else "…"
            b = self.until.isoformat() if self.until else "…"
            parts.append(f"published {a} to {b}")
        return "; ".join(parts)


def _settings(as_of: date) -> dict[str, Any]:
    return {
        "RELATIVE_BASE": datetime(as_of.year, as_of.month, as_of.day),
        "PREFER_DATES_FROM": "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }


@lru_cache(maxsize=8)
def _period_parser(as_of: date) -> Any:
    from dateparser.date import DateDataParser

    return DateDataParser(languages=["en"], settings=_settings(as_of))


def _date_data(as_of: date, text: str) -> Any:
    with DATEPARSER_LOCK:
        return _period_parser(as_of).get_date_data(text)


def _span(day: date, period: str, phrase: str, as_of: date) -> tuple[date, date]:
    """The days a date expression covers: a day, its week (to the as-of date for "this week"),
    its month, or its year."""
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, min(start + timedelta(days=6), as_of)
    if period == "month":
        start = day.replace(day=1)
        end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        return start, min(end, as_of) if "this" in phrase.lower() else end
    if period == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    return day, day


def understand(question: str, as_of: date | None = None) -> TimeQuery:
    """The time a question asks about, relative to `as_of` (today when None)."""
    as_of = as_of or date.today()
    text = " ".join((question or "").split())
    phrases: list[str] = []
    starts: list[date] = []
    ends: list[date] = []
    since: date | None = None
    until: date | None = None
    removed: list[tuple[int, int]] = []
    named: list[date] = []  # every day a named date starts or ends on

    lowered = text.lower()
    recency = False
    for cue in RECENCY_CUES:
        for m in re.finditer(rf"\b{re.escape(cue)}\b", lowered):
            recency = True
            phrases.append(text[m.start() : m.end()])
            removed.append((m.start(), m.end()))

    for m in _ROLLING.finditer(text):
        n_text = (m.group(1) or m.group(2) or "1").lower()
        n = int(n_text) if n_text.isdigit() else NUMBERS.get(n_text, 1)
        since = as_of - timedelta(days=n * ROLLING[m.group(3).lower()] - 1)
        until = as_of
        phrases.append(m.group(0).strip())
        removed.append((m.start(), m.end()))

    if _MAYBE.search(text):
        for phrase, start, end, op, parse in _dates(text, removed):
            period = _date_data(as_of, parse)
            if period is None or period.date_obj is None:
                continue
            day = period.date_obj.date()
            first, last = _span(day, period.period or "day", phrase, as_of)
            phrases.append(phrase)
            removed.append((start, end))
            if op in ("start", "after"):
                opened = first if op == "start" else last + timedelta(days=1)
                since = opened if since is None else max(since, opened)
                until = until or as_of
            elif op in ("before", "end"):
                closed = first - timedelta(days=1) if op == "before" else last
                until = closed if until is None else min(until, closed)
            else:
                starts.append(first)
                ends.append(last)
            named.extend([first, last])
    if starts:
        # Several named dates ("between the report of 6 November and the one of 15 December"):
        # the window covers them all.
        since = min(starts) if since is None else max(since, min(starts))
        until = max(ends) if until is None else min(until, max(ends))
    if since and until and since > until:
        # "after 6 November ... its earlier report on 1 November": the bounds contradict; the
        # window spans every date named instead.
        since, until = min(named), max(max(named), as_of if since else max(named))
    return TimeQuery(
        question=question,
        text=_without(text, removed) if removed else text,
        as_of=as_of,
        since=since,
        until=until,
        recency=recency,
        phrases=tuple(phrases),
    )


def _dates(text: str, taken: list[tuple[int, int]]) -> list[tuple[str, int, int, str, str]]:
    """The date expressions of `text` as (phrase, start, end, operator, what to parse): the
    operator ("start", "after", "before", "end", or "" for a plain date) is the word just before
    the phrase, and the phrase spans it."""
    from dateparser.search import search_dates

    # dateparser misreads "before 3 May 2024" (as "May" and "2024"); it reads "on 3 May 2024"
    # right. Operators are read here and replaced by "on" for the search; `origin` maps each
    # character of the searched text back to the question.
    searched: list[str] = []
    origin: list[int] = []
    ops: dict[int, str] = {}  # end (in the searched text) of an "on" that replaced an operator
    pos = 0
    for m in re.finditer(r"\b(since|after|before|until|till|by|prior to)\b", text, re.I):
        searched.append(text[pos : m.start()])
        origin.extend(range(pos, m.start()))
        ops[len(origin) + 2] = {**OPENERS, **CLOSERS}[m.group(1).lower()]
        searched.append("on")
        origin.extend([m.start(), m.end() - 1])
        pos = m.end()
    searched.append(text[pos:])
    origin.extend(range(pos, len(text)))
    flat = "".join(searched)
    with DATEPARSER_LOCK:
        found = search_dates(flat, languages=["en"], settings=_settings(date.today())) or []
    spans: list[tuple[int, int]] = []
    cursor = 0
    for phrase, _ in found:
        pattern = r"\s+".join(re.escape(w) for w in phrase.split())
        hit = re.compile(pattern).search(flat, cursor)
        if hit is not None:
            cursor = hit.end()
            spans.append((hit.start(), hit.end()))
    # search_dates misses full dates in longer sentences (in "the one from November 5, 2023,
    # indicating" it finds only "2023"): complete calendar dates are also located here, read by
    # dateparser like the others, and win over the shorter spans they cover.
    full = [(m.start(), m.end()) for m in _FULL_DATE.finditer(flat)]
    spans = sorted(full + [sp for sp in spans if not any(a < sp[1] and sp[0] < b for a, b in full)])
    out: list[tuple[str, int, int, str, str]] = []
    for m_start, m_end in spans:
        trail = _TRAILING.search(flat[m_start:m_end])
        stop = m_start + trail.start() if trail and trail.start() > 0 else m_end
        phrase = flat[m_start:stop]
        if not _DATEISH.search(phrase) or (re.fullmatch(r"[\d\s.,%$:/-]+", phrase)
                                            and not _ISO.search(phrase)):
            continue
        if _NOT_A_DATE.search(phrase):
            continue
        start, end = origin[m_start], origin[stop - 1] + 1
        op = ""
        # The "on" that replaced an operator starts the phrase or comes just before it.
        for key in range(m_start - 1, m_end + 1):
            if key in ops:
                op = ops[key]
                start = min(start, origin[key - 2])
                break
        distant = None if op else _DISTANT_OP.search(text[:start])
        if distant:
            op = {**OPENERS, **CLOSERS}[distant.group(1).lower()]
        if any(a < end and start < b for a, b in taken):
            continue
        out.append((text[start:end], start, end, op, _LEADING.sub("", phrase)))
    return out


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the spans removed, the words around them rejoined, and no preposition left
    dangling before the end ("What happened in Gaza last week?" -> "What happened in Gaza?")."""
    keep = []
    pos = 0
    for a, b in sorted(spans):
        if a < pos:
            a = pos
        keep.append(text[pos:a])
        pos = max(pos, b)
    keep.append(text[pos:])
    out = " ".join("".join(keep).split())
    out = re.sub(r"\s+([?.!,;:])", r"\1", out)
    # "What is the latest on X?" -> "What is on X?", not "What is the on X?"
    out = re.sub(r"\b(?:the|a|an)\s+(?=(?:on|about|in|of|with|for|from)\b)", "", out, flags=re.I)
    out = re.sub(r"\b(?:in|on|of|at|during|from|for|since|before|after|until|by)([?.!]?)$",
                 r"\1", out, flags=re.I).strip()
    out = re.sub(r"\s+([?.!])$", r"\1", out)
    return out or text


_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")


def event_date(sentence: str, published: date | None) -> tuple[date | None, str | None]:
    """The date a sentence's event happened: the sentence's own explicit date when it names one
    (read relative to the article's date, so "on Tuesday" is the Tuesday before publication),
    else the publication date. Returns (date, the phrase that named it or None)."""
    base = published or date.today()
    if not _MAYBE.search(sentence):
        return published, None
    for phrase, _start, _end, _op, parse in _dates(sentence, []):
        if published is None and not _YEAR.search(phrase):
            # An undated article gives "on Monday, September 11" no year to read it in: today's
            # would put a past event in the wrong year. Only a date with its year stands alone.
            continue
        data = _date_data(base, parse)
        if data is None or data.date_obj is None:
            continue
        got = data.date_obj.date()
        # A month or a year alone is not an event date; nor is a date after publication.
        if (data.period or "day") in ("day",) and (published is None or got <= published):
            return got, phrase
    return published, None


def named_days(text: str, as_of: date | None = None) -> list[tuple[int, int, date]]:
    """The single days `text` names, as (start, end, day) in the order they appear: "published
    on October 24, 2023" and "after October 4" give their day whatever the operator before them
    (a question that names a report by its date wants that day's report)."""
    as_of = as_of or date.today()
    if not _MAYBE.search(text):
        return []
    out = []
    for _phrase, start, end, _op, parse in _dates(text, []):
        data = _date_data(as_of, parse)
        if data is not None and data.date_obj is not None and (data.period or "day") == "day":
            out.append((start, end, data.date_obj.date()))
    return out
