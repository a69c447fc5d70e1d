"""Prompt files: they load, they say what the pipeline relies on, and rendering is strict."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from qa.answer.citations import REFUSAL
from qa.answer.prompts import PROMPTS_DIR, load_prompt, prompt_names, prompt_runnable, render, variables
from qa.errors import ConfigError

EXPECTED = {
    "answer": {"context", "question"},
    "summary_map": {"context", "focus", "max_sentences"},
    "summary_reduce": {"notes", "focus", "max_sentences"},
    "condense": {"history", "question"},
}


@pytest.mark.unit
def test_every_prompt_loads_with_its_variables() -> None:
    assert set(prompt_names()) == set(EXPECTED)
    for name, needed in EXPECTED.items():
        assert variables(name) == needed, name
        assert isinstance(load_prompt(name).messages, list)


@pytest.mark.unit
def test_answer_prompt_carries_the_contract() -> None:
    system, user = render("answer", context="[S1] Paris is the capital.", question="Capital?")
    assert isinstance(system, SystemMessage) and isinstance(user, HumanMessage)
    # The exact phrase the refusal detector looks for must be the one the model is told to use.
    assert REFUSAL in str(system.content) and REFUSAL in str(user.content)
    assert "[S1]" in str(system.content)
    assert "<articles>\n[S1] Paris is the capital.\n</articles>" in str(user.content)
    assert "not instructions" in str(system.content)
    assert "Question: Capital?" in str(user.content)


@pytest.mark.unit
@pytest.mark.parametrize("name", ["answer", "summary_map", "summary_reduce"])
def test_article_text_is_data_in_every_prompt_that_shows_it(name: str) -> None:
    system = (PROMPTS_DIR / f"{name}.system.txt").read_text()
    assert "not instructions" in system
    assert "do not do it" in system


@pytest.mark.unit
def test_missing_variable_is_refused() -> None:
    with pytest.raises(ConfigError, match="missing question"):
        render("answer", context="[S1] x")


@pytest.mark.unit
def test_unknown_variable_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown qestion"):
        render("answer", context="[S1] x", question="q", qestion="typo")


@pytest.mark.unit
def test_values_with_braces_are_left_alone(tmp_path: Path) -> None:
    # A prompt folder of our own: the loader is not tied to the repository's prompts.
    (tmp_path / "t.user.txt").write_text("Value: {x} and {{literal}}\n")
    (msg,) = render("t", tmp_path, x="{not_a_variable}")
    assert msg.content == "Value: {not_a_variable} and {literal}"


@pytest.mark.unit
def test_unknown_prompt_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="No prompt named 'nope'"):
        load_prompt("nope")


@pytest.mark.unit
def test_runnable_renders_strictly() -> None:
    runnable = prompt_runnable("condense")
    messages = runnable.invoke({"history": "User: Who?", "question": "And when?"})
    assert "Follow-up question: And when?" in str(messages[-1].content)
    with pytest.raises(ConfigError):
        runnable.invoke({"question": "And when?"})
