"""The Compare tab: where sources agree and differ on a story or topic (`QA.compare`): the
conflicts (a number, date or name that differs, each side cited), the facts several sources
state, and the statements only one source makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import gradio as gr

from qa.types import Comparison, Statement
from qa.web.common import PRIVATE, failure_html
from qa.web.render import error_html, panel_message
from qa.web.render import escape as _e

if TYPE_CHECKING:
    from qa.service import QA


def _statement_html(s: Statement) -> str:
    day = (s.published_at or "")[:10]
    meta = " · ".join(p for p in (s.source or s.doc_id, day, s.sentence_id) if p)
    return (f'<li><span class="qa-src-text">{_e(s.text)}</span> '
            f'<span class="qa-src-meta" title="{_e(s.title)}">— {_e(meta)}</span></li>')


def _list(items: Sequence[str]) -> str:
    return f"<ul>{''.join(items)}</ul>" if items else '<div class="qa-meta">none</div>'


def comparison_html(c: Comparison) -> str:
    """The comparison as three sections, every sentence with its source, date and id."""
    conflicts = [
        f"<li><b>{_e(x.kind)}</b>: {_e(' vs '.join(', '.join(v) for v in x.values))}"
        f"<ul>{''.join(_statement_html(s) for s in x.statements)}</ul></li>"
        for x in c.conflicts
    ]
    agreed = [
        f"<li>{_e(', '.join(dict.fromkeys(s.source or s.doc_id for s in f.statements)))}"
        f"<ul>{''.join(_statement_html(s) for s in f.statements)}</ul></li>"
        for f in c.agreed
    ]
    one_sided = [_statement_html(s) for s in c.one_sided]
    return (
        f'<div class="qa-compare"><div class="qa-lib-count">Comparing {len(c.doc_ids)} articles: '
        f"{_e(', '.join(c.sources))}</div>"
        f"<h4>Conflicts ({len(conflicts)})</h4>{_list(conflicts)}"
        f"<h4>Agreed ({len(agreed)})</h4>{_list(agreed)}"
        f"<h4>Only one source ({len(one_sided)})</h4>{_list(one_sided)}</div>"
    )


class _Compare:
    def __init__(self, qa: QA) -> None:
        self.qa = qa

    def compare_view(self, query: str, doc_ids: str) -> str:
        query = (query or "").strip()
        ids = [d.strip() for d in (doc_ids or "").replace(",", " ").split() if d.strip()]
        if not query and not ids:
            return error_html("Type a story or topic, or two or more article ids.")
        try:
            c = self.qa.compare(query or None, ids or None)
        except Exception as exc:
            return failure_html(self.qa, exc, "compare", f"comparing {query!r} / {ids!r}")
        return comparison_html(c)


def build(qa: QA) -> None:
    """Draw the tab (inside `gr.Tabs`) and wire its events."""
    handlers = _Compare(qa)
    with gr.Tab("Compare", id="compare"):
        query = gr.Textbox(label="Story or topic", placeholder="e.g. the floods in the north",
                           elem_id="qa-c-query")
        ids = gr.Textbox(label="…or article ids (two or more, separated by spaces or commas)",
                         elem_id="qa-c-docs")
        btn = gr.Button("Compare", variant="primary", elem_id="qa-compare")
        out = gr.HTML(panel_message("Type a story or topic, then Compare."), elem_id="qa-compare-out")
    io = {"fn": handlers.compare_view, "inputs": [query, ids], "outputs": [out], **PRIVATE}
    btn.click(**io)
    query.submit(**io)
