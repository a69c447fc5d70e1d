"""The Timeline tab: dated events about a query across the articles (`QA.timeline`), in date
order, each a cited sentence with every outlet that reported it, their dates and sentence ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from qa.types import Timeline
from qa.web.common import PRIVATE, failure_html, parse_day
from qa.web.render import error_html, panel_message
from qa.web.render import escape as _e

if TYPE_CHECKING:
    from qa.service import QA


def timeline_html(t: Timeline) -> str:
    """The events as a list, each with its date, sentence, and its reports (outlet, date, id);
    every outside string escaped."""
    if not t.events:
        return panel_message("No dated events found for this query.")
    window = ""
    if t.since or t.until:
        window = f" published {_e(t.since or '…')} to {_e(t.until or '…')}"
    rows = []
    for e in t.events:
        how = "named in the sentence" if e.dated_by == "sentence" else "publication date"
        reports = "".join(
            f'<li class="qa-src-meta" title="{_e(c.title)}">[{c.n}] {_e(c.source or c.doc_id)}, '
            f"{_e((c.published_at or '')[:10])} · {_e(c.sentence_id)}</li>"
            for c in e.citations
        )
        rows.append(
            f'<li class="qa-tl-event"><b class="qa-nowrap" title="{_e(how)}">{_e(e.date)}</b> '
            f'<span class="qa-src-text">{_e(e.text)}</span>'
            f'<div class="qa-meta">reported by {_e(", ".join(e.sources))}</div>'
            f"<ul>{reports}</ul></li>"
        )
    return (f'<div class="qa-timeline"><div class="qa-lib-count">{len(t.events)} events'
            f"{window}</div><ol>{''.join(rows)}</ol></div>")


class _Timeline:
    def __init__(self, qa: QA) -> None:
        self.qa = qa

    def view(self, query: str, since: str, until: str, as_of: str) -> str:
        query = (query or "").strip()
        if not query:
            return error_html("Type what the timeline is about.")
        try:
            t = self.qa.timeline(query, since=parse_day(since, "'Since'"),
                                 until=parse_day(until, "'Until'"),
                                 as_of=parse_day(as_of, "'As of'"))
        except Exception as exc:
            return failure_html(self.qa, exc, "timeline", f"the timeline of {query!r}")
        return timeline_html(t)


def build(qa: QA) -> None:
    """Draw the tab (inside `gr.Tabs`) and wire its events."""
    handlers = _Timeline(qa)
    with gr.Tab("Timeline", id="timeline"):
        query = gr.Textbox(label="Story or topic", placeholder="e.g. the harbor bridge repairs",
                           elem_id="qa-tl-query")
        with gr.Row():
            since = gr.Textbox(label="Since (YYYY-MM-DD)", max_lines=1, elem_id="qa-tl-since")
            until = gr.Textbox(label="Until (YYYY-MM-DD)", max_lines=1, elem_id="qa-tl-until")
            as_of = gr.Textbox(label="As of (default today)", max_lines=1, elem_id="qa-tl-as-of")
        btn = gr.Button("Show timeline", variant="primary", elem_id="qa-timeline")
        out = gr.HTML(panel_message("Type a story or topic, then Show timeline."),
                      elem_id="qa-timeline-out")
    io = {"fn": handlers.view, "inputs": [query, since, until, as_of], "outputs": [out], **PRIVATE}
    btn.click(**io)
    query.submit(**io)
