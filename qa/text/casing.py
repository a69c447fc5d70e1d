"""A question typed without capitals, written as the library writes its words.

Retrieval itself ignores case (the encoder is uncased, BM25 tokens are lower-cased), but what a
question names does not: a name the question already says is not its answer, and a quiz
question's asking sentence starts after a full stop and a capital. "who took home her first tony
for best lead actress" must be read as "Who took home her first Tony ...".

Written here rather than taken from a truecasing package: those carry a model of general English
(or fetch one), while the best guide to how a name is spelled is the library's own sentences
about the question, which retrieval has just found.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# What precedes a word that opens a sentence or a quote: it is capitalized by position, not
# because it is a name.
_OPENS = re.compile(r"(?:^|[.!?:;][\"”’)]?|[\"“‘(])$")
_SENTENCE_START = re.compile(r"(^\s*|[.!?][\"”’]?\s+)([a-z])")


def uncased(question: str) -> bool:
    """Whether the question was typed without capitals: none after its first letter, or all of
    its letters capitals."""
    letters = [ch for ch in question if ch.isalpha()]
    return bool(letters) and (
        not any(ch.isupper() for ch in letters[1:]) or all(ch.isupper() for ch in letters)
    )


def spellings(texts: Iterable[str]) -> dict[str, str]:
    """For each lower-cased word, its capitalized spelling ("Tony", "NATO") when the texts
    write it capitalized inside a sentence more often than in lower case."""
    capital: dict[str, Counter[str]] = {}
    lower: Counter[str] = Counter()
    for text in texts:
        for m in _WORD.finditer(text):
            word = m.group()
            key = word.lower()
            if word == key:
                lower[key] += 1
            elif not _OPENS.search(text[max(0, m.start() - 3) : m.start()].rstrip()):
                capital.setdefault(key, Counter())[word] += 1
    return {
        key: forms.most_common(1)[0][0]
        for key, forms in capital.items()
        if sum(forms.values()) > lower[key]
    }


def restore_case(question: str, texts: Iterable[str]) -> str:
    """`question` as the texts write its words, each of its sentences opening with a capital,
    when it was typed without capitals (`uncased`); otherwise unchanged."""
    if not uncased(question):
        return question
    known = spellings(texts)
    cased = _WORD.sub(lambda m: known.get(m.group().lower(), m.group().lower()), question)
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), cased)
