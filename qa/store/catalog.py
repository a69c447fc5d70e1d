"""The catalog: which article versions are committed, and what readers need of them without text.

Readers ignore every sentence and chunk record whose version is not the committed one, so every
read consults the catalog; it is loaded once from the article records and kept up to date by the
writes of this process (and refreshed when asked). Its fingerprint names the committed state, so
that caches built from the store (the lexical index) know when they are stale.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from qa.store.records import ArticleWrite
from qa.text.dates import day_number
from qa.types import Article, ArticleInfo, Filters


@dataclass
class ArticleMeta:
    """What readers need of an article without its text."""

    doc_id: str
    version: str
    title: str
    source: str
    published_at: str | None
    published_day: int | None
    url: str | None
    byline: str | None
    content_hash: str
    n_sentences: int
    canonical_url: str | None = None  # a web page's; older records have none

    @classmethod
    def from_record(cls, doc_id: str, m: dict[str, Any]) -> ArticleMeta:
        """From an article record's metadata."""
        return cls(
            doc_id=doc_id,
            version=str(m["version"]),
            title=str(m.get("title", "")),
            source=str(m.get("source", "")),
            published_at=m.get("published_at"),
            published_day=m.get("day"),
            url=m.get("url"),
            byline=m.get("byline"),
            content_hash=str(m.get("content_hash", "")),
            n_sentences=int(m.get("n_sentences", 0)),
            canonical_url=m.get("canonical_url"),
        )

    @classmethod
    def from_write(cls, w: ArticleWrite) -> ArticleMeta:
        """From the write that commits a version, without reading it back."""
        article = w.article
        return cls(
            doc_id=article.doc_id,
            version=w.version,
            title=article.title,
            source=article.source,
            published_at=article.published_at,
            published_day=day_number(article.published_at),
            url=article.url,
            byline=article.byline,
            content_hash=article.content_hash,
            n_sentences=len(w.sentences),
            canonical_url=article.canonical_url,
        )

    def info(self) -> ArticleInfo:
        return ArticleInfo(
            doc_id=self.doc_id,
            title=self.title,
            source=self.source,
            published_at=self.published_at,
            url=self.url,
            n_sentences=self.n_sentences,
        )

    def article(self, text: str) -> Article:
        return Article(
            doc_id=self.doc_id,
            title=self.title,
            source=self.source,
            published_at=self.published_at,
            url=self.url,
            byline=self.byline,
            canonical_url=self.canonical_url,
            text=text,
            content_hash=self.content_hash,
            n_sentences=self.n_sentences,
        )


@dataclass
class Catalog:
    """The committed articles, keyed by doc_id; loaded once, then replaced (never changed in
    place) after each write or sync: see `updated`."""

    articles: dict[str, ArticleMeta] = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_records(cls, pages: Iterable[tuple[list[str], list[dict[str, Any]]]]) -> Catalog:
        """From pages of article records: (ids, metadatas)."""
        catalog = cls()
        for ids, metas in pages:
            for doc_id, m in zip(ids, metas, strict=True):
                catalog.articles[doc_id] = ArticleMeta.from_record(doc_id, m)
        return catalog

    def fingerprint(self) -> str:
        # Every query asks for it and hashing every id is not free, so it is kept: a catalog's
        # articles do not change once it is in use (a change makes a new catalog, `updated`).
        if self._fingerprint is None:
            h = hashlib.sha1()
            for doc_id in sorted(self.articles):
                h.update(f"{doc_id}@{self.articles[doc_id].version}\n".encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    @cached_property
    def undated(self) -> list[str]:
        """The ids of the articles with no date, sorted (kept, as the fingerprint is: a date
        window asks for them at every query)."""
        return sorted(d for d, m in self.articles.items() if m.published_day is None)

    @cached_property
    def by_day(self) -> tuple[list[int], list[str]]:
        """The dated articles in date order: their days and, in the same order, their ids (kept:
        the recent-news search asks for a few days' articles at every question)."""
        dated = sorted((m.published_day, d) for d, m in self.articles.items()
                       if m.published_day is not None)
        return [day for day, _ in dated], [d for _, d in dated]

    def published_between(self, first: int, last: int) -> list[str]:
        """Ids of the articles published from day `first` to day `last`, both included."""
        days, ids = self.by_day
        return ids[bisect_left(days, first) : bisect_right(days, last)]

    def updated(self, remembered: Iterable[ArticleMeta] = (), forgotten: Iterable[str] = ()) -> Catalog:
        """A new catalog with these versions committed and these articles deleted; this one is
        left as it was. Copy-on-write because a server answers in several threads, each reading
        one catalog for its whole question while another thread syncs or writes: changed in
        place, an article deleted midway was a KeyError."""
        articles = dict(self.articles)
        for meta in remembered:
            articles[meta.doc_id] = meta
        for doc_id in forgotten:
            articles.pop(doc_id, None)
        return Catalog(articles)

    def listing(self, query: str | None = None, filters: Filters | None = None) -> list[ArticleInfo]:
        """The committed articles, by doc_id; `query` keeps those whose title, source or id
        contains it (any case), `filters` narrow by source and publication date."""
        needle = (query or "").strip().lower()
        rows = []
        for m in sorted(self.articles.values(), key=lambda m: m.doc_id):
            if needle and not any(needle in (v or "").lower() for v in (m.title, m.source, m.doc_id)):
                continue
            if filters is not None and filters.active and not filters.allows(m.source, m.published_day):
                continue
            rows.append(m.info())
        return rows
