"""Prompts live as text files in prompts/; this module loads them and fills them in, strictly.

A prompt named `answer` is `prompts/answer.system.txt` (optional) plus `prompts/answer.user.txt`,
in LangChain's f-string template format (`{question}`; a literal brace is written `{{`).

    messages = render("answer", context=packed, question="Who won?")

Rendering refuses a missing variable and an unknown one: a typo in a prompt file or in the code
fails loudly instead of sending the model a prompt with a hole or a silently unused value.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from qa.errors import ConfigError

__all__ = ["PROMPTS_DIR", "load_prompt", "prompt_names", "prompt_runnable", "render", "variables"]


def _shipped_prompts() -> Path:
    # The repository's prompts/ folder is the package `qa.prompts` (a package-dir mapping in
    # pyproject.toml), so an installed wheel and an editable checkout both find it by import.
    spec = importlib.util.find_spec("qa.prompts")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("The prompts of qa (package qa.prompts) are not installed.")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


PROMPTS_DIR = _shipped_prompts()


def prompt_names(directory: Path | None = None) -> list[str]:
    """Names of the prompts found in `directory` (default PROMPTS_DIR)."""
    folder = directory or PROMPTS_DIR
    return sorted({p.name.split(".")[0] for p in folder.glob("*.user.txt")})


@lru_cache(maxsize=32)
def _load(name: str, folder: Path) -> ChatPromptTemplate:
    user = folder / f"{name}.user.txt"
    system = folder / f"{name}.system.txt"
    if not user.is_file():
        known = ", ".join(prompt_names(folder)) or "none"
        raise ConfigError(
            f"No prompt named '{name}' in {folder} (expected {user.name}; known: {known})."
        )
    parts: list[tuple[str, str]] = []
    if system.is_file():
        parts.append(("system", system.read_text(encoding="utf-8").strip()))
    parts.append(("human", user.read_text(encoding="utf-8").strip()))
    try:
        return ChatPromptTemplate.from_messages(parts, template_format="f-string")
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"Prompt '{name}' in {folder} is not a valid template: {exc}") from exc


def load_prompt(name: str, directory: Path | None = None) -> ChatPromptTemplate:
    """The prompt `name` as a ChatPromptTemplate (loaded once per process)."""
    return _load(name, (directory or PROMPTS_DIR).resolve())


def variables(name: str, directory: Path | None = None) -> frozenset[str]:
    """The variables prompt `name` needs, all of which `render` requires."""
    return frozenset(load_prompt(name, directory).input_variables)


def _check(name: str, needed: frozenset[str], given: Mapping[str, object]) -> None:
    missing = sorted(needed - set(given))
    unknown = sorted(set(given) - needed)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown {', '.join(unknown)}")
        raise ConfigError(
            f"Prompt '{name}' takes {', '.join(sorted(needed)) or 'no variables'}: "
            f"{'; '.join(problems)}."
        )


def render(name: str, directory: Path | None = None, /, **values: str) -> list[BaseMessage]:
    """The messages of prompt `name` filled with `values`; every variable, and only those."""
    template = load_prompt(name, directory)
    _check(name, frozenset(template.input_variables), values)
    return template.format_messages(**values)


def prompt_runnable(name: str, directory: Path | None = None) -> Runnable[dict, list[BaseMessage]]:
    """`render` as a LangChain runnable: a dict of values in, the messages out."""

    def fill(values: dict) -> list[BaseMessage]:
        return render(name, directory, **values)

    return RunnableLambda(fill, name=f"prompt:{name}")
