"""The records qa passes around: articles, sentences, chunks, citations, answers and summaries."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from qa.text.dates import day_number

ABSTAIN_PHRASE = "The articles do not answer this."
"""What every face answers when the articles do not answer the question."""


class Article(BaseModel):
    """One cleaned article as stored; `text` is the cleaned text every offset points into."""

    doc_id: str
    title: str = ""
    source: str = ""
    published_at: str | None = None
    url: str | None = None
    byline: str | None = None
    canonical_url: str | None = Field(
        default=None,
        description="The page's canonical URL (<link rel=canonical>, else og:url), when read "
        "from a web page; the doc id of a fetched page derives from it.",
    )
    text: str
    content_hash: str = ""
    n_sentences: int = 0
    warnings: list[str] = Field(
        default_factory=list,
        exclude=True,
        description="What ingest refused of this article's input (a field dropped, and why); "
        "reported in its IngestResult, never stored.",
    )


class Sentence(BaseModel):
    """A sentence of an article with its character span in the article's stored text."""

    sentence_id: str  # "<doc_id>#<index>": stable for a given version of the article
    doc_id: str
    index: int
    start: int
    end: int
    text: str


class Chunk(BaseModel):
    """Consecutive whole sentences that fit the embedder's window."""

    chunk_id: str
    doc_id: str
    index: int
    first_sentence: int
    last_sentence: int  # inclusive
    text: str
    n_tokens: int


class StoryCopy(BaseModel):
    """Another article of the same story (a copy an outlet republished, or an update of it)."""

    doc_id: str
    source: str = ""
    title: str = ""
    published_at: str | None = None


class Evidence(BaseModel):
    """A retrieved sentence with the scores that chose it."""

    sentence: Sentence
    title: str = ""
    source: str = ""
    published_at: str | None = None
    score: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0
    also_reported_by: list[StoryCopy] = Field(
        default_factory=list, description="The other copies of this sentence's story."
    )

    def cite(self, n: int) -> Citation:
        """This sentence as citation number `n`, at its stored span."""
        s = self.sentence
        return Citation(
            n=n,
            doc_id=s.doc_id,
            title=self.title,
            source=self.source,
            published_at=self.published_at,
            sentence_id=s.sentence_id,
            start=s.start,
            end=s.end,
            text=s.text,
            score=self.score,
            also_reported_by=list(self.also_reported_by),
        )


class Citation(BaseModel):
    """A numbered pointer from an answer to one stored sentence."""

    n: int
    doc_id: str
    title: str
    source: str
    published_at: str | None
    sentence_id: str
    start: int
    end: int
    text: str
    score: float | None = None
    also_reported_by: list[StoryCopy] = Field(
        default_factory=list,
        description="The other articles of the cited article's story (copies by other outlets, "
        "updates): the story is cited once and they are listed here.",
    )


class Claim(BaseModel):
    """One sentence of an LLM answer and how well its cited sentences support it."""

    text: str
    citations: list[int]
    support: Literal["supported", "partial", "unsupported"]
    score: float


class Answer(BaseModel):
    """What `ask` returns; `--json` prints exactly this."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    related: list[Citation] = Field(
        default_factory=list, description="Nearest sentences offered when the answer abstains."
    )
    retrieved_doc_ids: list[str] = Field(default_factory=list)
    mode: Literal["extractive", "llm"] = "extractive"
    timings_ms: dict[str, float] = Field(default_factory=dict)
    confidence: float = 0.0
    claims: list[Claim] | None = None
    dropped_citations: int | None = None
    tokens: dict[str, int] | None = None
    cost_usd: float | None = None
    fallback: str | None = None
    standalone_question: str | None = None


class Summary(BaseModel):
    """A cited summary of one or several articles."""

    doc_ids: list[str]
    summary: str
    citations: list[Citation] = Field(default_factory=list)
    sentences: list[str] = Field(default_factory=list)
    mode: Literal["extractive", "llm"] = "extractive"
    query: str | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    claims: list[Claim] | None = None
    tokens: dict[str, int] | None = None


class TimelineEvent(BaseModel):
    """One dated event of a timeline: a sentence, and every article that reported it."""

    date: str = Field(description="The event's day (ISO): the sentence's own date, else the "
                      "article's publication day.")
    dated_by: Literal["sentence", "published"] = "published"
    text: str = Field(description="The sentence as the earliest report has it.")
    citations: list[Citation] = Field(
        default_factory=list, description="Each report of the event, earliest first."
    )
    sources: list[str] = Field(default_factory=list)


class Timeline(BaseModel):
    """What `timeline` returns: dated events about a query, in date order."""

    query: str
    events: list[TimelineEvent] = Field(default_factory=list)
    since: str | None = None
    until: str | None = None
    as_of: str | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Statement(BaseModel):
    """One source's sentence in a comparison, citable at its stored span."""

    doc_id: str
    source: str = ""
    title: str = ""
    published_at: str | None = None
    sentence_id: str
    start: int
    end: int
    text: str


