"""Cited answers and summaries from a chat model, as a LangChain runnable.

    {question, evidence} -> pack numbered sentences within the token budget -> prompt -> model
                         -> parse [S#] citations -> check them -> Answer (mode="llm")

The model sees each evidence sentence once, numbered [S1], [S2]... and grouped under its
article's title, source and date. Its reply is trusted only as far as `qa.answer.citations` can match
it to those sentences: invented ids are dropped and counted, every sentence of the answer is
labelled supported / partial / unsupported, and a reply with no valid citation at all is replaced
by the caller's extractive answer (or an abstention) with the reason in `Answer.fallback`.

    answer = llm_answer(question, evidence, settings=s, model=m, embedder=e, fallback=extract)
    for item in llm_answer_stream(question, evidence, settings=s, model=m, embedder=e):
        ...  # str pieces of the raw reply as they arrive, then the final Answer
    summary = llm_summarize([article_a, article_b], settings=s, model=m, embedder=e)

Provider failures (401, 429/5xx after retries, timeouts, refused connections) raise LLMError:
a broken endpoint is reported, not hidden behind an extractive answer. A reply that arrived but
is unusable (malformed, empty, citing nothing it was given) falls back.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from qa.answer import provider as llm
from qa.answer.citations import REFUSAL, cite, is_refusal
from qa.answer.prompts import render
from qa.embed.base import Embedder
from qa.errors import ConfigError
from qa.settings import Settings
from qa.text.tokens import count_tokens
from qa.types import Answer, Claim, Evidence, doc_ids_of, elapsed_ms

__all__ = [
    "Packed",
    "answer_chain",
    "context_budget",
    "llm_answer",
    "llm_answer_stream",
    "pack",
]

logger = logging.getLogger(__name__)

Fallback = Callable[[], Answer]

# Chat formats add a few tokens per message (role, separators); counted generously so the
# budget is a bound, not an estimate.
_TOKENS_PER_MESSAGE = 8
# Below this there is no room for even a couple of sentences: a configuration error.
_MIN_CONTEXT_TOKENS = 64


# --- context packing --------------------------------------------------------------------------

# Article text is data. It must not close our delimiters or carry citation markers of its own.
_TAG = re.compile(r"</?\s*(articles?|notes?)\b[^>]*>", re.I)
_FAKE_MARKER = re.compile(r"\[\s*([Ss]\s*\d+[^\]]*)\]")


def clean_reply(text: str) -> str:
    text = " ".join(text.split())
    text = _TAG.sub(lambda m: m.group().replace("<", "‹").replace(">", "›"), text)
    return _FAKE_MARKER.sub(r"(\1)", text)


@dataclass
class Packed:
    """The numbered evidence put in one prompt."""

    context: str
    numbered: dict[str, Evidence]  # "S1" -> Evidence, in the order shown
    tokens: int
    budget: int
    left_out: int = 0  # evidence sentences that did not fit the budget

    @property
    def ids(self) -> list[str]:
        return list(self.numbered)


def _header(ev: Evidence) -> list[str]:
    lines = ["<article>"]
    if ev.title:
        lines.append(f"Title: {clean_reply(ev.title)}")
    if ev.source:
        lines.append(f"Source: {clean_reply(ev.source)}")
    if ev.published_at:
        lines.append(f"Published: {clean_reply(ev.published_at)}")
    return lines


def render_context(groups: Sequence[Sequence[tuple[str, Evidence]]]) -> str:
    blocks = []
    for group in groups:
        lines = _header(group[0][1])
        lines += [f"[{sid}] {clean_reply(ev.sentence.text)}" for sid, ev in group]
        lines.append("</article>")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _layout(chosen: Sequence[Evidence], first: int) -> tuple[str, dict[str, Evidence]]:
    # Articles in order of their best sentence; sentences in reading order inside an article.
    by_doc: dict[str, list[Evidence]] = {}
    for ev in chosen:
        by_doc.setdefault(ev.sentence.doc_id, []).append(ev)
    numbered: dict[str, Evidence] = {}
    groups = []
    n = first
    for evs in by_doc.values():
        group = []
        for ev in sorted(evs, key=lambda e: e.sentence.index):
            sid = f"S{n}"
            numbered[sid] = ev
            group.append((sid, ev))
            n += 1
        groups.append(group)
    return render_context(groups), numbered


def unique_evidence(evidence: Sequence[Evidence]) -> list[Evidence]:
    seen: set[str] = set()
    out = []
    for ev in evidence:
        if ev.sentence.sentence_id not in seen:
            seen.add(ev.sentence.sentence_id)
            out.append(ev)
    return out


def pack(evidence: Sequence[Evidence], budget: int, *, first: int = 1) -> Packed:
    """Numbered context of the best evidence that fits `budget` tokens (qa.text.tokens).

    Evidence is taken in the order given (best first); a sentence that does not fit is skipped
    and a shorter one after it may still go in. Numbering starts at S{first}.
    """
    chosen: list[Evidence] = []
    used = 0
    docs: set[str] = set()
    for ev in unique_evidence(evidence):
        doc = ev.sentence.doc_id
        cost = count_tokens(f"[S{first + len(chosen)}] {clean_reply(ev.sentence.text)}\n")
        if doc not in docs:  # the first sentence of an article brings its header
            cost += count_tokens("\n".join([*_header(ev), "</article>"]) + "\n\n")
        if used + cost > budget:
            continue
        chosen.append(ev)
        docs.add(doc)
        used += cost
    # The sum of the parts is close to, not exactly, the count of the whole: check the whole.
    while True:
        context, numbered = _layout(chosen, first)
        tokens = count_tokens(context)
        if tokens <= budget or not chosen:
            break
        chosen.pop()
    left_out = len(unique_evidence(evidence)) - len(chosen)
    return Packed(context=context, numbered=numbered, tokens=tokens, budget=budget, left_out=left_out)


def _prompt_tokens(messages: Sequence[BaseMessage]) -> int:
    return sum(count_tokens(str(m.content)) + _TOKENS_PER_MESSAGE for m in messages)


def context_budget(settings: Settings, prompt: str, slot: str = "context", **values: str) -> int:
    """Tokens the `slot` variable of `prompt` may hold: settings.context_tokens, and never more
    than the model window minus the rest of the prompt and the room kept for the reply."""
    overhead = _prompt_tokens(render(prompt, **{slot: ""}, **values))
    room = settings.model_window - llm.MAX_OUTPUT_TOKENS - overhead
    budget = min(settings.context_tokens, room)
    if settings.context_tokens < _MIN_CONTEXT_TOKENS:
        raise ConfigError(
            f"QA_CONTEXT_TOKENS={settings.context_tokens} leaves no room for evidence; "
            f"use at least {_MIN_CONTEXT_TOKENS}."
        )
    if budget < _MIN_CONTEXT_TOKENS:
        raise ConfigError(
            f"No room for evidence in the prompt: QA_MODEL_WINDOW={settings.model_window} minus "
            f"{llm.MAX_OUTPUT_TOKENS} tokens for the reply and {overhead} for the rest of the "
            f"prompt leaves {room}; raise QA_MODEL_WINDOW to the model's real window."
        )
    return budget


# --- answers ----------------------------------------------------------------------------------


def _confidence(claims: Sequence[Claim]) -> float:
    # The mean claim score: an answer is as trustworthy as its average sentence.
    return round(sum(c.score for c in claims) / len(claims), 4) if claims else 0.0


@dataclass
class _Run:
    """State of one answer as it moves through the chain."""

    question: str
    evidence: list[Evidence]
    packed: Packed | None = None
    messages: list[BaseMessage] = field(default_factory=list)
    reply: llm.ModelReply | None = None
    timings: dict[str, float] = field(default_factory=dict)


class _Answerer:
    """The steps of the answer chain, bound to their collaborators."""

    def __init__(
        self,
        settings: Settings,
        model: BaseChatModel,
        embedder: Embedder,
        fallback: Fallback | None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.embedder = embedder
        self.fallback = fallback

    def prepare(self, inputs: dict[str, Any]) -> _Run:
        t0 = time.perf_counter()
        run = _Run(question=str(inputs["question"]), evidence=list(inputs["evidence"]))
        budget = context_budget(self.settings, "answer", question=run.question)
        run.packed = pack(run.evidence, budget)
        if run.packed.left_out:
            logger.info("%d evidence sentences left out of the prompt", run.packed.left_out)
        run.messages = render("answer", context=run.packed.context, question=run.question)
        run.timings["pack"] = elapsed_ms(t0)
        return run

    def call(self, run: _Run, config: RunnableConfig | None = None) -> _Run:
        if run.packed and run.packed.numbered:
            t0 = time.perf_counter()
            run.reply = llm.complete(self.model, run.messages, self.settings, config)
            run.timings["llm"] = elapsed_ms(t0)
        return run

    def stream(self, run: _Run) -> Iterator[str]:
        if not (run.packed and run.packed.numbered):
            return
        t0 = time.perf_counter()
        for item in llm.stream(self.model, run.messages, self.settings):
            if isinstance(item, llm.ModelReply):
                run.reply = item
            else:
                yield item
        run.timings["llm"] = elapsed_ms(t0)

    def finish(self, run: _Run) -> Answer:
        t0 = time.perf_counter()
        base: dict[str, Any] = {
            "question": run.question,
            "retrieved_doc_ids": doc_ids_of(run.evidence),
            "mode": "llm",
        }
        reply = run.reply
        if run.packed is None or not run.packed.numbered or reply is None:
            reason = "no evidence fits the context budget" if run.evidence else "no evidence"
            return Answer(
                **base,
                answer=REFUSAL,
                abstained=True,
                timings_ms=run.timings,
                fallback=f"abstained: {reason}",
            )
        usage: dict[str, Any] = {
            "tokens": reply.tokens,
            "cost_usd": reply.cost(self.settings.llm_model),
        }
        if reply.problem:
            return self._fall_back(run, base, usage, reply.problem, dropped=None)
        cited = cite(reply.text, run.packed.numbered, self.embedder)
        run.timings["verify"] = elapsed_ms(t0)
        if is_refusal(reply.text, has_citations=cited.has_citations):
            return Answer(
                **base,
                **usage,
                answer=REFUSAL,
                abstained=True,
                timings_ms=run.timings,
                dropped_citations=cited.dropped,
                claims=[],
            )
        if not cited.has_citations:
            reason = "the model's reply cites none of the sentences it was given"
            if cited.dropped:
                reason += f" ({cited.dropped} invented citation{'s' * (cited.dropped > 1)})"
            return self._fall_back(run, base, usage, reason, dropped=cited.dropped)
        return Answer(
            **base,
            **usage,
            answer=cited.text,
            abstained=False,
            citations=cited.citations,
            timings_ms=run.timings,
            confidence=_confidence(cited.claims),
            claims=cited.claims,
            dropped_citations=cited.dropped,
        )

    def _fall_back(
        self,
        run: _Run,
        base: dict[str, Any],
        usage: dict[str, Any],
        reason: str,
        dropped: int | None,
    ) -> Answer:
        logger.warning("LLM answer not usable, falling back: %s", reason)
        if self.fallback is not None:
            answer = self.fallback()
            return answer.model_copy(
                update={
                    **usage,
                    "fallback": f"extractive: {reason}",
                    "dropped_citations": dropped,
                    "timings_ms": {**run.timings, **answer.timings_ms},
                }
            )
        return Answer(
            **base,
            **usage,
            answer=f"No verified answer: {reason}.",
            abstained=True,
            timings_ms=run.timings,
            dropped_citations=dropped,
            fallback=f"abstained: {reason}",
        )


def answer_chain(
    *,
    settings: Settings,
    model: BaseChatModel,
    embedder: Embedder,
    fallback: Fallback | None = None,
) -> Runnable[dict[str, Any], Answer]:
    """The runnable: {"question": str, "evidence": list[Evidence]} -> Answer."""
    steps = _Answerer(settings, model, embedder, fallback)
    chain = (
        RunnableLambda(steps.prepare, name="pack")
        | RunnableLambda(steps.call, name="model")
        | RunnableLambda(steps.finish, name="cite")
    )
    return chain.with_config(run_name="qa_llm_answer")


def llm_answer(
    question: str,
    evidence: Sequence[Evidence],
    *,
    settings: Settings,
    model: BaseChatModel | None = None,
    embedder: Embedder,
    fallback: Fallback | None = None,
) -> Answer:
    """A cited answer from the model (see the module docstring); `model` defaults from settings."""
    chain = answer_chain(
        settings=settings,
        model=model or llm.chat_model(settings),
        embedder=embedder,
        fallback=fallback,
    )
    return chain.invoke({"question": question, "evidence": list(evidence)})


def llm_answer_stream(
    question: str,
    evidence: Sequence[Evidence],
    *,
    settings: Settings,
    model: BaseChatModel | None = None,
    embedder: Embedder,
    fallback: Fallback | None = None,
) -> Iterator[str | Answer]:
    """The model's raw text pieces as they arrive, then the checked Answer, last.

    The pieces still carry the model's own [S#] markers; the final Answer's text (markers
    renumbered, invented ones removed) replaces them. Its citations are those `llm_answer`
    gives for the same reply: both go through the same `finish` step.
    """
    steps = _Answerer(settings, model or llm.chat_model(settings), embedder, fallback)
    run = steps.prepare({"question": question, "evidence": list(evidence)})
    yield from steps.stream(run)
    yield steps.finish(run)
