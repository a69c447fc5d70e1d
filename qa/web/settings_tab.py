"""The Settings tab: answer mode, number of sources, source and date filters.

Its controls have no handlers of their own: the Chat tab reads all of them with each question and
the Summaries tab reads the mode, so they are made first (`controls`) and drawn here (`build`).
"""

from __future__ import annotations

import gradio as gr

from qa.settings import Settings
from qa.web.common import Shared

INTRO = (
    '<div class="qa-about">These apply to every question asked in the Chat tab; '
    "the mode also applies to Summaries. In LLM mode each answer shows the tokens it "
    "used and, for known OpenAI models, its estimated cost.</div>"
)


def controls(settings: Settings) -> tuple[gr.Radio, gr.Slider, gr.Dropdown, gr.DateTime, gr.DateTime]:
    """The tab's controls, not yet rendered: mode, k, sources, since, until."""
    modes = ["extractive", "llm"] if settings.llm_configured else ["extractive"]
    default_mode = settings.resolved_mode() if settings.llm_configured else "extractive"
    mode = gr.Radio(
        modes,
        value=default_mode,
        label="Answer mode",
        info=(
            "extractive: the answer is the best cited sentences; llm: the model writes an answer citing them"
            if settings.llm_configured
            else "Only extractive: set OPENAI_API_KEY or OPENAI_BASE_URL for LLM mode"
        ),
        interactive=len(modes) > 1,
        render=False,
    )
    k = gr.Slider(1, 20, value=settings.k, step=1, label="Number of sources (k)", render=False)
    sources = gr.Dropdown(label="Only these sources", choices=[], multiselect=True, render=False)
    since = gr.DateTime(label="Published since", include_time=False, type="string", render=False)
    until = gr.DateTime(label="Published until", include_time=False, type="string", render=False)
    return mode, k, sources, since, until


def build(shared: Shared) -> None:
    """Draw the tab (inside `gr.Tabs`) with the controls `controls` made."""
    with gr.Tab("Settings", id="settings"):
        gr.HTML(INTRO)
        shared.mode.render()
        shared.k.render()
        shared.sources.render()
        with gr.Row():
            shared.since.render()
            shared.until.render()
