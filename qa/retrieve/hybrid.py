"""Hybrid retrieval: dense sentences + dense chunks + BM25, fused by reciprocal rank, title links
followed, then the evidence chosen (qa.retrieve.evidence)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from qa.embed.base import Embedder
from qa.retrieve import answerability as answerability_model
from qa.retrieve import evidence_model
from qa.retrieve.answerability import expected_type, has_type
from qa.retrieve.evidence import MODEL_CANDIDATES, Candidate, features, select, with_neighbour
from qa.retrieve.lexical import Key, LexicalIndex
from qa.retrieve.links import TitleIndex
from qa.settings import Settings
from qa.store import Catalog, Store
from qa.text.casing import restore_case
from qa.text.dates import day_number
from qa.text.words import content_words
from qa.types import Evidence, Filters, Sentence, elapsed_ms

logger = logging.getLogger(__name__)

RECENT_SEARCH_SENTENCES = 1000
"""The recent articles' sentences are read by id and compared with the question here when they
are at most this many (a few ms); beyond, the plain search already meets recent articles. A
Chroma query restricted to them (`$in` on their ids, or on their days) costs 20-30 ms."""


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
    time: Any = None  # the question's time (qa.retrieve.time.TimeQuery) when the service read it

    def llm_context(self, extra: int = 15) -> list[Evidence]:
        """What a chat model sees: the chosen evidence first, then up to `extra` next
        candidates (the chain packs them within its token budget), so that the model can use
        what the offline selection left out."""
        seen = {e.sentence.sentence_id for e in self.evidence}
        rest = [e for e in self.candidates if e.sentence.sentence_id not in seen]
        return list(self.evidence) + rest[:extra]


def newest_first(
    chosen: list[Candidate],
    ranked: list[Candidate],
    k: int,
    margin: float,
    catalog: dict[str, Any],
    question: str = "",
) -> tuple[list[Candidate], bool]:
    """For a "latest" question: the chosen sentences newest article first, after the best
    sentence of the newest relevant article joins them if selection left it out. Relevant:
    naming every content word of the question (the topic of "What is the latest on the Artemis
    mission?"), or, when no candidate does, within `margin` of the best relevance. Undated
    articles come last.
    Returns the sentences and whether any candidate names the whole topic."""
    if not ranked:
        return chosen, False

    def day(c: Candidate) -> int:
        m = catalog.get(c.hit.doc_id)
        return m.published_day if m is not None and m.published_day is not None else -(10**9)

    topic = content_words(question)
    covering = [c for c in ranked if topic and topic <= content_words(c.hit.text)]
    best = ranked[0].relevance
    # Reports that name the topic, when there are any: the most relevant sentences of a
    # question as vague as "the latest on the Army" are often about something else.
    relevant = covering or [c for c in ranked if c.relevance >= best - margin]
    newest = max(relevant, key=day)  # max keeps the most relevant of equally new ones
    out = list(chosen)
    if day(newest) > -(10**9) and all(c.hit.doc_id != newest.hit.doc_id for c in out):
        out = [newest, *out][:k]
    order = {id(c): i for i, c in enumerate(out)}
    return sorted(out, key=lambda c: (-day(c), order[id(c)])), bool(covering)


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
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        recency: bool = False,
        as_of: date | None = None,
    ) -> Retrieval:
        """`recency`: a "latest"-style question; the newest relevant article is cited first.
        `as_of`: the day the question is asked (today when None), whose recent articles are
        preferred (`Settings.recent_bonus`)."""
        s = self.settings
        k = k or s.k
        timings: dict[str, float] = {}
        # One view of the library for the whole question (the store swaps in a new catalog when
        # another thread syncs): a sentence must not be chosen from one view and described from
        # another (an article deleted in between was a KeyError in a server under a writer).
        view = self.store.catalog()
        catalog = view.articles
        by_relevance, doc_rank, qv, question = self._candidates(question, filters, timings, view,
                                                                as_of)
        t = time.perf_counter()
        chosen = select(
            by_relevance, k, s.score_margin, s.redundancy_threshold, s.evidence_threshold
        )
        if s.evidence_neighbour:
            chosen = with_neighbour(chosen, canonical(question),
                                    lambda c: self._neighbours(c, by_relevance, qv), k)
        covered = False
        if recency:
            pool = by_relevance + self._recent_mentions(question, filters or Filters(), catalog)
            chosen, covered = newest_first(chosen, pool, k, s.recency_margin, catalog, question)
        confidence = self._answerable(question, by_relevance)
        if recency and covered:
            # "What is the latest on Twitter?" is answered by the newest report that names
            # Twitter; the answerability model, fitted on factoid questions, doubts such
            # questions, so a report naming every word of the topic makes it answerable.
            confidence = max(confidence, s.abstain_threshold)
        timings["select"] = elapsed_ms(t)

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
        view: Catalog | None = None,
        as_of: date | None = None,
    ) -> tuple[list[Candidate], list[str]]:
        """Every candidate sentence, most relevant first (the first MODEL_CANDIDATES with the
        evidence model's probability), and the doc ids in fused rank order. Only articles of
        `view` (the store's catalog now when None) are candidates."""
        by_relevance, doc_rank, _, _ = self._candidates(question, filters, timings, view, as_of)
        return by_relevance, doc_rank

    def _candidates(
        self,
        question: str,
        filters: Filters | None,
        timings: dict[str, float] | None,
        view: Catalog | None,
        as_of: date | None = None,
    ) -> tuple[list[Candidate], list[str], np.ndarray, str]:
        """`candidates`, the question's vector, and the question as read (`canonical`, and
        written with the library's capitals when it was typed without any)."""
        s = self.settings
        question = canonical(question)
        filters = filters or Filters()
        timings = {} if timings is None else timings
        t0 = time.perf_counter()
        view = self.store.catalog() if view is None else view
        catalog = view.articles
        self.lexical.ensure(self.store)
        timings["lexical_index"] = elapsed_ms(t0)

        t = time.perf_counter()
        qv = self.embedder.embed_query(question)
        timings["embed"] = elapsed_ms(t)

        t = time.perf_counter()
        dense_hits = self.store.query_sentences(qv, s.candidates, filters)
        recent = self._recent_articles(view, filters, as_of)
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
        # The store reads Chroma through its catalog of now, which another thread's sync may
        # have moved past this question's view: only the view's articles are candidates.
        for h in dense_hits:
            if h.doc_id in catalog:
                cands[(h.doc_id, h.index)] = Candidate(hit=h, dense=h.similarity)
        cands.update(self._read(
            [key for key, _ in lexical_hits if key not in cands and key[0] in catalog], qv))
        for key, c in self._recent_sentences(recent, view, qv).items():
            cands.setdefault(key, c)
        chunk_score = {(c.doc_id, c.index): c.similarity for c in chunk_hits}
        max_lex = lexical_hits[0][1] if lexical_hits else 1.0
        lex_score = {key: score / max_lex for key, score in lexical_hits}
        for key, c in cands.items():
            c.chunk = chunk_score.get((key[0], c.hit.chunk), 0.0)
            c.lexical = lex_score.get(key, 0.0)
        # Which names the question already says, and where a quiz question's asking sentence
        # starts, are read from its capitals: "who won her first tony" is asked as the library
        # writes it ("Tony"), so the answer does not change with how it was typed.
        question = restore_case(question, (c.hit.text for c in cands.values()))

        for c in cands.values():
            c.relevance = self._relevance(c)
        linked = self._follow_links(question, qv, cands, filters, lex_score, view)

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
        if recent:
            # A question about the news is most often about the latest news. A preference: it
            # decides what is cited, not whether the library answers (answerability.
            # by_evidence takes it off again).
            latest = set(recent)
            for c in cands.values():
                if c.hit.doc_id in latest:
                    c.preference += s.recent_bonus
                    c.relevance += s.recent_bonus
        reasons = s.reason_penalty > 0 and expected_type(question) == "reason"
        if reasons:
            # A why-question is answered by causes and reasons; the sentence that restates
            # what is to be explained ("the latest sign of Yerevan drifting from Moscow") matches
            # it best and answers it least.
            for c in cands.values():
                if not has_type(c.hit.text, "reason"):
                    c.preference -= s.reason_penalty
                    c.relevance -= s.reason_penalty
        by_relevance = sorted(cands.values(), key=lambda c: -c.relevance)
        if not reasons:  # the evidence model was fitted on factoid questions only
            self._estimate(question, by_relevance, catalog)
        timings["score"] = elapsed_ms(t)

        doc_rank: list[str] = []
        for c in sorted(cands.values(), key=lambda c: -c.fused):
            if c.hit.doc_id not in doc_rank:
                doc_rank.append(c.hit.doc_id)
        return by_relevance, doc_rank, qv, question

    def _recent_articles(self, view: Catalog, filters: Filters, as_of: date | None) -> list[str]:
        """Ids of the articles published in the `recent_days` up to `as_of` (today when None)
        that `filters` let through; none when recent articles are not preferred."""
        s = self.settings
        asked = day_number((as_of or date.today()).isoformat())
        if s.recent_bonus <= 0 or asked is None:
            return []
        return [d for d in view.published_between(asked - s.recent_days, asked)
                if filters.allows(view.articles[d].source, view.articles[d].published_day)]

    def _recent_sentences(self, recent: list[str], view: Catalog,
                          qv: np.ndarray) -> dict[Key, Candidate]:
        """The `recent_search` sentences of the `recent` articles nearest the question, so that
        the week's report of a much-covered topic is a candidate even when older reports match
        its words better."""
        n = self.settings.recent_search
        if not recent or n <= 0:
            return {}
        keys = [(d, i) for d in recent for i in range(view.articles[d].n_sentences)]
        if len(keys) > RECENT_SEARCH_SENTENCES:
            return {}
        nearest = sorted(self._read(keys, qv).items(), key=lambda kv: -kv[1].dense)[:n]
        return dict(nearest)

    def _neighbours(self, c: Candidate, ranked: list[Candidate], qv: np.ndarray) -> list[Candidate]:
        """c's next and previous sentences in its article (as far as they exist): the
        candidates themselves when they are candidates, else read from the store."""
        keys = [(c.hit.doc_id, c.hit.index + 1), (c.hit.doc_id, c.hit.index - 1)]
        known = {(o.hit.doc_id, o.hit.index): o for o in ranked}
        read = self._read([key for key in keys if key not in known and key[1] >= 0], qv)
        for n in read.values():
            n.relevance = self._relevance(n)
        known.update(read)
        return [known[key] for key in keys if key in known]

    def _read(self, keys: list[Key], qv: np.ndarray) -> dict[Key, Candidate]:
        """Candidates of the sentences `keys` read from the store (those of current versions),
        their dense similarity from their stored vectors."""
        if not keys:
            return {}
        return {key: Candidate(hit=h, dense=float(qv @ h.vector) if h.vector is not None else 0.0)
                for key, h in self.store.get_sentence_records(keys).items()}

    def _recent_mentions(self, question: str, filters: Filters, catalog: dict[str, Any],
                         pool: int = 400, fetch: int = 24) -> list[Candidate]:
        """For a "latest" question: sentences of the newest dated articles that name every
        content word of the question, from a wide BM25 pool. The candidates of a question
        are its best matches whatever their date; the newest report of a much-covered topic
        ("the latest on China") is rarely among them."""
        topic = content_words(canonical(question))
        if not topic:
            return []

        def dated(doc_id: str) -> bool:
            m = catalog.get(doc_id)
            return (m is not None and m.published_day is not None
                    and filters.allows(m.source, m.published_day))

        hits = self.lexical.search(canonical(question), pool, dated)
        newest = sorted((key for key, _ in hits),
                        key=lambda key: -(catalog[key[0]].published_day or 0))
        out: list[Candidate] = []
        # BM25 matches stems ("Olympic" for "Olympics"): read the newest hits a batch at a
        # time until some name the topic's very words.
        for start in range(0, min(len(newest), 4 * fetch), fetch):
            batch = newest[start : start + fetch]
            records = self.store.get_sentence_records(batch)
            for key in batch:
                h = records.get(key)
                if h is not None and topic <= content_words(h.text):
                    c = Candidate(hit=h, lexical=1.0)
                    c.relevance = -1.0  # joins as a mention; never outranks a relevant one
                    out.append(c)
            if out:
                break
        return out

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

    def _estimate(self, question: str, ranked: list[Candidate], catalog: dict[str, Any]) -> None:
        """Set the evidence model's probability on the first MODEL_CANDIDATES candidates."""
        path = self.settings.evidence_model
        if self.settings.evidence_threshold > 1 or not ranked:
            return
        model = evidence_model.load(path) if path else evidence_model.load()
        top = ranked[:MODEL_CANDIDATES]
        rows = features(top, catalog, question, self.lexical)
        for c, p in zip(top, model.probabilities(rows), strict=True):
            c.probability = float(p)

    def _follow_links(
        self,
        question: str,
        qv: np.ndarray,
        cands: dict[Key, Candidate],
        filters: Filters,
        lex_score: dict[Key, float],
        view: Catalog,
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
        self.titles.ensure(view.fingerprint(), view.articles)
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
            if key not in cands and h.doc_id in view.articles:
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
