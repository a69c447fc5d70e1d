"""What the tabs and the API handlers share: form values turned into service arguments, the
components several tabs use, the event options, the source panel and the asset files."""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)

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


def told(qa: QA, exc: QAError, action: str) -> str:
    """What a web user is shown for an error qa raised on purpose, with one line in the server
    log: bad input (info) or a service the server relies on failing (warning) is not a bug in
    qa, so no traceback (unexpected exceptions keep theirs). The paths and the URL of the
    server's set-up are shown to web users by the name of their setting, never as they are."""
    level = logging.INFO if isinstance(exc, InputError | NotFoundError) else logging.WARNING
    logger.log(level, "%s: %s: %s", action, type(exc).__name__, " ".join(str(exc).split()))
    return without_server_paths(qa.settings, exc.user_message())


GENERIC_FAILURE = "Something went wrong; the server log has details."


def failure_html(qa: QA, exc: Exception, action: str, what: str) -> str:
    """The error panel of a tab whose `action` failed: qa's own errors as `told`; anything else
    is a bug, logged with its traceback (`what` names the request) and shown as a generic line."""
    if isinstance(exc, QAError):
        return error_html(told(qa, exc, action))
    logger.error("%s failed", what, exc_info=exc)
    return error_html(GENERIC_FAILURE)


def api_error(qa: QA, exc: QAError, action: str) -> gr.Error:
    """The error an API endpoint raises for a QAError: its message for the client, one line in
    the log (`told`), and no traceback printed by Gradio."""
    return gr.Error(told(qa, exc, action), print_exception=False)


def without_server_paths(settings: Settings, text: str) -> str:
    """`text` with the server's data folders and Chroma URL named by their settings."""
    for value, name in (
        (settings.chroma_url, "QA_CHROMA_URL"),
        (str(settings.model_cache_dir), "QA_MODEL_CACHE"),
        (str(settings.home.resolve()), "QA_HOME"),
        (str(settings.home), "QA_HOME"),
    ):
        if value:
            text = text.replace(value, name)
    return text


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


def parse_k(value: Any) -> Any:
    """The form's (or the API's) number of sources: None when empty (the default), a whole
    number as an int, anything else as given for `QA.ask` to refuse by name; 0 is refused
    like -1, never read as "the default"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    return value


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
        "k": parse_k(k),
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
        return error_html(told(qa, exc, "opening a citation"))
    return article_html(article, cites, n, heading=f"Source [{n}]")
