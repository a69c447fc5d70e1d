"""Follow-up questions: a conversation's turns, and condensing a follow-up into a standalone one.

Retrieval only sees one question, so "and what about his brother?" must become a question that
stands alone before it is searched. With a model, the `condense` prompt does the rewriting;
without one (extractive mode, or no endpoint) a heuristic does:

- a question that reads as a follow-up ("what about X", "and X?", "how about X") takes the
  previous standalone question with its main entity replaced by X when it had one:
  "Where was Scott Derrickson born?" + "What about Ed Wood?" -> "Where was Ed Wood born?";
- a question that leans on the previous one (a pronoun or "that/those..." and no name of its
  own, or four words or fewer) gets the previous question's key phrases appended:
  "When did he die?" after "Who directed Doctor Strange?" -> "When did he die? (about Doctor
  Strange)". Key phrases are the capitalized entities and quoted titles of the previous
  standalone question, or its content words when it has none;
- anything else is left as it is.

Each turn keeps its own Answer, so each keeps its own citations.

    conv = Conversation()
    q = conv.standalone("When did he die?", model=None)
    conv.add("When did he die?", q, answer)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qa.answer.citations import strip_markers
from qa.settings import Settings
from qa.text.tokens import truncate
from qa.text.words import QUESTION_WORDS, topic_words
from qa.types import Answer

if TYPE_CHECKING:  # LangChain costs ~0.5 s to import; offline answers never need it
    from langchain_core.language_models import BaseChatModel

__all__ = ["Conversation", "Turn", "condense", "key_phrases", "looks_like_follow_up"]

logger = logging.getLogger(__name__)

_NUMBERED = re.compile(r"\s*\[\d+\]")  # an answer's own citation markers: noise here
HISTORY_TURNS = 3  # turns shown to the condensing model: follow-ups rarely reach further back
_ANSWER_TOKENS = 150  # of each previous answer, enough to resolve what a pronoun points at


@dataclass
class Turn:
    question: str
    standalone: str
    answer: Answer


@dataclass
class Conversation:
    """The turns of one conversation, oldest first."""

    turns: list[Turn] = field(default_factory=list)

    def standalone(
        self,
        question: str,
        model: BaseChatModel | None = None,
        settings: Settings | None = None,
    ) -> str:
        return condense(question, self.turns, model, settings)

    def add(self, question: str, standalone: str, answer: Answer) -> Turn:
        stored = answer.model_copy(update={"standalone_question": standalone})
        turn = Turn(question=question, standalone=standalone, answer=stored)
        self.turns.append(turn)
        return turn

    def clear(self) -> None:
        self.turns.clear()


# --- heuristic ----------------------------------------------------------------------------------

_PRONOUN = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|this|that|these|those|there|"
    r"the same|the former|the latter)\b",
    re.I,
)
_PERSONAL = re.compile(r"\b(he|she|they|him|her|them|his|hers|their|theirs)\b", re.I)
_PIVOT = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.!]*\s*$"
    r"|^\s*and\s+(?P<y>(?!what\b|how\b|why\b|when\b|where\b|who\b|which\b).+?)\s*\?\s*$",
    re.I,
)
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
# Capitalized runs: "Scott Derrickson", "Doctor Strange", "U.S. Senate", "New York City".
_CAPS = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of|the|de|and|for|&)?\s*[A-Z][\w'’.-]*)*")


def key_phrases(question: str) -> list[str]:
    """Capitalized entities and quoted titles of `question` (question words at the start aside)."""
    phrases = [m.group(1).strip() for m in _QUOTED.finditer(question)]
    for m in _CAPS.finditer(_QUOTED.sub(" ", question)):
        words = m.group().split()
        while words and words[0].lower() in QUESTION_WORDS:
            words.pop(0)  # "What", "Did", "The" capitalized by position, not by name
        phrase = " ".join(words).strip(" .,'’")
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return phrases


def looks_like_follow_up(question: str) -> bool:
    """True when `question` probably needs the previous one to be understood."""
    if _PIVOT.match(question):
        return True
    words = question.split()
    if len(words) <= 4 or _PERSONAL.search(question):
        return True  # "he", "she", "they" point back at someone even beside other names
    return bool(_PRONOUN.search(question)) and not key_phrases(question)


def _heuristic(question: str, previous: str) -> str:
    question = " ".join(question.split())
    if not previous or not looks_like_follow_up(question):
        return question
    prev_phrases = key_phrases(previous)
    pivot = _PIVOT.match(question)
    if pivot:
        new = (pivot.group("x") or pivot.group("y") or "").strip()
        if prev_phrases and new:
            return previous.replace(prev_phrases[0], new, 1)
    about = prev_phrases or topic_words(previous)
    if not about:
        return question
    return f"{question} (about {', '.join(about)})"


# --- with a model -------------------------------------------------------------------------------


def _history(turns: Sequence[Turn]) -> str:
    lines = []
    for turn in turns[-HISTORY_TURNS:]:
        lines.append(f"User: {turn.standalone or turn.question}")
        answer = _NUMBERED.sub("", strip_markers(turn.answer.answer)).replace(" .", ".")
        lines.append(f"Assistant: {truncate(' '.join(answer.split()), _ANSWER_TOKENS)}")
    return "\n".join(lines)


def condense(
    question: str,
    history: Sequence[Turn],
    model: BaseChatModel | None = None,
    settings: Settings | None = None,
) -> str:
    """A standalone version of `question` given the earlier turns (`history`, oldest first).

    With `model`, by the `condense` prompt (an empty or multi-paragraph reply falls back to the
    heuristic); without one, by the heuristic in the module docstring. The first question of a
    conversation is returned as it is, without calling the model.
    """
    question = question.strip()
    if not history:
        return question
    previous = history[-1].standalone or history[-1].question
    if model is None:
        return _heuristic(question, previous)
    from qa.answer import provider as llm  # LangChain: imported only when a model is in use
    from qa.answer.prompts import render

    reply = llm.complete(
        model,
        render("condense", history=_history(history), question=question),
        settings or Settings(),
    )
    lines = [ln.strip() for ln in reply.text.strip().splitlines() if ln.strip()]
    if reply.problem or not lines or len(lines) > 2:
        logger.warning("condensing reply not usable (%r); using the heuristic", reply.text[:80])
        return _heuristic(question, previous)
    standalone = re.sub(r"^(standalone question\s*:\s*)", "", lines[0], flags=re.I)
    return standalone.strip().strip("\"“”'") or _heuristic(question, previous)
