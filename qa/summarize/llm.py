"""LLM summaries: map-reduce over the articles' numbered sentences, every summary sentence
cited and checked against them like an answer (qa.answer.citations)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from qa.answer import provider as llm
from qa.answer.chain import (
    clean_reply,
    context_budget,
    render_context,
    unique_evidence,
)
from qa.answer.citations import Cited, cite, parse
from qa.answer.prompts import render
from qa.embed.base import Embedder
from qa.errors import LLMError
from qa.settings import Settings
from qa.text.tokens import count_tokens
from qa.types import Evidence, Summary, doc_ids_of, elapsed_ms

logger = logging.getLogger(__name__)

SUMMARY_SENTENCES = 5
NOTE_SENTENCES = 4  # per chunk in the map step, when a summary needs several calls
_MAX_REDUCE_ROUNDS = 3


def _focus(query: str | None) -> str:
    if query:
        return f"Focus on what the articles say about: {' '.join(query.split())}"
    return "Cover the most important facts."


def _chunks(numbered: dict[str, Evidence], budget: int) -> list[dict[str, Evidence]]:
    # Consecutive runs of the numbered sentences, each fitting `budget` once rendered; an article
    # longer than the budget is cut between sentences, each part with its header.
    chunks: list[dict[str, Evidence]] = []
    current: dict[str, Evidence] = {}
    for sid, ev in numbered.items():
        trial = {**current, sid: ev}
        if count_tokens(_render_numbered(trial)) <= budget:
            current = trial
            continue
        if current:
            chunks.append(current)
        if count_tokens(_render_numbered({sid: ev})) <= budget:
            current = {sid: ev}
        else:
            logger.warning("sentence %s is longer than the context budget; left out", sid)
            current = {}
    if current:
        chunks.append(current)
    return chunks


def _render_numbered(numbered: dict[str, Evidence]) -> str:
    groups: list[list[tuple[str, Evidence]]] = []
    for sid, ev in numbered.items():
        if groups and groups[-1][0][1].sentence.doc_id == ev.sentence.doc_id:
            groups[-1].append((sid, ev))
        else:
            groups.append([(sid, ev)])
    return render_context(groups)


@dataclass
class _Usage:
    prompt: int = 0
    completion: int = 0
    reported: bool = False

    def add(self, reply: llm.ModelReply) -> None:
        if reply.tokens is not None:
            self.reported = True
            self.prompt += reply.tokens["prompt"]
            self.completion += reply.tokens["completion"]

    def tokens(self) -> dict[str, int] | None:
        return {"prompt": self.prompt, "completion": self.completion} if self.reported else None


def _notes(reply: llm.ModelReply, allowed: Sequence[str]) -> list[str]:
    """The cited sentences of an intermediate summary, keeping their [S#] ids."""
    if reply.problem:
        logger.warning("summary step skipped: %s", reply.problem)
        return []
    parsed = parse(reply.text, allowed)
    return [_marked(clean_reply(c.text), [f"[{i}]" for i in c.ids]) for c in parsed.claims if c.ids]


def _marked(text: str, marks: Sequence[str]) -> str:
    # Markers go before the final full stop, as the model is asked to write them.
    text = text.rstrip()
    joined = "".join(marks)
    if text and text[-1] in ".!?":
        return f"{text[:-1]} {joined}{text[-1]}"
    return f"{text} {joined}"


def llm_summarize(
    evidence_by_article: Sequence[Sequence[Evidence]],
    *,
    settings: Settings,
    model: BaseChatModel | None = None,
    embedder: Embedder,
    query: str | None = None,
    fallback: Callable[[], Summary] | None = None,
    max_sentences: int = SUMMARY_SENTENCES,
) -> Summary:
    """A cited summary of one or several articles, map-reduce when they exceed the budget.

    Map: each budget-sized chunk of numbered sentences is summarized with citations. Reduce:
    the cited notes (which keep the original [S#] ids) are merged, in rounds if they do not fit
    in one prompt. The final text is checked against the original sentences like an answer;
    a sentence citing no given sentence is left out of the summary. When nothing cited remains,
    `fallback()` is returned if given, else LLMError is raised.
    """
    t0 = time.perf_counter()
    chat = model or llm.chat_model(settings)
    flat = unique_evidence([ev for article in evidence_by_article for ev in article])
    numbered = {f"S{i}": ev for i, ev in enumerate(flat, start=1)}
    doc_ids = doc_ids_of(flat)
    focus = _focus(query)
    usage = _Usage()
    timings: dict[str, float] = {}

    def call(messages: list[BaseMessage]) -> llm.ModelReply:
        reply = llm.complete(chat, messages, settings)
        usage.add(reply)
        return reply

    map_budget = context_budget(settings, "summary_map", focus=focus, max_sentences=str(max_sentences))
    chunks = _chunks(numbered, map_budget)
    if not chunks:
        raise LLMError("Nothing to summarize: no sentence fits the context budget.")
    if len(chunks) == 1:
        final = call(
            render(
                "summary_map",
                context=_render_numbered(chunks[0]),
                focus=focus,
                max_sentences=str(max_sentences),
            )
        )
    else:
        notes: list[str] = []
        for chunk in chunks:
            reply = call(
                render(
                    "summary_map",
                    context=_render_numbered(chunk),
                    focus=focus,
                    max_sentences=str(NOTE_SENTENCES),
                )
            )
            notes += _notes(reply, list(chunk))
        timings["map"] = elapsed_ms(t0)
        final = _reduce(notes, list(numbered), call, settings, focus, max_sentences)
    timings["llm"] = elapsed_ms(t0)

    t1 = time.perf_counter()
    cited: Cited | None = None if final.problem else cite(final.text, numbered, embedder)
    timings["verify"] = elapsed_ms(t1)
    if cited is None or not cited.has_citations:
        reason = final.problem or "the model's summary cites none of the sentences it was given"
        logger.warning("LLM summary not usable: %s", reason)
        if fallback is not None:
            return fallback()
        raise LLMError(f"The model's summary could not be used: {reason}.")

    kept = [c for c in cited.claims if c.citations]
    left_out = len(cited.claims) - len(kept)
    if left_out:
        logger.info("%d uncited summary sentences left out", left_out)
    timings["total"] = elapsed_ms(t0)
    return Summary(
        doc_ids=doc_ids,
        summary=" ".join(_marked(c.text, [f"[{n}]" for n in c.citations]) for c in kept),
        citations=cited.citations,
        sentences=[c.text for c in kept],
        mode="llm",
        query=query,
        timings_ms=timings,
        claims=kept,
        tokens=usage.tokens(),
    )


def _reduce(
    notes: list[str],
    ids: Sequence[str],
    call: Callable[[list[BaseMessage]], llm.ModelReply],
    settings: Settings,
    focus: str,
    max_sentences: int,
) -> llm.ModelReply:
    budget = context_budget(
        settings, "summary_reduce", slot="notes", focus=focus, max_sentences=str(max_sentences)
    )
    for _ in range(_MAX_REDUCE_ROUNDS):
        if not notes:
            return llm.ModelReply("", problem="no cited notes came out of the map step")
        batches: list[list[str]] = [[]]
        for note in notes:
            if batches[-1] and count_tokens("\n".join(f"- {n}" for n in [*batches[-1], note])) > budget:
                batches.append([])
            batches[-1].append(note)
        if len(batches) == 1:
            break
        # Too many notes for one prompt: merge each batch into shorter notes and go again.
        merged: list[str] = []
        for batch in batches:
            reply = call(_reduce_messages(batch, focus, NOTE_SENTENCES))
            merged += _notes(reply, ids)
        notes = merged
    return call(_reduce_messages(notes, focus, max_sentences, budget))


def _reduce_messages(
    notes: Sequence[str], focus: str, max_sentences: int, budget: int | None = None
) -> list[BaseMessage]:
    lines = [f"- {n}" for n in notes]
    while budget is not None and len(lines) > 1 and count_tokens("\n".join(lines)) > budget:
        lines.pop()  # still too long after the last round: the latest notes give way
    return render("summary_reduce", notes="\n".join(lines), focus=focus, max_sentences=str(max_sentences))
