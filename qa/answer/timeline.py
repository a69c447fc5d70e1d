"""Timelines: the dated events about a query across articles, in date order, each a cited
sentence, and the same event reported by several outlets shown once with all of them.

An event's date is the sentence's own explicit date when it names one ("on 3 March"), read
relative to its article's publication date, else that publication date. Two sentences are one
event when their content words overlap (Jaccard >= `merge`) or their vectors nearly coincide:
wire copies and rewrites keep most words of a sentence, while different events share few.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from qa.retrieve.evidence import Candidate
from qa.retrieve.time import event_date
from qa.text.words import content_words
from qa.types import Citation, Evidence, Sentence, Timeline, TimelineEvent, elapsed_ms

__all__ = ["build_timeline"]

SAME_VECTOR = 0.92  # cosine at which two sentences say the same thing in other words


def _published(meta: Any) -> date | None:
    text = (getattr(meta, "published_at", None) or "")[:10]
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _evidence(c: Candidate, meta: Any) -> Evidence:
    h = c.hit
    return Evidence(
        sentence=Sentence(sentence_id=f"{h.doc_id}#{h.index}", doc_id=h.doc_id, index=h.index,
                          start=h.start, end=h.end, text=h.text),
        title=meta.title, source=meta.source, published_at=meta.published_at,
        score=round(c.relevance, 4), dense=round(c.dense, 4), lexical=round(c.lexical, 4),
    )


def build_timeline(
    query: str,
    ranked: list[Candidate],
    catalog: dict[str, Any],
    *,
    limit: int = 20,
    margin: float = 0.3,
    merge: float = 0.5,
) -> Timeline:
    """Events from candidate sentences given most relevant first: those within `margin` of the
    best relevance, at most `limit` events (the most relevant), then ordered by date."""
    t0 = time.perf_counter()
    if not ranked:
        return Timeline(query=query)
    best = ranked[0].relevance
    groups: list[dict[str, Any]] = []
    for c in ranked:
        if c.relevance < best - margin:
            break
        meta = catalog.get(c.hit.doc_id)
        if meta is None:
            continue
        published = _published(meta)
        day, phrase = event_date(c.hit.text, published)
        if day is None:
            continue  # an undated article's sentence without a date of its own: no place in time
        words = content_words(c.hit.text)
        home = None
        for g in groups:
            if c.hit.doc_id in g["docs"]:
                continue  # one article reports an event once; its other sentences are others
            same_words = bool(words and g["words"]) and (
                len(words & g["words"]) / len(words | g["words"]) >= merge
            )
            same_vector = (c.hit.vector is not None and g["vector"] is not None
                           and float(c.hit.vector @ g["vector"]) >= SAME_VECTOR)
            if same_words or same_vector:
                home = g
                break
        if home is None:
            if len(groups) >= limit:
                continue
            home = {"words": words, "vector": c.hit.vector, "docs": set(), "reports": [],
                    "day": day, "dated_by": "sentence" if phrase else "published"}
            groups.append(home)
        home["docs"].add(c.hit.doc_id)
        home["reports"].append((published or day, _evidence(c, meta)))
        if phrase and home["dated_by"] == "published":
            home["day"], home["dated_by"] = day, "sentence"  # an explicit date beats a dateline
    events: list[TimelineEvent] = []
    for g in sorted(groups, key=lambda g: g["day"]):
        reports = sorted(g["reports"], key=lambda r: r[0])  # earliest report first
        sources: list[str] = []
        for _, ev in reports:
            name = ev.source or ev.sentence.doc_id
            if name not in sources:
                sources.append(name)
        events.append(TimelineEvent(
            date=g["day"].isoformat(), dated_by=g["dated_by"], text=reports[0][1].sentence.text,
            citations=[ev.cite(0) for _, ev in reports], sources=sources,
        ))
    n = 0
    for e in events:  # citations numbered through the whole timeline, in reading order
        for cit in e.citations:
            n += 1
            cit.n = n
    return Timeline(query=query, events=events, timings_ms={"timeline": elapsed_ms(t0)})


def citations(timeline: Timeline) -> list[Citation]:
    """Every citation of a timeline, in order."""
    return [c for e in timeline.events for c in e.citations]
