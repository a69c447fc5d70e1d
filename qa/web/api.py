"""The named HTTP API endpoints, for `gradio_client` (see README): JSON in, JSON out.

`/ask`, `/ask_stream`, `/summarize`, `/articles`, `/ingest_text` and `/ingest` (files). Each is
one call of the QA service; a QAError comes back as a `gr.Error` carrying its message. The UI's
own events are private and not part of this API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.errors import InputError, QAError
from qa.types import Answer, IngestResult
from qa.web.common import WRITE, api_error, ask_kwargs, mode_kwargs, parse_day
from qa.web.uploads import ingest_pasted, ingest_uploads

if TYPE_CHECKING:
    from qa.service import QA


def result_json(r: IngestResult) -> dict[str, Any]:
    # "file", not "path": gradio_client takes any {"path": str} it receives for a file to fetch.
    data = r.model_dump(mode="json")
    data["file"] = data.pop("path")
    return data


class _Api:
    """The endpoints' handlers over one QA (their signatures are the endpoints' parameters)."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa

    def ask(
        self,
        question: str,
        k: int | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        mode: str | None = None,
        as_of: str | None = None,
    ) -> dict:
        """Answer a question with cited sentences (the Answer record as JSON); `as_of`
        (YYYY-MM-DD) is the day time words such as "latest" are read from."""
        try:
            kw = ask_kwargs(self.qa.settings, mode, k, sources, since, until)
            # Last and optional, so that clients written before it keep working.
            kw["as_of"] = parse_day(as_of, "'As of'")
            return self.qa.ask(question, **kw).model_dump(mode="json")
        except QAError as exc:
            raise api_error(self.qa, exc, "/ask") from exc

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        mode: str | None = None,
        as_of: str | None = None,
    ) -> Iterator[dict]:
        """Stream an answer: {"text": so far, "done": false} ..., then the final
        {"text", "done": true, "answer": Answer JSON}."""
        try:
            so_far = ""
            kw = ask_kwargs(self.qa.settings, mode, k, sources, since, until)
            # Last and optional, so that clients written before it keep working.
            kw["as_of"] = parse_day(as_of, "'As of'")
            for piece in self.qa.ask_stream(question, **kw):
                if isinstance(piece, Answer):
                    yield {"text": piece.answer, "done": True, "answer": piece.model_dump(mode="json")}
                else:
                    so_far += piece
                    yield {"text": so_far, "done": False, "answer": None}
        except QAError as exc:
            raise api_error(self.qa, exc, "/ask_stream") from exc

    def summarize(
        self, doc_ids: list[str] | None = None, query: str | None = None, mode: str | None = None
    ) -> dict:
        """A cited summary of the given articles, or of what the query finds (Summary JSON)."""
        try:
            if not doc_ids and not (query or "").strip():
                raise InputError("Give doc_ids or a query.")
            s = self.qa.summarize(doc_ids or [], query=query or None, **mode_kwargs(self.qa.settings, mode))
            return s.model_dump(mode="json")
        except QAError as exc:
            raise api_error(self.qa, exc, "/summarize") from exc

    def articles(self) -> list[dict]:
        """The stored articles (ArticleInfo JSON, without text)."""
        try:
            return [r.model_dump(mode="json") for r in self.qa.list()]
        except QAError as exc:
            raise api_error(self.qa, exc, "/articles") from exc

    def ingest_text(
        self, text: str, title: str = "", source: str = "", published_at: str | None = None
    ) -> list[dict]:
        """Add one article from its text; returns the IngestResult records."""
        try:
            return [result_json(r) for r in ingest_pasted(self.qa, text, title, source, published_at or "")]
        except QAError as exc:
            raise api_error(self.qa, exc, "/ingest_text") from exc

    def ingest(self, files: Any) -> list[dict]:
        try:
            results, _ = ingest_uploads(self.qa, files, None)
        except QAError as exc:
            raise api_error(self.qa, exc, "/ingest") from exc
        return [result_json(r) for r in results]


def register(qa: QA) -> None:
    """Add the named endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    api = _Api(qa)
    gr.api(api.ask, api_name="ask")
    gr.api(api.ask_stream, api_name="ask_stream")
    gr.api(api.summarize, api_name="summarize")
    gr.api(api.articles, api_name="articles")
    gr.api(api.ingest_text, api_name="ingest_text", **WRITE)
    # Files need a File component to be checked (size, type) before the handler sees them.
    files = gr.File(file_count="multiple", type="filepath", visible=False, label="files")
    result = gr.JSON(visible=False, label="results")
    trigger = gr.Button(visible=False)
    trigger.click(
        api.ingest,
        [files],
        [result],
        api_name="ingest",
        api_description="Add files (txt, md, html, jsonl); returns one IngestResult per article or failure.",
        **WRITE,
    )