class ComparedFact(BaseModel):
    """A fact several sources state: each source's sentence."""

    statements: list[Statement]


class CompareConflict(BaseModel):
    """Two sources' sentences on one fact that differ in a number, a date or a name."""

    kind: Literal["number", "date", "name"]
    statements: list[Statement] = Field(description="The two sides, each cited.")
    values: list[list[str]] = Field(description="What each side says that the other does not.")
    similarity: float = 0.0


class Comparison(BaseModel):
    """What `compare` returns: where the sources of a story or topic agree and differ."""

    query: str | None = None
    doc_ids: list[str]
    sources: list[str] = Field(default_factory=list)
    agreed: list[ComparedFact] = Field(default_factory=list)
    one_sided: list[Statement] = Field(
        default_factory=list, description="Statements only one source makes (the most relevant)."
    )
    conflicts: list[CompareConflict] = Field(default_factory=list)
    mode: Literal["extractive", "llm"] = "extractive"
    timings_ms: dict[str, float] = Field(default_factory=dict)


IngestStatus = Literal["added", "unchanged", "replaced", "failed"]


class IngestResult(BaseModel):
    """The outcome for one article (or one file that failed before it became an article)."""

    path: str
    doc_id: str | None = None
    status: IngestStatus
    reason: str = ""
    n_sentences: int = 0
    warnings: list[str] = Field(
        default_factory=list,
        description="Parts of the input refused while the article itself was kept "
        "(e.g. a published_at that is not an ISO date: stored without a date).",
    )


class ArticleInfo(BaseModel):
    """A row of `list`: an article without its text."""

    doc_id: str
    title: str
    source: str
    published_at: str | None
    url: str | None = None
    n_sentences: int
    story_id: str | None = Field(
        default=None, description="The story this article belongs to (qa.stories)."
    )


class Story(BaseModel):
    """Articles that tell one story: the first reported, then its copies in the order they came."""

    story_id: str
    copies: list[StoryCopy]


@dataclass
class Filters:
    """Restrict retrieval to some sources, some articles, and a publication date range
    (inclusive). The store turns it into its own query language.

    `keep_undated`: an article with no date passes the date range. Set for a window read from
    a question ("this week", "the latest" as of a day): an unknown date is not outside the
    window, and leaving such articles out would hide what the user stored without saying so.
    Dates the caller gives (`since`/`until`) stay strict."""

    sources: list[str] | None = None
    since: date | None = None
    until: date | None = None
    keep_undated: bool = False

    def allows(self, source: str, day: int | None) -> bool:
        if self.sources and source not in self.sources:
            return False
        if day is None and self.keep_undated:
            return True
        if self.since and (day is None or day < (day_number(self.since.isoformat()) or 0)):
            return False
        if self.until and (day is None or day > (day_number(self.until.isoformat()) or 0)):
            return False
        return True

    @property
    def active(self) -> bool:
        return bool(self.sources or self.since or self.until)


def doc_ids_of(evidence: Iterable[Evidence]) -> list[str]:
    """The articles the sentences come from, in the order they first appear."""
    return list(dict.fromkeys(ev.sentence.doc_id for ev in evidence))


def elapsed_ms(t0: float) -> float:
    """Milliseconds since `t0` (a `time.perf_counter()` reading), as `timings_ms` holds them."""
    return round((time.perf_counter() - t0) * 1000, 2)
