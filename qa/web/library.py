"""The Library tab: the stored articles with filters, reading and deleting one, and adding files
or pasted text.

Filtering is `QA.list(query=..., sources=..., since=..., until=...)`; uploads and pasted text go
through `qa.web.uploads`. Every change to the library redraws the table and the article and
source pickers of the other tabs (`refresh`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.errors import PartialIngest, QAError
from qa.web.common import PRIVATE, WRITE, Shared, asset, event_data, parse_day, told
from qa.web.render import (
    article_choices,
    article_html,
    confirm_html,
    error_html,
    ingest_results_html,
    library_html,
    panel_message,
)
from qa.web.uploads import MAX_FILES, ingest_pasted, ingest_uploads, mb

if TYPE_CHECKING:
    from qa.service import QA


class _Library:
    """The tab's handlers over one QA."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa

    def refresh(
        self,
        text: str,
        lib_sources: list[str] | None,
        since: Any,
        until: Any,
        picked: list[str] | None,
        ask_sources: list[str] | None,
    ) -> tuple[Any, ...]:
        """(table, library's source filter, Summaries' article picker, Settings' sources)."""
        try:
            rows = self.qa.list()
        except QAError as exc:
            msg = error_html(told(self.qa, exc, "listing the library"))
            return msg, gr.skip(), gr.skip(), gr.skip()
        try:
            shown = self.qa.list(
                query=text,
                sources=lib_sources,
                since=parse_day(since, "'Since'"),
                until=parse_day(until, "'Until'"),
            )
            table = library_html(shown, len(rows))
        except QAError as exc:
            table = error_html(told(self.qa, exc, "filtering the library"))
        all_sources = sorted({r.source for r in rows if r.source})
        ids = {r.doc_id for r in rows}
        return (
            table,
            gr.Dropdown(choices=all_sources, value=[s for s in lib_sources or [] if s in all_sources]),
            gr.Dropdown(choices=article_choices(rows), value=[d for d in picked or [] if d in ids]),
            gr.Dropdown(choices=all_sources, value=[s for s in ask_sources or [] if s in all_sources]),
        )

    def upload(self, files: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        def report(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"Embedding articles ({name})", unit="articles")

        try:
            progress(0, desc="Reading files")
            results, note = ingest_uploads(self.qa, files, report)
        except PartialIngest as exc:  # each file stored before the store failed, then why
            return ingest_results_html(exc.results) + error_html(told(self.qa, exc, "upload")), gr.skip()
        except QAError as exc:
            return error_html(told(self.qa, exc, "upload")), gr.skip()
        return ingest_results_html(results, note), None

    def paste(self, text: str, title: str, source: str, day: str) -> tuple[Any, ...]:
        try:
            results = ingest_pasted(self.qa, text, title, source, day)
        except QAError as exc:
            return error_html(told(self.qa, exc, "pasted text")), gr.skip()
        failed = any(r.status == "failed" for r in results)
        return ingest_results_html(results), gr.skip() if failed else ""

    def library_click(self, evt: gr.EventData) -> tuple[Any, ...]:
        """Read an article, or ask to confirm its deletion: (reader, confirm row, prompt, doc)."""
        data = event_data(evt)
        doc_id = str(data.get("doc_id") or "")
        if data.get("action") == "delete" and doc_id:
            try:
                title = self.qa.get(doc_id).title or doc_id
            except QAError as exc:
                return error_html(told(self.qa, exc, "deleting an article")), gr.skip(), gr.skip(), None
            prompt = confirm_html(f"Delete “{title}” ({doc_id}) and its sentences?")
            return gr.skip(), gr.Row(visible=True), prompt, doc_id
        try:
            article = self.qa.get(doc_id)
        except QAError as exc:
            return error_html(told(self.qa, exc, "reading an article")), gr.Row(visible=False), "", None
        return article_html(article, heading="Article"), gr.Row(visible=False), "", None

    def confirm_delete(self, doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            return gr.skip(), gr.Row(visible=False), None
        try:
            self.qa.delete(doc_id)
        except QAError as exc:
            return error_html(told(self.qa, exc, "deleting an article")), gr.Row(visible=False), None
        return panel_message(f"Deleted {doc_id}."), gr.Row(visible=False), None


@dataclass
class _Filters:
    text: gr.Textbox
    sources: gr.Dropdown
    since: gr.DateTime
    until: gr.DateTime


def _filters() -> _Filters:
    with gr.Row():
        return _Filters(
            text=gr.Textbox(label="Filter", placeholder="title, source or id", scale=2, elem_id="qa-filter"),
            sources=gr.Dropdown(label="Sources", choices=[], multiselect=True, scale=2),
            since=gr.DateTime(label="Since", include_time=False, type="string", scale=1, elem_id="qa-since"),
            until=gr.DateTime(label="Until", include_time=False, type="string", scale=1, elem_id="qa-until"),
        )


def _adding(handlers: _Library, refresh_io: dict[str, Any], max_file_bytes: int) -> None:
    """The column that adds files or pasted text, its events wired."""
    files = gr.File(
        label=f"Add files: .txt, .md, .html, .jsonl (up to {MAX_FILES} files, {mb(max_file_bytes)} each)",
        file_count="multiple",
        type="filepath",
        elem_id="qa-files",
    )
    upload_btn = gr.Button("Add to library", variant="primary", elem_id="qa-upload")
    with gr.Accordion("Paste an article", open=False):
        p_text = gr.Textbox(label="Text", lines=8, elem_id="qa-paste-text")
        p_title = gr.Textbox(label="Title (optional)")
        with gr.Row():
            p_source = gr.Textbox(label="Source (optional)")
            p_date = gr.Textbox(label="Date (optional)", placeholder="YYYY-MM-DD")
        paste_btn = gr.Button("Add pasted article", elem_id="qa-paste")
    results = gr.HTML("", elem_id="qa-ingest-results")
    upload_btn.click(handlers.upload, [files], [results, files], **WRITE, **PRIVATE).then(**refresh_io)
    paste_btn.click(
        handlers.paste, [p_text, p_title, p_source, p_date], [results, p_text], **WRITE, **PRIVATE
    ).then(**refresh_io)


def build(qa: QA, shared: Shared) -> dict[str, Any]:
    """Draw the tab (inside `gr.Tabs`) and wire its events. Returns the refresh event's
    arguments, for the app to run when a page loads."""
    handlers = _Library(qa)
    with gr.Tab("Library", id="library"), gr.Row(equal_height=False):
        pending_delete = gr.State(None)
        with gr.Column(scale=3):
            f = _filters()
            library = gr.HTML(panel_message("Loading…"), elem_id="qa-library", js_on_load=asset("library.js"))
            with gr.Row(visible=False) as confirm_row:
                confirm_text = gr.HTML("")
                confirm_btn = gr.Button("Delete", variant="stop", size="sm", elem_id="qa-confirm-delete")
                cancel_btn = gr.Button("Cancel", size="sm")
            reader = gr.HTML("", elem_id="qa-reader")
        refresh_io: dict[str, Any] = {
            "fn": handlers.refresh,
            "inputs": [f.text, f.sources, f.since, f.until, shared.docs, shared.sources],
            "outputs": [library, f.sources, shared.docs, shared.sources],
            **PRIVATE,
        }
        with gr.Column(scale=2):
            _adding(handlers, refresh_io, qa.settings.max_file_bytes)

    for control in (f.text, f.since, f.until):
        control.change(**refresh_io, show_progress="hidden")
    f.sources.input(**refresh_io, show_progress="hidden")
    library.click(
        handlers.library_click, None, [reader, confirm_row, confirm_text, pending_delete], **PRIVATE
    )
    confirm_btn.click(
        handlers.confirm_delete, [pending_delete], [reader, confirm_row, pending_delete], **WRITE, **PRIVATE
    ).then(**refresh_io)
    cancel_btn.click(lambda: (gr.Row(visible=False), None), None, [confirm_row, pending_delete], **PRIVATE)
    return refresh_io
