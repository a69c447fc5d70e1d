"""Hybrid retrieval: dense sentences + dense chunks + BM25, fused by reciprocal rank, title links
followed, then the evidence chosen (qa.retrieve.evidence)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.embed.base import Embedder
from qa.retrieve import answerability as answerability_model
from qa.retrieve import evidence_model
from qa.retrieve.answerability import expected_type, has_type
from qa.retrieve.evidence import MODEL_CANDIDATES, Candidate, features, select
from qa.retrieve.lexical import Key, LexicalIndex
from qa.retrieve.links import TitleIndex
from qa.settings import Settings
from qa.store import Store
from qa.types import Evidence, Filters, Sentence, elapsed_ms

logger = logging.getLogger(__name__)



# --- retrieval -------------------------------------------------------------------------------


@dataclass
class Retrieval:
    """What retrieval found for one question."""

    evidence: list[Evidence]
    related: list[Evidence]
    retrieved_doc_ids: list[str]
    confidence: float
    candidates: list[Evidence] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def llm_context(self, extra: int = 15) -> list[Evidence]:
        """What a chat model sees: the chosen evidence first, then up to `extra` next
        candidates (the chain packs them within its token budget), so that the model can use
        what the offline selection left out."""
        seen = {e.sentence.sentence_id for e in self.evidence}
        rest = [e for e in self.candidates if e.sentence.sentence_id not in seen]
        return list(self.evidence) + rest[:extra]





def canonical(question: str) -> str:
    """The question as retrieval reads it: one space between words and a single question mark
    at the end, so that "why is armenia drifting from moscow" and "Why is Armenia drifting from
    Moscow?" are the same search (the model is uncased; the BM25 tokens are lower-cased)."""
    return " ".join(question.split()).rstrip(" ?.!") + "?"


