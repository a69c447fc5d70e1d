"""Mentions of article titles in text: the links that let retrieval hop from the article a
question names to the article about something that article names (multi-hop questions)."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable, Mapping

from qa.store import ArticleMeta
from qa.text.words import TITLE_FUNCTION_WORDS, WORD

_DISAMBIGUATION = re.compile(r"\s*\([^()]*\)\s*$")
MAX_TITLE_WORDS = 6
"""Longer titles are headlines, not names: a sentence never repeats one word for word."""


def title_phrase(title: str) -> tuple[str, ...] | None:
    """The words a mention of the article's subject would use, or None when the title is not a
    name: "Kiss and Tell (1945 film)" -> ("kiss", "and", "tell")."""
    words = tuple(WORD.findall(_DISAMBIGUATION.sub("", html.unescape(title)).lower()))
    if not words or len(words) > MAX_TITLE_WORDS:
        return None
    if all(w in TITLE_FUNCTION_WORDS or w.isdigit() for w in words):
        return None  # "The", "2014": too common to be a link
    if sum(len(w) for w in words) < 4:
        return None  # "I's", "Up": too short to tell a name from a word
    return words


class TitleIndex:
    """Title phrases of the stored articles, rebuilt when the catalog's fingerprint changes."""

    def __init__(self) -> None:
        self._fingerprint: str | None = None
        self._docs: dict[tuple[str, ...], list[str]] = {}
        self._longest = 0
        self._lock = threading.Lock()

    def ensure(self, fingerprint: str, articles: Mapping[str, ArticleMeta]) -> None:
        if fingerprint == self._fingerprint:
            return
        with self._lock:
            docs: dict[tuple[str, ...], list[str]] = {}
            for doc_id, meta in articles.items():
                phrase = title_phrase(meta.title or "")
                if phrase:
                    docs.setdefault(phrase, []).append(doc_id)
            self._docs = docs
            self._longest = max((len(p) for p in docs), default=0)
            self._fingerprint = fingerprint

    def mentioned(self, texts: Iterable[str]) -> list[str]:
        """Doc ids of the articles whose title phrase occurs (as whole words) in any text, in
        order of first mention; a shorter phrase inside a longer match does not count."""
        found: list[str] = []
        for text in texts:
            words = WORD.findall(html.unescape(text).lower())
            i = 0
            while i < len(words):
                for n in range(min(self._longest, len(words) - i), 0, -1):
                    ids = self._docs.get(tuple(words[i : i + n]))
                    if ids:
                        found.extend(d for d in ids if d not in found)
                        i += n - 1
                        break
                i += 1
        return found
