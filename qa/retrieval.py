"""Hybrid retrieval (dense sentences + dense chunks + BM25, fused by reciprocal rank) and
sentence-level evidence selection with redundancy removed."""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from qa import evidence_model
from qa.embeddings import Embedder
from qa.links import TitleIndex
from qa.settings import Settings
from qa.store import SentenceHit, Store, day_number
from qa.types import Evidence, Sentence

logger = logging.getLogger(__name__)

Key = tuple[str, int]  # (doc_id, sentence index)
MODEL_CANDIDATES = 20
"""The evidence model judges this many of the most relevant candidates (as it was fitted)."""


@dataclass
class Filters:
    """Restrict retrieval to some sources and a publication date range (inclusive)."""

    sources: list[str] | None = None
    since: date | None = None
    until: date | None = None

    def where(self) -> dict[str, Any] | None:
        """The same filter as a Chroma `where` clause on sentence/chunk metadata."""
        parts: list[dict[str, Any]] = []
        if self.sources:
            parts.append({"source": {"$in": list(self.sources)}})
        if self.since:
            parts.append({"day": {"$gte": day_number(self.since.isoformat())}})
        if self.until:
            parts.append({"day": {"$lte": day_number(self.until.isoformat())}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def allows(self, source: str, day: int | None) -> bool:
        if self.sources and source not in self.sources:
            return False
        if self.since and (day is None or day < (day_number(self.since.isoformat()) or 0)):
            return False
        if self.until and (day is None or day > (day_number(self.until.isoformat()) or 0)):
            return False
        return True

    @property
    def active(self) -> bool:
        return bool(self.sources or self.since or self.until)


# --- lexical index ---------------------------------------------------------------------------


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its logger to DEBUG when imported; let the application's logging decide.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


_WORD = re.compile(r"\w+", re.U)
UNSEEN_WEIGHT = 2.0


class LexicalIndex:
    """BM25 (bm25s) over every visible sentence: a cache rebuilt from Chroma when stale.

    The cache on disk is named by the store's fingerprint (doc ids and versions), so a stale
    index is never used, and deleting the cache folder only costs a rebuild.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._fingerprint: str | None = None
        self._retriever: Any = None
        self._keys: list[Key] = []
        self._lock = threading.Lock()
        self._stemmer: Any = None
        self.df: dict[str, int] = {}  # stemmed content word -> sentences containing it

    def _tokenize(self, texts: list[str]) -> Any:
        bm25s = _bm25s()

        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)

    def ensure(self, store: Store) -> None:
        fingerprint = store.catalog().fingerprint()
        if fingerprint == self._fingerprint:
            return
        with self._lock:
            if fingerprint == self._fingerprint:
                return
            if not self._load(fingerprint):
                self._build(store, fingerprint)
            self._fingerprint = fingerprint

    def _load(self, fingerprint: str) -> bool:
        bm25s = _bm25s()

        path = self.cache_dir / fingerprint
        if not (path / "keys.json").exists():
            return False
        try:
            self._retriever = bm25s.BM25.load(str(path))
            self._keys = [tuple(k) for k in json.loads((path / "keys.json").read_text())]
            self.df = json.loads((path / "df.json").read_text())
            return True
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            logger.warning("lexical cache %s unreadable (%s); rebuilding", path, exc)
            return False

    def _build(self, store: Store, fingerprint: str) -> None:
        bm25s = _bm25s()

        keys: list[Key] = []
        texts: list[str] = []
        for doc_id, index, text in store.all_sentences():
            keys.append((doc_id, index))
            texts.append(text)
        self._keys = keys
        df: dict[str, int] = {}
        for text in texts:
            for w in self.terms(text):
                df[w] = df.get(w, 0) + 1
        self.df = df
        if not texts:
            self._retriever = None
            return
        retriever = bm25s.BM25()
        retriever.index(self._tokenize(texts), show_progress=False)
        self._retriever = retriever
        # Old caches are dropped: only the current fingerprint is ever valid.
        if self.cache_dir.exists():
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        path = self.cache_dir / fingerprint
        try:
            path.mkdir(parents=True, exist_ok=True)
            retriever.save(str(path))
            (path / "df.json").write_text(json.dumps(df))
            (path / "keys.json").write_text(json.dumps(keys))
        except OSError as exc:
            logger.warning("could not save the lexical cache to %s: %s", path, exc)

    def terms(self, text: str) -> set[str]:
        """Stemmed content words of a text, as the answerability score compares them."""
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        return set(self._stemmer.stemWords(sorted(content_words(text))))

    def idf(self, term: str) -> float:
        """Rarer words weigh more; a word found in no sentence weighs most of all."""
        n = max(1, len(self._keys))
        df = self.df.get(term, 0)
        # A word no stored sentence contains is the strongest sign that the answer is not here.
        return math.log(1.0 + n / (df + 0.5)) * (UNSEEN_WEIGHT if df == 0 else 1.0)

    def search(
        self, query: str, n: int, allow: Callable[[str], bool] | None = None
    ) -> list[tuple[Key, float]]:
        if self._retriever is None or not self._keys:
            return []
        scores = self._scores(query)
        if scores is None:
            return []
        want = min(len(self._keys), n * 4 if allow else n)
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties in index order
        out: list[tuple[Key, float]] = []
        for i in top:
            s = float(scores[i])
            if s <= 0:
                break
            key = self._keys[int(i)]
            if allow is None or allow(key[0]):
                out.append((key, s))
                if len(out) >= n:
                    break
        return out

    def _scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every sentence for `query` (None when no query word is indexed).

        The same scores as bm25s's `retrieve`, summed with np.bincount over the postings of the
        query's words: bm25s's numpy path uses np.add.at, ~15x slower on 100k+ sentences.
        """
        bm25s = _bm25s()

        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        words = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        vocab = self._retriever.vocab_dict
        ids = [vocab[w] for w in words if w in vocab]
        if not ids:
            return None
        index = self._retriever.scores
        indptr = index["indptr"]
        postings = np.concatenate([np.arange(indptr[i], indptr[i + 1]) for i in ids])
        scores = np.bincount(
            index["indices"][postings], weights=index["data"][postings], minlength=index["num_docs"]
        )
        if self._retriever.nonoccurrence_array is not None:
            scores += self._retriever.nonoccurrence_array[ids].sum()
        return scores


# --- retrieval -------------------------------------------------------------------------------


@dataclass
class Candidate:
    hit: SentenceHit
    dense: float = 0.0
    chunk: float = 0.0
    lexical: float = 0.0
    fused: float = 0.0
    relevance: float = 0.0
    linked: bool = False  # reached through a title link
    bridged: bool = False  # names another of the best articles
    probability: float | None = None  # of being evidence, by the evidence model


@dataclass
class Retrieval:
    """What retrieval found for one question."""

    evidence: list[Evidence]
    related: list[Evidence]
    retrieved_doc_ids: list[str]
    confidence: float
    candidates: list[Evidence] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


_STOP = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being do does
    did what which who whom whose when where why how that this these those it its as into about
    than then there their they them he she his her him we our you your i me my not no yes has
    have had will would can could should may might must also any all some such other both either
    s t article articles according report reported say says said much many""".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


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
        confidence = answerability(question, by_relevance[:k], self.lexical)
        timings["select"] = _ms(t)
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
        filters = filters or Filters()
        timings = {} if timings is None else timings
        t0 = time.perf_counter()
        catalog = self.store.catalog().articles
        self.lexical.ensure(self.store)
        timings["lexical_index"] = _ms(t0)

        t = time.perf_counter()
        qv = self.embedder.embed_query(question)
        timings["embed"] = _ms(t)

        t = time.perf_counter()
        where = filters.where()
        dense_hits = self.store.query_sentences(qv, s.candidates, where)
        chunk_hits = self.store.query_chunks(qv, max(10, s.candidates // 4), where)
        timings["dense"] = _ms(t)

        t = time.perf_counter()

        def allow(doc_id: str) -> bool:
            m = catalog.get(doc_id)
            return m is not None and filters.allows(m.source, m.published_day)

        lexical_hits = self.lexical.search(
            question, s.candidates, allow if filters.active else None
        )
        timings["lexical"] = _ms(t)

        t = time.perf_counter()
        cands: dict[Key, Candidate] = {}
        for h in dense_hits:
            cands[(h.doc_id, h.index)] = Candidate(hit=h, dense=1.0 - h.distance)
        missing = [key for key, _ in lexical_hits if key not in cands]
        if missing:
            for key, h in self.store.get_sentence_records(missing).items():
                dense = float(qv @ h.vector) if h.vector is not None else 0.0
                cands[key] = Candidate(hit=h, dense=dense)
        chunk_score = {(c.doc_id, c.index): 1.0 - c.distance for c in chunk_hits}
        max_lex = lexical_hits[0][1] if lexical_hits else 1.0
        lex_score = {key: score / max_lex for key, score in lexical_hits}
        for key, c in cands.items():
            c.chunk = chunk_score.get((key[0], c.hit.chunk), 0.0)
            c.lexical = lex_score.get(key, 0.0)

        for c in cands.values():
            c.relevance = self._relevance(c)
        linked = self._follow_links(question, qv, cands, where, lex_score, catalog)

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
        by_relevance = sorted(cands.values(), key=lambda c: -c.relevance)
        self._estimate(by_relevance, catalog)
        timings["score"] = _ms(t)

        doc_rank: list[str] = []
        for c in sorted(cands.values(), key=lambda c: -c.fused):
            if c.hit.doc_id not in doc_rank:
                doc_rank.append(c.hit.doc_id)
        return by_relevance, doc_rank

    def _relevance(self, c: Candidate) -> float:
        """Dense cosine + weighted BM25 + the lead bonus (before any link bonus)."""
        s = self.settings
        return c.dense + s.lexical_weight * c.lexical + s.lead_bonus * (c.hit.index == 0)

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
        where: dict[str, Any] | None,
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
        scope: dict[str, Any] = {"doc_id": {"$in": linked}}
        hits = self.store.query_sentences(
            qv, 8 * len(linked), {"$and": [scope, where]} if where else scope
        )
        for h in hits:
            key = (h.doc_id, h.index)
            if key not in cands:
                c = Candidate(hit=h, dense=1.0 - h.distance, lexical=lex_score.get(key, 0.0))
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


def features(top: list[Candidate], catalog: dict[str, Any]) -> list[list[float]]:
    """The evidence model's features of candidates given most relevant first."""
    doc_rank: dict[str, int] = {}
    rows = []
    for rank, c in enumerate(top):
        doc_rank.setdefault(c.hit.doc_id, len(doc_rank))
        rows.append(
            evidence_model.feature_row(
                relevance=c.relevance,
                best=top[0].relevance,
                dense=c.dense,
                lexical=c.lexical,
                chunk=c.chunk,
                index=c.hit.index,
                rank=rank,
                doc_rank=doc_rank[c.hit.doc_id],
                linked=c.linked,
                bridged=c.bridged,
                n_sentences=catalog[c.hit.doc_id].n_sentences,
                text=c.hit.text,
            )
        )
    return rows


def answerability(question: str, top: list[Candidate], lexical: LexicalIndex) -> float:
    """How likely the library answers the question: the best sentence's dense similarity, and
    the IDF-weighted share of the question's (stemmed) content words the top sentences contain.

    A question word that the top sentences lack costs in proportion to its rarity, so "What is
    the population of Yerevan?" over an article that never mentions population scores low even
    though Yerevan matches. See eval/CALIBRATION.md for the threshold.
    """
    if not top:
        return 0.0
    qterms = lexical.terms(question)
    found: set[str] = set()
    for c in top:
        found |= qterms & lexical.terms(c.hit.text)
    total = sum(lexical.idf(t) for t in qterms)
    coverage = sum(lexical.idf(t) for t in found) / total if total else 0.0
    return 0.5 * max(c.dense for c in top) + 0.5 * coverage


def select(
    ranked: list[Candidate],
    k: int,
    margin: float,
    redundancy: float,
    threshold: float = 2.0,
) -> list[Candidate]:
    """Up to k candidates, none too similar to one chosen before. A candidate is cited when it is
    within `margin` of the best relevance, or when the evidence model gives it a probability of
    at least `threshold` (a weak sentence cited costs precision more than it adds). With
    probabilities, the most probable come first; otherwise relevance order.
    """
    if not ranked:
        return []
    best = ranked[0].relevance
    eligible = [
        c
        for c in ranked
        if c.relevance >= best - margin
        or (c.probability is not None and c.probability >= threshold)
    ]
    eligible.sort(key=lambda c: -(c.probability if c.probability is not None else -1.0))
    chosen: list[Candidate] = []
    for c in eligible:
        if len(chosen) >= k:
            break
        if any(_redundant(c, o, redundancy) for o in chosen):
            continue
        chosen.append(c)
    return chosen


def _redundant(a: Candidate, b: Candidate, threshold: float) -> bool:
    if a.hit.vector is not None and b.hit.vector is not None:
        if float(a.hit.vector @ b.hit.vector) >= threshold:
            return True
    wa, wb = content_words(a.hit.text), content_words(b.hit.text)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.6


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
