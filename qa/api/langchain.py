"""qa in LangChain: a retriever of cited evidence sentences, and the cited answer as a runnable.

`QARetriever` is a `BaseRetriever`: one `Document` per evidence sentence, its metadata naming
the article, the sentence and its character span, so a chain downstream can still cite exactly.
`QAAnswerRunnable` (or `qa_answer_chain(qa)`) runs `QA.ask` as a `Runnable`: a question in, the
cited `Answer` (or its dict) out.

>>> retriever = QARetriever(qa=QA(), k=3)                             # doctest: +SKIP
>>> retriever.invoke("Why is Armenia drifting from Moscow?")[0].metadata["sentence_id"]  # doctest: +SKIP
>>> qa_answer_chain(QA()).invoke({"question": "Why is Armenia drifting from Moscow?"})  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, Field, model_validator

from qa.errors import InputError
from qa.service import QA, check_k
from qa.settings import Settings
from qa.types import Answer, Evidence

__all__ = ["QAAnswerRunnable", "QARetriever", "qa_answer_chain"]


def _qa_from(values: Any) -> Any:
    """Build the QA from `settings` when none is given (QA_* environment variables if neither)."""
    if isinstance(values, dict) and values.get("qa") is None:
        values = {**values, "qa": QA(values.get("settings") or Settings())}
    return values


class QARetriever(BaseRetriever):
    """The sentences of the library that answer a query, one `Document` each, best first.

    `k=None` (the default) returns exactly the sentences `QA.ask` would cite (the same evidence
    selection, so the same citations as `qa ask --json`); `k=n` returns the n most relevant
    sentences: the cited ones first, then the next candidates, fewer only when the library holds
    fewer. `invoke(query, k=n)` overrides `k` for one call.

    Metadata of each Document: doc_id, sentence_id, start, end (span in the article's stored
    text), title, source, published_at, date (YYYY-MM-DD), url, score (relevance), and
    cited (True when an answer would cite it).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: QA = Field(default=None, description="The library to search (default: built from settings).")  # type: ignore[assignment]
    settings: Settings | None = Field(default=None, exclude=True)
    k: int | None = Field(default=None, description="Sentences returned; None: those an answer cites.")
    sources: list[str] | None = None
    since: date | None = None
    until: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _build_qa(cls, values: Any) -> Any:
        return _qa_from(values)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = check_k(kwargs.pop("k", self.k))
        kwargs.pop("verbose", None)  # BaseRetriever.invoke passes its own options on too
        if kwargs:
            raise InputError(f"QARetriever takes k, not {', '.join(sorted(kwargs))}.")
        r = self.qa.retrieve(query, k=k, sources=self.sources, since=self.since, until=self.until)
        cited = {e.sentence.sentence_id for e in r.evidence}
        found = list(r.evidence)
        if k is not None:
            found += [e for e in r.candidates if e.sentence.sentence_id not in cited]
            found = found[:k]
        urls = self._urls({e.sentence.doc_id for e in found})
        return [_document(e, e.sentence.sentence_id in cited, urls.get(e.sentence.doc_id))
                for e in found]

    def _urls(self, doc_ids: set[str]) -> dict[str, str | None]:
        # Evidence carries no URL; the listing is the catalog held in memory, read at no cost
        # beyond building its rows.
        if not doc_ids:
            return {}
        return {a.doc_id: a.url for a in self.qa.list() if a.doc_id in doc_ids}


def _document(e: Evidence, cited: bool, url: str | None) -> Document:
    s = e.sentence
    return Document(
        page_content=s.text,
        id=s.sentence_id,
        metadata={
            "doc_id": s.doc_id,
            "sentence_id": s.sentence_id,
            "start": s.start,
            "end": s.end,
            "title": e.title,
            "source": e.source,
            "published_at": e.published_at,
            "date": (e.published_at or "")[:10] or None,
            "url": url,
            "score": e.score,
            "cited": cited,
        },
    )


class QAAnswerRunnable(RunnableSerializable[Any, Any]):
    """`QA.ask` as a Runnable. Input: a question string, or a dict with "question" (and any of
    k, sources, since, until, mode). Output: the `Answer` (answer text with [n] markers, its
    citations with doc id, sentence id and span), or with `as_dict=True` its JSON dict, the
    same as `qa ask --json` prints."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: QA = Field(default=None)  # type: ignore[assignment]
    settings: Settings | None = Field(default=None, exclude=True)
    as_dict: bool = False
    mode: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _build_qa(cls, values: Any) -> Any:
        return _qa_from(values)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._ask, input, config)

    def _ask(self, input: Any) -> Answer | dict[str, Any]:
        if isinstance(input, str):
            question, options = input, {}
        elif isinstance(input, dict) and isinstance(input.get("question"), str):
            options = {k: v for k, v in input.items() if k != "question"}
            question = input["question"]
            unknown = set(options) - {"k", "sources", "since", "until", "mode"}
            if unknown:
                raise InputError(f"Unknown input {', '.join(sorted(unknown))}: the answer "
                                 "takes question, k, sources, since, until and mode.")
            for name in ("since", "until"):
                if isinstance(options.get(name), str):
                    options[name] = _day(options[name], name)
        else:
            raise InputError('Give a question: a string, or {"question": "..."}.')
        options.setdefault("mode", self.mode)
        answer = self.qa.ask(question, **options)
        return answer.model_dump(mode="json") if self.as_dict else answer


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} must be a date like 2023-09-11, not {value!r}.") from None


def qa_answer_chain(
    qa: QA | None = None, *, as_dict: bool = False, mode: str | None = None
) -> QAAnswerRunnable:
    """The cited answer as a runnable over `qa` (default: a QA from the QA_* settings)."""
    return QAAnswerRunnable(qa=qa or QA(), as_dict=as_dict, mode=mode)
