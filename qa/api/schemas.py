"""Request and response bodies of the HTTP APIs that qa.types does not already define.

Responses reuse the project's own records (Answer, Summary, Article, Sentence, ArticleInfo,
IngestResult) so that `/openapi.json` describes exactly what `qa ask --json` prints. Requests
reject unknown fields (a typo such as `"qustion"` is a 422 naming it, not a silent default),
except the OpenAI request, which must accept the many options OpenAI clients send.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.ingest.feeds import FeedReport
from qa.service import MAX_COMPARE, MAX_K
from qa.types import Article, IngestResult, Sentence

__all__ = [
    "AskRequest",
    "ArticleDetail",
    "ChatCompletion",
    "ChatCompletionRequest",
    "ChatMessage",
    "CheckReport",
    "CompareRequest",
    "Deleted",
    "FeedAddRequest",
    "FeedRefreshRequest",
    "FeedRefreshReport",
    "Health",
    "IngestReport",
    "IngestTextRequest",
    "IngestUrlsRequest",
    "ModelCard",
    "ModelList",
    "SummarizeRequest",
    "TimelineRequest",
    "Version",
]

Mode = Literal["extractive", "llm", "auto"]
MAX_SUMMARY_SENTENCES = 20
MAX_TIMELINE_EVENTS = 200  # QA.timeline's own bound
AS_OF = ("Read time words in the question (latest, this week, since June) relative to this "
         "day; default: today. Nothing published after it is used.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(_Strict):
    """A question, with the same options as `qa ask`."""

    question: str = Field(description="The question, up to 4,000 characters.",
                          examples=["Why is Armenia drifting from Moscow?"])
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="Most sentences cited.")
    sources: list[str] | None = Field(default=None, description="Only articles of these sources.")
    since: date | None = Field(default=None, description="Only articles published on or after.")
    until: date | None = Field(default=None, description="Only articles published on or before.")
    mode: Mode | None = Field(default=None, description="Answering mode; default: the server's.")
    as_of: date | None = Field(default=None, description=AS_OF)


class TimelineRequest(_Strict):
    """A query whose dated events are wanted, in date order, as `qa timeline` takes it."""

    query: str = Field(description="What the timeline is about; time words in it narrow it.",
                       examples=["Armenia and Russia"])
    since: date | None = Field(default=None, description="Only articles published on or after.")
    until: date | None = Field(default=None, description="Only articles published on or before.")
    as_of: date | None = Field(default=None, description=AS_OF)
    limit: int = Field(default=20, ge=1, le=MAX_TIMELINE_EVENTS, description="Most events.")
    sources: list[str] | None = Field(default=None, description="Only articles of these sources.")


class CompareRequest(_Strict):
    """Articles to compare, by id (two or more), or a query whose articles are compared."""

    query: str | None = Field(default=None, description="Compare the articles this query finds.")
    doc_ids: list[str] = Field(default_factory=list, description="Compare these articles instead.")
    max_articles: int = Field(default=MAX_COMPARE, ge=2, le=20,
                              description="Most articles a query's comparison covers.")
    sources: list[str] | None = Field(default=None, description="Only articles of these sources.")
    since: date | None = Field(default=None, description="Only articles published on or after.")
    until: date | None = Field(default=None, description="Only articles published on or before.")


class FeedAddRequest(_Strict):
    """An RSS or Atom feed to register; its items are fetched by a refresh."""

    url: str = Field(description="The feed's http(s) URL.")
    name: str | None = Field(default=None, description="A short name (default: from the URL).")


class FeedRefreshRequest(_Strict):
    """Which feed to refresh: by name or URL; every feed when left out."""

    feed: str | None = Field(default=None, description="A feed's name or URL; default: all.")


class FeedRefreshReport(BaseModel):
    """What a refresh did, one report per feed (each new item's IngestResult)."""

    feeds: list[FeedReport]


class SummarizeRequest(_Strict):
    """Articles to summarize, by id, or a query whose articles are summarized."""

    doc_ids: list[str] = Field(default_factory=list)
    query: str | None = None
    max_sentences: int | None = Field(default=None, ge=1, le=MAX_SUMMARY_SENTENCES)
    mode: Mode | None = None


class IngestTextRequest(_Strict):
    """One article as pasted text."""

    text: str
    title: str = ""
    source: str = ""
    published_at: date | None = None
    doc_id: str | None = Field(default=None, description="Default: from the title, else the text.")


class IngestUrlsRequest(_Strict):
    """Web pages or feeds to fetch and ingest."""

    urls: list[str] = Field(min_length=1, max_length=100)


class IngestReport(BaseModel):
    """One result per article or per input that failed; one bad input never stops the others."""

    results: list[IngestResult]


class ArticleDetail(Article):
    """An article with its stored text and its sentences (their spans point into `text`)."""

    sentences: list[Sentence]


class Deleted(BaseModel):
    doc_id: str
    deleted: bool = True


class CheckReport(BaseModel):
    """What `qa check` finds: counts, leftovers of interrupted writes, and problems."""

    ok: bool
    articles: int
    sentences: int
    chunks: int
    orphans: int
    problems: list[str]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Version(BaseModel):
    version: str
    api: str = "v1"
    mode: Literal["extractive", "llm"]
    embedder: str
    llm_model: str | None = None


# --- OpenAI-compatible ------------------------------------------------------------------------


class ChatMessage(BaseModel):
    """A message of the conversation; `content` as text or as OpenAI's list of content parts."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request. Sampling options (temperature, top_p, ...) are accepted
    and ignored: the answer is the cited answer qa gives. qa's own `k`, `sources`, `since`,
    `until` and `as_of` may be passed too (the openai SDK's `extra_body`)."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    k: int | None = Field(default=None, ge=1, le=MAX_K)
    sources: list[str] | None = None
    since: date | None = None
    until: date | None = None
    as_of: date | None = Field(default=None, description=AS_OF)


class UrlCitation(BaseModel):
    start_index: int = Field(description="Where the marker (e.g. [1]) starts in the content.")
    end_index: int = Field(description="Where the marker ends (exclusive).")
    url: str = Field(description="The article's URL, else its address in this API.")
    title: str


class Annotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class CitedSentence(BaseModel):
    """A citation of the content: the stored sentence a marker [n] points at."""

    n: int
    doc_id: str
    sentence_id: str
    start: int = Field(description="Character offset of the sentence in the article's text.")
    end: int
    text: str
    title: str
    url: str


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None
    annotations: list[Annotation] = Field(default_factory=list)
    citations: list[CitedSentence] = Field(default_factory=list)


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "qa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
