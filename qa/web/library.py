"""The Library tab: the stored articles with filters, reading and deleting one, and adding files,
pasted text, web pages by URL and feeds (with each feed's last refresh, new and failed items).

Filtering is `QA.list(query=..., sources=..., since=..., until=...)`; uploads and pasted text go
through `qa.web.uploads`; URLs through `QA.ingest_urls` and feeds through `QA.feeds_*` (the
server fetches them, under the address checks of `qa.ingest.fetch`). Every change to the
library redraws the table and the article and source pickers of the other tabs (`refresh`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from qa.web.render import escape as _e
from qa.web.uploads import MAX_FILES, ingest_pasted, ingest_uploads, mb

if TYPE_CHECKING:
    from qa.ingest.feeds import FeedInfo, FeedReport
    from qa.service import QA

MAX_URLS = 50  # URLs fetched per click: each may take a request timeout and a per-host delay


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

    def add_urls(self, text: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Fetch the pasted URLs (one a line) and add their articles: (results, the textbox)."""
        urls = [u.strip() for u in (text or "").splitlines() if u.strip()]
        if not urls:
            return error_html("Paste one or more web page URLs (http or https), one a line."), gr.skip()
        if len(urls) > MAX_URLS:
            return error_html(f"{len(urls)} URLs: at most {MAX_URLS} at a time."), gr.skip()

        def report(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"Fetching and embedding ({name[:60]})", unit="pages")

        try:
            results = self.qa.ingest_urls(urls, progress=report)
        except PartialIngest as exc:
            return ingest_results_html(exc.results) + error_html(told(self.qa, exc, "adding URLs")), gr.skip()
        except QAError as exc:
            return error_html(told(self.qa, exc, "adding URLs")), gr.skip()
        failed = any(r.status == "failed" for r in results)
        return ingest_results_html(results), gr.skip() if failed else ""

    def feeds(self) -> str:
        try:
            return feeds_html(self.qa.feeds_list())
        except QAError as exc:
            return error_html(told(self.qa, exc, "listing feeds"))

    def add_feed(self, url: str, name: str) -> tuple[Any, ...]:
        """(message, feeds table, url box, name box)."""
        try:
            feed = self.qa.feeds_add(url, name or None)
        except QAError as exc:
            return error_html(told(self.qa, exc, "adding a feed")), gr.skip(), gr.skip(), gr.skip()
        note = panel_message(f"Added the feed {feed.name}. Refresh feeds to fetch its items.")
        return note, self.feeds(), "", ""

    def remove_feed(self, url_or_name: str) -> tuple[Any, ...]:
        try:
            feed = self.qa.feeds_remove(url_or_name)
        except QAError as exc:
            return error_html(told(self.qa, exc, "removing a feed")), gr.skip(), gr.skip()
        note = panel_message(f"Removed the feed {feed.name}; its articles stay in the library.")
        return note, self.feeds(), ""

    def refresh_feeds(self, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Fetch every feed now: (per-feed and per-item report, feeds table)."""
        def report(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"Fetching feed items ({name[:60]})", unit="items")

        try:
            reports = self.qa.feeds_refresh(progress=report)
        except PartialIngest as exc:
            said = error_html(told(self.qa, exc, "refreshing feeds"))
            return ingest_results_html(exc.results) + said, self.feeds()
        except QAError as exc:
            return error_html(told(self.qa, exc, "refreshing feeds")), self.feeds()
        return feed_reports_html(reports), self.feeds()

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
    with gr.Accordion("Add web pages by URL", open=False):
        u_text = gr.Textbox(label="URLs (http or https, one a line)", lines=3, elem_id="qa-urls",
                            placeholder="https://news.example/2024/03/01/story")
        urls_btn = gr.Button("Fetch and add", elem_id="qa-add-urls")
    with gr.Accordion("Feeds (RSS and Atom)", open=False):
        with gr.Row():
            f_url = gr.Textbox(label="Feed URL", scale=3, elem_id="qa-feed-url")
            f_name = gr.Textbox(label="Name (optional)", scale=1, elem_id="qa-feed-name")
        with gr.Row():
            feed_btn = gr.Button("Add feed", size="sm", elem_id="qa-add-feed")
            refresh_btn = gr.Button("Refresh feeds now", size="sm", elem_id="qa-refresh-feeds")
        with gr.Row():
            f_remove = gr.Textbox(label="Remove the feed (name or URL)", scale=3)
            remove_btn = gr.Button("Remove", size="sm", variant="stop", scale=1)
        feeds_table = gr.HTML(handlers.feeds, elem_id="qa-feeds")  # a callable: read on each page load
    results = gr.HTML("", elem_id="qa-ingest-results")
    upload_btn.click(handlers.upload, [files], [results, files], **WRITE, **PRIVATE).then(**refresh_io)
    paste_btn.click(
        handlers.paste, [p_text, p_title, p_source, p_date], [results, p_text], **WRITE, **PRIVATE
    ).then(**refresh_io)
    urls_btn.click(handlers.add_urls, [u_text], [results, u_text], **WRITE, **PRIVATE).then(**refresh_io)
    feed_btn.click(handlers.add_feed, [f_url, f_name], [results, feeds_table, f_url, f_name], **PRIVATE)
    remove_btn.click(handlers.remove_feed, [f_remove], [results, feeds_table, f_remove], **PRIVATE)
    refresh_btn.click(
        handlers.refresh_feeds, None, [results, feeds_table], **WRITE, **PRIVATE
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


def feeds_html(feeds: Sequence[FeedInfo]) -> str:
    """The feeds table: name, URL, last refresh and its outcome, new and failed items."""
    if not feeds:
        return panel_message("No feeds yet. Add an RSS or Atom feed's URL above.")
    rows = []
    for f in feeds:
        when = (f.last_refresh or "never").replace("T", " ")[:16]
        status = f.last_status or ""
        error = f'<div class="qa-why">{_e(f.last_error)}</div>' if f.last_error else ""
        # The table sits in the tab's narrow right column: the URL may break anywhere and the
        # outcome goes under its date, so the counts stay on screen instead of being cut off.
        rows.append(
            f'<tr><td>{_e(f.name)}<div class="qa-docid" style="overflow-wrap:anywhere">{_e(f.url)}</div></td>'
            f'<td>{_e(when)}<div class="qa-why">{_e(status)}</div>{error}</td>'
            f'<td class="qa-num">{f.last_new}</td><td class="qa-num">{f.last_failed}</td>'
            f'<td class="qa-num">{f.items}</td></tr>'
        )
    return (
        '<table class="qa-table"><thead><tr><th>Feed</th><th>Last refresh</th>'
        "<th>New</th><th>Failed</th><th>Articles</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def feed_reports_html(reports: Sequence[FeedReport]) -> str:
    """What a refresh did: a line per feed, then its items' results."""
    if not reports:
        return panel_message("No feeds to refresh.")
    parts = []
    for r in reports:
        if r.status == "refreshed":
            head = f"{r.feed.name}: {r.feed.last_new} new, {r.feed.last_failed} failed"
        else:
            head = f"{r.feed.name}: {r.status}" + (f" ({r.reason})" if r.reason else "")
        parts.append(f'<div class="qa-lib-count">{_e(head)}</div>')
        if r.items:
            parts.append(ingest_results_html(r.items))
    return "".join(parts)
