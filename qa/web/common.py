"""What the tabs and the API handlers share: form values turned into service arguments, the
components several tabs use, the event options, the source panel and the asset files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.errors import InputError, NotFoundError, QAError
from qa.settings import Settings
from qa.types import Citation
from qa.web.render import SOURCE_EMPTY, article_html, error_html, panel_message

if TYPE_CHECKING:
    from qa.service import QA

# UI events are not part of the public API; writes (ingest, delete) run one at a time.
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
WRITE: dict[str, Any] = {"concurrency_id": "write", "concurrency_limit": 1}


def asset(name: str) -> str:
    """The text of one of the files in qa/web/assets/ (the CSS and the JS snippets)."""
    return (files("qa.web") / "assets" / name).read_text(encoding="utf-8")


@dataclass
class Shared:
    """Components one tab owns and others read: the Settings tab's answer options (the chat and
    the summaries read them) and the Summaries tab's article picker (the library refreshes it).
    They are made unrendered first and rendered by their own tab."""

    mode: gr.Radio
    k: gr.Slider
    sources: gr.Dropdown
    since: gr.DateTime
    until: gr.DateTime
    docs: gr.Dropdown

    @property
    def ask_inputs(self) -> list[Any]:
        """The inputs `ask_kwargs` takes, in its order."""
        return [self.mode, self.k, self.sources, self.since, self.until]


def parse_day(value: Any, name: str) -> date | None:
    """A form's date (ISO text, or a timestamp from gr.DateTime), None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"{name} must be a date like 2023-09-11, not {str(value)!r}.") from None


def mode_kwargs(settings: Settings, mode: str | None) -> dict[str, Any]:
    if mode == "llm" and not settings.llm_configured:
        raise InputError("LLM mode needs OPENAI_API_KEY or OPENAI_BASE_URL on the server.")
    return {"mode": mode} if mode else {}  # the service checks the name


def ask_kwargs(
    settings: Settings,
    mode: str | None,
    k: Any,
    sources: Sequence[str] | None,
    since: Any,
    until: Any,
) -> dict[str, Any]:
    """The keyword arguments of `QA.ask` from the form's (or the API's) values."""
    kw: dict[str, Any] = {
        "k": int(k) if k else None,
        "sources": list(sources) if sources else None,
        "since": parse_day(since, "'Since'"),
        "until": parse_day(until, "'Until'"),
    }
    return {**kw, **mode_kwargs(settings, mode)}


def event_data(evt: gr.EventData) -> dict[str, Any]:
    """What a js_on_load snippet sent with `trigger('click', {...})`."""
    return evt._data if isinstance(evt._data, dict) else {}


def source_panel(qa: QA, cites: Sequence[Citation], n: int) -> str:
    """Citation `n` of `cites` in its article, all of `cites` from that article highlighted."""
    chosen = next((c for c in cites if c.n == n), None)
    if chosen is None:
        return SOURCE_EMPTY
    try:
        article = qa.get(chosen.doc_id)
    except NotFoundError:
        return panel_message(
            f"[{n}] “{chosen.text}” came from {chosen.title or chosen.doc_id}, "
            "which is no longer in the library."
        )
    except QAError as exc:
        return error_html(exc.user_message())
    return article_html(article, cites, n, heading=f"Source [{n}]")
