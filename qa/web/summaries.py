"""The Summaries tab: a cited summary of chosen articles, or of what a query finds, with the
same source panel as the chat. The summary is `QA.summarize` in the Settings tab's mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.types import Summary
from qa.web.common import PRIVATE, Shared, asset, event_data, failure_html, mode_kwargs, source_panel
from qa.web.render import SOURCE_EMPTY, error_html, panel_message, summary_html

if TYPE_CHECKING:
    from qa.service import QA

def picker() -> gr.Dropdown:
    """The article picker, not yet rendered (the Library tab keeps its choices current)."""
    return gr.Dropdown(label="Articles", choices=[], multiselect=True, elem_id="qa-s-docs", render=False)


class _Summaries:
    """The tab's handlers over one QA."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa

    def summarize_view(self, picked: list[str] | None, query: str, mode: str) -> tuple[Any, ...]:
        """(summary HTML, the Summary for the chips, the emptied source panel)."""
        query = (query or "").strip()
        if not picked and not query:
            return error_html("Pick one or more articles, or type what to summarize."), None, gr.skip()
        try:
            s = self.qa.summarize(picked or [], query=query or None, **mode_kwargs(self.qa.settings, mode))
        except Exception as exc:
            said = failure_html(self.qa, exc, "summary", f"summarizing {picked!r} / {query!r}")
            return said, None, gr.skip()
        return summary_html(s), s, SOURCE_EMPTY

    def open_summary_citation(self, s: Summary | None, evt: gr.EventData) -> str:
        data = event_data(evt)
        if s is None:
            return SOURCE_EMPTY
        try:
            n = int(data.get("n", -1))
        except (TypeError, ValueError):
            return SOURCE_EMPTY
        return source_panel(self.qa, s.citations, n)


def build(qa: QA, shared: Shared) -> None:
    """Draw the tab (inside `gr.Tabs`) and wire its events; it reads the Settings mode."""
    handlers = _Summaries(qa)
    with gr.Tab("Summaries", id="summaries"), gr.Row(equal_height=False):
        summary_state = gr.State(None)
        with gr.Column(scale=3):
            shared.docs.render()
            s_query = gr.Textbox(
                label="…or summarize what a query finds",
                placeholder="e.g. Armenia and Russia",
                elem_id="qa-s-query",
            )
            s_btn = gr.Button("Summarize", variant="primary", elem_id="qa-summarize")
            s_out = gr.HTML(
                panel_message("Pick articles or type a query, then Summarize."),
                elem_id="qa-summary",
                js_on_load=asset("transcript.js"),
            )
        with gr.Column(scale=2):
            s_source = gr.HTML(SOURCE_EMPTY, elem_id="qa-summary-source", js_on_load=asset("source.js"))

    summarize_io: dict[str, Any] = {
        "fn": handlers.summarize_view,
        "inputs": [shared.docs, s_query, shared.mode],
        "outputs": [s_out, summary_state, s_source],
        **PRIVATE,
    }
    s_btn.click(**summarize_io)
    s_query.submit(**summarize_io)
    s_out.click(handlers.open_summary_citation, [summary_state], [s_source], **PRIVATE)
