"""The Chat tab: a conversation answered as it streams, its citation chips opening the cited
sentence highlighted in its article, a new-conversation button and the Markdown export.

The answering is `QA.condense` (shown as "searched as" before the answer streams) and then
`QA.chat_stream`, which records the turn in the conversation.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.answer.conversation import Conversation, Turn
from qa.errors import QAError
from qa.web.common import (
    PRIVATE,
    Shared,
    ask_kwargs,
    asset,
    event_data,
    parse_day,
    source_panel,
    told,
)
from qa.web.render import SOURCE_EMPTY, conversation_markdown, transcript_html

if TYPE_CHECKING:
    from qa.service import QA

logger = logging.getLogger(__name__)

EXPORT_TTL_S = 3600  # seconds an exported conversation file is kept on the server


class _Chat:
    """The tab's handlers over one QA, with the folder its exports are written to."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa
        self.export_dir = Path(tempfile.mkdtemp(prefix="qa-exports-"))

    def write_export(self, turns: Sequence[Turn]) -> Path:
        # A fresh name per answer: Gradio copies the file into its own cache when it is returned,
        # so older exports are only litter after that and are swept here.
        now = datetime.now().timestamp()
        for old in self.export_dir.glob("conversation-*.md"):
            if now - old.stat().st_mtime > EXPORT_TTL_S:
                old.unlink(missing_ok=True)
        path = self.export_dir / f"conversation-{uuid.uuid4().hex[:12]}.md"
        path.write_text(conversation_markdown(turns), encoding="utf-8")
        return path

    def chat(
        self,
        question: str,
        conv: Conversation,
        mode: str,
        k: Any,
        sources: list[str] | None,
        since: Any,
        until: Any,
        as_of: Any = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one turn: (transcript, conversation, question box, export button) updates."""
        question = (question or "").strip()
        if not question:
            yield gr.skip(), conv, gr.skip(), gr.skip()
            return
        try:
            kw = ask_kwargs(self.qa.settings, mode, k, sources, since, until)
            # "latest", "last week" are read as of this day (today when empty).
            kw["as_of"] = parse_day(as_of, "'As of'")
            standalone = self.qa.condense(conv, question, mode or None)
            yield transcript_html(conv.turns, pending=(question, standalone, "")), conv, "", gr.skip()
            so_far = ""
            for piece in self.qa.chat_stream(conv, question, standalone=standalone, **kw):
                if isinstance(piece, str):
                    so_far += piece
                    pending = (question, standalone, so_far)
                    yield transcript_html(conv.turns, pending=pending), conv, "", gr.skip()
            path = self.write_export(conv.turns)
            export = gr.DownloadButton(value=str(path), interactive=True)
            yield transcript_html(conv.turns), conv, "", export
        except QAError as exc:
            err = (question, told(self.qa, exc, "chat"))
            yield transcript_html(conv.turns, error=err), conv, question, gr.skip()
        except Exception:
            logger.exception("answering %r failed", question)
            err = (question, "Something went wrong while answering; the server log has details.")
            yield transcript_html(conv.turns, error=err), conv, question, gr.skip()

    def open_citation(self, conv: Conversation, evt: gr.EventData) -> str:
        data = event_data(evt)
        try:
            turn, n = int(data.get("turn", -1)), int(data.get("n", -1))
        except (TypeError, ValueError):
            return SOURCE_EMPTY
        if not 0 <= turn < len(conv.turns):
            return SOURCE_EMPTY
        answer = conv.turns[turn].answer
        cites = answer.related if data.get("kind") == "related" else answer.citations
        return source_panel(self.qa, cites, n)

    @staticmethod
    def new_conversation() -> tuple[Any, ...]:
        return (
            transcript_html([]),
            Conversation(),
            SOURCE_EMPTY,
            gr.DownloadButton(value=None, interactive=False),
            "",
        )


def build(qa: QA, shared: Shared) -> None:
    """Draw the tab (inside `gr.Tabs`) and wire its events; it reads the Settings controls."""
    handlers = _Chat(qa)
    with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
        conv_state = gr.State(Conversation())
        with gr.Column(scale=3):
            transcript = gr.HTML(
                transcript_html([]),
                elem_id="qa-transcript",
                js_on_load=asset("transcript.js"),
                max_height=640,
                autoscroll=True,
            )
            with gr.Row():
                question = gr.Textbox(
                    placeholder="Ask a question about the articles…",
                    show_label=False,
                    lines=1,
                    max_lines=6,
                    scale=6,
                    elem_id="qa-question",
                )
                ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
            with gr.Row():
                new_btn = gr.Button("New conversation", size="sm", elem_id="qa-new")
                export_btn = gr.DownloadButton(
                    "Export as Markdown", size="sm", interactive=False, elem_id="qa-export"
                )
                as_of = gr.Textbox(
                    placeholder="As of (YYYY-MM-DD; default today)",
                    show_label=False,
                    max_lines=1,
                    elem_id="qa-as-of",
                )
        with gr.Column(scale=2):
            source = gr.HTML(SOURCE_EMPTY, elem_id="qa-source", js_on_load=asset("source.js"))

    chat_io: dict[str, Any] = {
        "fn": handlers.chat,
        "inputs": [question, conv_state, *shared.ask_inputs, as_of],
        "outputs": [transcript, conv_state, question, export_btn],
        "show_progress": "hidden",
        **PRIVATE,
    }
    question.submit(**chat_io)
    ask_btn.click(**chat_io)
    transcript.click(handlers.open_citation, [conv_state], [source], **PRIVATE)
    new_btn.click(
        handlers.new_conversation, None, [transcript, conv_state, source, export_btn, question], **PRIVATE
    )