class Retriever:
    """Finds evidence sentences for a question in a Store."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        lexical: LexicalIndex,
        settings: Settings,
        titles: TitleIndex | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.settings = settings
        self.titles = titles or TitleIndex()

    def retrieve(
        self, question: str, k: int | None = None, filters: Filters | None = None
    ) -> Retrieval:
        s = self.settings
        k = k or s.k
        timings: dict[str, float] = {}
        by_relevance, doc_rank = self.candidates(question, filters, timings)
        t = time.perf_counter()
        chosen = select(
            by_relevance, k, s.score_margin, s.redundancy_threshold, s.evidence_threshold
        )
        confidence = self._answerable(question, by_relevance)
        timings["select"] = elapsed_ms(t)
        catalog = self.store.catalog().articles

        def to_evidence(c: Candidate) -> Evidence:
            meta = catalog[c.hit.doc_id]
            return Evidence(
                sentence=Sentence(
                    sentence_id=f"{c.hit.doc_id}#{c.hit.index}",
                    doc_id=c.hit.doc_id,
                    index=c.hit.index,
                    start=c.hit.start,
                    end=c.hit.end,
                    text=c.hit.text,
                ),
                title=meta.title,
                source=meta.source,
                published_at=meta.published_at,
                score=round(c.relevance, 4),
                dense=round(c.dense, 4),
                lexical=round(c.lexical, 4),
            )

        evidence = [to_evidence(c) for c in chosen]
        chosen_keys = {(c.hit.doc_id, c.hit.index) for c in chosen}
        related = [
            to_evidence(c)
            for c in by_relevance[: k + 3]
            if (c.hit.doc_id, c.hit.index) not in chosen_keys
        ][:3]
        return Retrieval(
            evidence=evidence,
            related=related,
            retrieved_doc_ids=doc_rank,
            confidence=round(confidence, 4),
            candidates=[to_evidence(c) for c in by_relevance[:30]],
            timings_ms=timings,
        )

    def candidates(
        self,
        question: str,
        filters: Filters | None = None,
        timings: dict[str, float] | None = None,
    ) -> tuple[list[Candidate], list[str]]:
        """Every candidate sentence, most relevant first (the first MODEL_CANDIDATES with the
        evidence model's probability), and the doc ids in fused rank order."""
        s = self.settings
        question = canonical(question)
        filters = filters or Filters()
        timings = {} if timings is None else timings
        t0 = time.perf_counter()
        catalog = self.store.catalog().articles
        self.lexical.ensure(self.store)
        timings["lexical_index"] = elapsed_ms(t0)

        t = time.perf_counter()
        qv = self.embedder.embed_query(question)
        timings["embed"] = elapsed_ms(t)

        t = time.perf_counter()
        dense_hits = self.store.query_sentences(qv, s.candidates, filters)
        chunk_hits = self.store.query_chunks(qv, max(10, s.candidates // 4), filters)
        timings["dense"] = elapsed_ms(t)

        t = time.perf_counter()

        def allow(doc_id: str) -> bool:
            m = catalog.get(doc_id)
            return m is not None and filters.allows(m.source, m.published_day)

        lexical_hits = self.lexical.search(
            question, s.candidates, allow if filters.active else None
        )
        timings["lexical"] = elapsed_ms(t)

        t = time.perf_counter()
        cands: dict[Key, Candidate] = {}
        for h in dense_hits:
            cands[(h.doc_id, h.index)] = Candidate(hit=h, dense=h.similarity)
        missing = [key for key, _ in lexical_hits if key not in cands]
        if missing:
            for key, h in self.store.get_sentence_records(missing).items():
                dense = float(qv @ h.vector) if h.vector is not None else 0.0
                cands[key] = Candidate(hit=h, dense=dense)
        chunk_score = {(c.doc_id, c.index): c.similarity for c in chunk_hits}
        max_lex = lexical_hits[0][1] if lexical_hits else 1.0
        lex_score = {key: score / max_lex for key, score in lexical_hits}
        for key, c in cands.items():
            c.chunk = chunk_score.get((key[0], c.hit.chunk), 0.0)
            c.lexical = lex_score.get(key, 0.0)

        for c in cands.values():
            c.relevance = self._relevance(c)
        linked = self._follow_links(question, qv, cands, filters, lex_score, catalog)

        rrf = float(s.rrf_k)
        for ranked in (
            sorted(cands, key=lambda key: -cands[key].dense),
            [key for key, _ in lexical_hits if key in cands],
            sorted(cands, key=lambda key: -cands[key].chunk),
        ):
            for rank, key in enumerate(ranked):
                cands[key].fused += 1.0 / (rrf + rank + 1)
        for c in cands.values():
            c.relevance += linked.get(c.hit.doc_id, 0.0)
        self._bridge(cands)
        reasons = s.reason_penalty > 0 and expected_type(question) == "reason"
        if reasons:
            # A why-question is answered by causes and reasons; the sentence that restates
            # what is to be explained ("the latest sign of Yerevan drifting from Moscow") matches
            # it best and answers it least.
            for c in cands.values():
                if not has_type(c.hit.text, "reason"):
                    c.preference = -s.reason_penalty
                    c.relevance -= s.reason_penalty
        by_relevance = sorted(cands.values(), key=lambda c: -c.relevance)
        if not reasons:  # the evidence model was fitted on factoid questions only
            self._estimate(by_relevance, catalog)
        timings["score"] = elapsed_ms(t)

        doc_rank: list[str] = []
        for c in sorted(cands.values(), key=lambda c: -c.fused):
            if c.hit.doc_id not in doc_rank:
                doc_rank.append(c.hit.doc_id)
        return by_relevance, doc_rank

    def _relevance(self, c: Candidate) -> float:
        """Dense cosine + weighted BM25 + the lead bonus (before any link bonus)."""
        s = self.settings
        return c.dense + s.lexical_weight * c.lexical + s.lead_bonus * (c.hit.index == 0)

    def _answerable(self, question: str, ranked: list[Candidate]) -> float:
        """P(the library answers the question), by the answerability model (qa.retrieve.
        answerability): compared with `abstain_threshold`."""
        path = self.settings.answerability_model
        model = answerability_model.load(str(path) if path else None)
        # Judged on relevance as evidence, before any preference of how to answer.
        top = answerability_model.by_evidence(ranked)
        return model.probability(answerability_model.feature_row(question, top, self.lexical))

    def _estimate(self, ranked: list[Candidate], catalog: dict[str, Any]) -> None:
        """Set the evidence model's probability on the first MODEL_CANDIDATES candidates."""
        path = self.settings.evidence_model
        if self.settings.evidence_threshold > 1 or not ranked:
            return
        model = evidence_model.load(path) if path else evidence_model.load()
        top = ranked[:MODEL_CANDIDATES]
        rows = features(top, catalog)
        for c, p in zip(top, model.probabilities(rows), strict=True):
            c.probability = float(p)

    def _follow_links(
        self,
        question: str,
        qv: np.ndarray,
        cands: dict[Key, Candidate],
        filters: Filters,
        lex_score: dict[Key, float],
        catalog: dict[str, Any],
    ) -> dict[str, float]:
        """Articles named by the question or by the best sentences, with the relevance bonus
        their sentences get; their sentences join the candidates.

        A multi-hop question ("the woman who portrayed Corliss Archer in Kiss and Tell") names
        one article, whose best sentence names the next ("starring Shirley Temple"); the second
        article shares few words with the question, so neither dense nor BM25 finds it.
        """
        s = self.settings
        if s.link_bonus <= 0 and s.question_link_bonus <= 0:
            return {}
        self.titles.ensure(self.store.catalog().fingerprint(), catalog)
        parent: dict[str, float] = {}  # linked doc -> relevance of the sentence that names it
        top = sorted(cands.values(), key=lambda c: -c.relevance)[: s.link_sources]
        if s.question_link_bonus > 0 and top:
            for doc_id in self.titles.mentioned([question]):
                parent[doc_id] = top[0].relevance - s.question_link_bonus
        if s.link_bonus > 0:
            for c in top:
                for doc_id in self.titles.mentioned([c.hit.text]):
                    if doc_id != c.hit.doc_id:
                        parent[doc_id] = max(parent.get(doc_id, -1.0), c.relevance - s.link_bonus)
        linked = list(parent)[: s.max_links]
        if not linked:
            return {}
        hits = self.store.query_sentences(qv, 8 * len(linked), filters, doc_ids=linked)
        for h in hits:
            key = (h.doc_id, h.index)
            if key not in cands:
                c = Candidate(hit=h, dense=h.similarity, lexical=lex_score.get(key, 0.0))
                c.relevance = self._relevance(c)
                cands[key] = c
        best: dict[str, float] = {}
        for c in cands.values():
            if c.hit.doc_id in linked:
                c.linked = True
            if c.hit.doc_id in parent:
                best[c.hit.doc_id] = max(best.get(c.hit.doc_id, -1.0), c.relevance)
        # The linked article's best sentence ranks just below the sentence that names it; its
        # other sentences keep their distance from that best one.
        return {d: max(0.0, parent[d] - best[d]) for d in linked if d in best}

    def _bridge(self, cands: dict[Key, Candidate]) -> None:
        """Sentences that name another of the best articles gain relevance: "The team competes
        in the America East Conference" is the step between two articles a multi-hop answer
        needs, though it shares few words with the question."""
        s = self.settings
        if s.bridge_bonus <= 0 or not cands:
            return
        ranked = sorted(cands.values(), key=lambda c: -c.relevance)
        top_docs = {c.hit.doc_id for c in ranked[: s.k]}
        # Never above the best sentence: the margin below the best must not widen for all.
        ceiling = ranked[0].relevance
        for c in ranked[1 : 4 * s.k]:
            if any(d in top_docs and d != c.hit.doc_id for d in self.titles.mentioned([c.hit.text])):
                c.relevance = max(c.relevance, min(c.relevance + s.bridge_bonus, ceiling))
                c.bridged = True
