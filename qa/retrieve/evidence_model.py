"""The probability that a retrieved sentence is evidence for the question: a logistic model over
retrieval features and what the sentence holds of the question (its rarest words, the kind of
thing it asks for), fitted on tune questions by eval/train_evidence_model.py."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.errors import ConfigError

FEATURES = (
    "relevance",  # dense + lexical weight x BM25 + lead bonus + link bonuses
    "dense",  # cosine of the contextual sentence vector with the question
    "lexical",  # BM25, 1 = the best hit
    "chunk",  # cosine of the sentence's chunk with the question
    "lead",  # 1 for an article's first sentence
    "gap",  # best relevance - this one's
    "ratio",  # this relevance / the best
    "rank",  # place in relevance order (capped)
    "doc_rank",  # place of the sentence's article by its best sentence (capped)
    "linked",  # 1 when retrieval reached the article by a title link
    "bridged",  # 1 when the sentence names another of the best articles
    "log_sentences",  # log of the article's sentence count: long articles hold more noise
    "log_index",  # log(1 + sentence index)
    "log_words",  # log of the sentence's word count
    "top",  # 1 for the most relevant sentence
    "type_match",  # holds the kind of thing the question asks for (a number for "how many"...)
    "type_asked",  # 1 when the question's kind is recognised (type_match can be 1 at all)
    "coverage",  # IDF-weighted share of the question's words the sentence holds
    "rarest",  # holds the rarest question word that any candidate holds
)
MAX_RANK = 19
MAX_DOC_RANK = 5
DEFAULT_PATH = Path(__file__).with_name("evidence_model.json")


def feature_row(
    *,
    relevance: float,
    best: float,
    dense: float,
    lexical: float,
    chunk: float,
    index: int,
    rank: int,
    doc_rank: int,
    linked: bool,
    bridged: bool,
    n_sentences: int,
    text: str,
    type_match: bool,
    type_asked: bool,
    coverage: float,
    rarest: bool,
) -> list[float]:
    """The FEATURES of one candidate, in order."""
    return [
        relevance,
        dense,
        lexical,
        chunk,
        float(index == 0),
        best - relevance,
        relevance / best if best > 0 else 0.0,
        float(min(rank, MAX_RANK)),
        float(min(doc_rank, MAX_DOC_RANK)),
        float(linked),
        float(bridged),
        math.log(max(1, n_sentences)),
        math.log1p(index),
        math.log(max(1, len(text.split()))),
        float(rank == 0),
        float(type_match),
        float(type_asked),
        coverage,
        float(rarest),
    ]


@dataclass(frozen=True)
class EvidenceModel:
    """Standardized features -> logistic probability."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probabilities(self, rows: list[list[float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def to_json(self, extra: dict | None = None) -> str:
        data = {
            "features": list(FEATURES),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "coef": self.coef.round(6).tolist(),
            "intercept": round(float(self.intercept), 6),
            **(extra or {}),
        }
        return json.dumps(data, indent=1) + "\n"


@lru_cache(maxsize=4)
def load(path: Path = DEFAULT_PATH) -> EvidenceModel:
    """The model in `path`; a file written for other features is refused, never misread."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"evidence model {path}: cannot be read ({exc})") from exc
    if tuple(data.get("features", ())) != FEATURES:
        raise ConfigError(
            f"evidence model {path}: made for features {data.get('features')}, this version "
            f"computes {list(FEATURES)}; run eval/train_evidence_model.py"
        )
    return EvidenceModel(
        mean=np.asarray(data["mean"], dtype=np.float64),
        scale=np.asarray(data["scale"], dtype=np.float64),
        coef=np.asarray(data["coef"], dtype=np.float64),
        intercept=float(data["intercept"]),
    )
