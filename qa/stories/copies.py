"""One copy per story in answers and summaries: the evidence sentences that copies of one story
repeat collapse to one citation, which lists the story's other copies (`also_reported_by`)."""

from __future__ import annotations

from collections.abc import Sequence

from qa.stories.grouping import StoryIndex
from qa.text.words import content_words
from qa.types import Citation, Evidence

SAME_SENTENCE = 0.5  # content-word Jaccard above which two copies' sentences say the same thing


def same_sentence(a: str, b: str) -> bool:
    """Whether two sentences of copies of one story are the same sentence (as republished: a
    word or a number edited, punctuation changed)."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return a.strip() == b.strip()
    return len(wa & wb) / len(wa | wb) >= SAME_SENTENCE


def one_copy(evidence: Sequence[Evidence], index: StoryIndex) -> list[Evidence]:
    """`evidence` in its order without the sentences a kept sentence of the same story already
    says, each kept one listing its story's other copies."""
    kept: list[tuple[str | None, Evidence]] = []
    for ev in evidence:
        story = index.story_of(ev.sentence.doc_id)
        if story is not None and any(
            s == story and same_sentence(k.sentence.text, ev.sentence.text) for s, k in kept
        ):
            continue
        copies = [m.copy() for m in index.copies(ev.sentence.doc_id)]
        kept.append((story, ev.model_copy(update={"also_reported_by": copies}) if copies else ev))
    return [ev for _, ev in kept]


def with_copies(citations: Sequence[Citation], index: StoryIndex) -> list[Citation]:
    """Citations each listing the other copies of its article's story."""
    out = []
    for c in citations:
        copies = [m.copy() for m in index.copies(c.doc_id)]
        out.append(c.model_copy(update={"also_reported_by": copies}) if copies else c)
    return out


def one_per_story(doc_ids: Sequence[str], index: StoryIndex) -> list[str]:
    """The first of `doc_ids` of each story (the others are copies a summary would repeat)."""
    seen: set[str] = set()
    out = []
    for d in doc_ids:
        story = index.story_of(d) or f"doc:{d}"
        if story not in seen:
            seen.add(story)
            out.append(d)
    return out


def also_line(copies: Sequence[object]) -> str:
    """'also reported by AFP, France 24' for a face to print under a citation ('' if none)."""
    names: list[str] = []
    for c in copies:
        name = getattr(c, "source", "") or getattr(c, "title", "") or getattr(c, "doc_id", "")
        if name and name not in names:
            names.append(name)
    return f"also reported by {', '.join(names)}" if names else ""
