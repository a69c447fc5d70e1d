"""The web app: Gradio Blocks over the QA service, with no answering logic of its own.

    qa serve                      # http://127.0.0.1:7860, or QA_HOST / QA_PORT / --host / --port
    QA_AUTH=user:password qa serve --host 0.0.0.0

This module composes the tabs and configures the queue and the launch options; `qa serve`
mounts the app at "/" beside the HTTP APIs with those options (qa.api.server). Each tab is a module
that draws its components and wires its own handlers: `chat` (streamed answers; citation chips
open the cited sentence, highlighted, in its article), `library` (articles, filters, delete,
upload or paste, through `uploads`), `summaries` (cited summaries of chosen articles or of a
query) and `settings_tab` (mode, number of sources, source and date filters). `api` holds the
named endpoints for `gradio_client`; `render` builds all HTML and Markdown, escaping every
outside string; `assets/` holds the CSS and the JS snippets; `common` what these share.

Queue and concurrency
---------------------
`ANSWER_CONCURRENCY = 8` workers answer at once (chat, `/ask`, `/ask_stream`, `/summarize`,
`/articles`); ingest and delete form one `write` group of 1. Why 8: an extractive answer is
CPU-bound (one query embedding, BM25, Chroma reads) and the target machine has two cores, so
more parallel extractive answers only contend; with an LLM each answer mostly waits on the
provider, and 8 in flight hide that wait (the load test's figures: bench/load.py). Writes are
one at a time because the store serializes them under its own lock anyway and embedding a batch
of articles already uses every core. The queue holds up to `QUEUE_MAX_SIZE` = 256 waiting events
before refusing new ones with a "queue full" message.

Safety
------
Binds 127.0.0.1 unless told otherwise; `QA_AUTH=user:password` turns on Gradio's login, and
binding any other address without it prints a warning. Upload limits: see `qa.web.uploads`.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.errors import ConfigError
from qa.web import api, chat, compare, library, settings_tab, summaries, timeline
from qa.web.common import Shared, asset
from qa.web.render import header_html

if TYPE_CHECKING:
    from qa.service import QA

__all__ = ["ANSWER_CONCURRENCY", "build_app", "exposed_warning", "launch_options"]

ANSWER_CONCURRENCY = 8  # see "Queue and concurrency" above
QUEUE_MAX_SIZE = 256

THEME = gr.themes.Soft(
    primary_hue="indigo",
    # System fonts: the default theme fetches Google Fonts, which an offline server cannot.
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


def build_app(qa: QA) -> gr.Blocks:
    """The Blocks app over `qa`, queue configured; `launch` (or a test) starts it."""
    with gr.Blocks(title="Ask the news", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.HTML(header_html(qa.describe(public=True)), elem_id="qa-about")  # no server paths
        mode, k, sources, since, until = settings_tab.controls(qa.settings)
        shared = Shared(mode, k, sources, since, until, docs=summaries.picker())
        with gr.Tabs():
            chat.build(qa, shared)
            refresh = library.build(qa, shared)
            summaries.build(qa, shared)
            compare.build(qa)  # where sources agree and differ (qa.stories)
            timeline.build(qa)  # dated events across outlets (qa.answer.timeline)
            settings_tab.build(shared)
        app.load(**refresh)
        api.register(qa)
    app.queue(default_concurrency_limit=ANSWER_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    return app


def launch_options(qa: QA) -> dict[str, Any]:
    """The keyword arguments `launch` passes to `Blocks.launch` (tests reuse them)."""
    s = qa.settings
    options: dict[str, Any] = {
        "server_name": s.host,
        "server_port": s.port,
        "max_file_size": s.max_file_bytes,
        "theme": THEME,
        "css": asset("app.css"),
        "footer_links": ["api"],
        "show_error": False,
    }
    if s.auth:
        user, sep, password = s.auth.partition(":")
        if not sep or not user or not password:
            raise ConfigError("QA_AUTH must look like user:password.", help="Example: QA_AUTH=alice:s3cret")
        options["auth"] = (user, password)
        options["auth_message"] = "Sign in to ask the news."
    return options


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposed_warning(settings: Any, *, apis: bool = True) -> str | None:
    """The warning to print when the server binds a non-loopback address without a login (the
    web app's QA_AUTH) or, with `apis`, without an API token (QA_API_TOKEN); None if safe."""
    if _is_loopback(settings.host):
        return None
    missing = []
    if not settings.auth:
        missing.append("the web app has no login (set QA_AUTH=user:password)")
    if apis and not settings.api_token:
        missing.append("the APIs have no token (set QA_API_TOKEN)")
    if not missing:
        return None
    return (
        f"warning: serving on {settings.host} and " + " and ".join(missing) + ": anyone who can "
        "reach this address can read, add and delete articles."
    )
