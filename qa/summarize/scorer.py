"""How likely a sentence is to belong in its article's summary: features of each candidate sentence
and a logistic model over them, fitted on CNN/DailyMail tune items by eval/train_summary_model.py
against soft oracle labels (each sentence's share of the weight of the best few extractive
summaries). The model is a JSON file of coefficients applied with numpy, so nothing beyond numpy
is needed at run time.

Features are computed over one article's candidate sentences (furniture already left out) in
reading order, so a caption or byline at the top does not push the real lead down. Titles and
paragraph breaks are not features: the CNN/DailyMail items carry neither, so no weight for them
could be fitted.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.errors import ConfigError
from qa.text.words import claim_words

__all__ = ["DEFAULT_PATH", "FEATURES", "SentenceModel", "article_features", "load_model"]

FEATURES = (
    "first",  # 1 for the article's first candidate sentence
    "second",
    "third",
    "log_rank",  # log(1 + rank among the candidates)
    "relative_rank",  # rank / (candidates - 1): 0 first, 1 last
    "log_words",  # log of the word count
    "long",  # words above LONG_WORDS, in tens
    "short",  # words below SHORT_WORDS, in tens
    "centrality",  # mean cosine to the article's other candidates
    "forward",  # mean cosine to the later candidates (what the rest elaborates on)
    "backward",  # mean cosine to the earlier candidates (an echo)
    "lead_similarity",  # cosine to the first candidate (the first: to the second)
    "number",  # holds a digit
    "quote",  # holds a quotation
    "opens_quote",  # starts with a quotation mark
    "opens_reference",  # starts with a pronoun or connective that needs the sentence before
    "capitalized",  # share of capitalized words after the first (names)
    "log_sentences",  # log of the article's candidate count
    "word_frequency",  # mean share of the other candidates that hold each of its content words
    "top_words",  # share of the article's TOP_WORDS most widespread content words it holds
    "lead_overlap",  # share of its content words found in the first candidate (the first: second)
    "repeated_words",  # share of its content words that another candidate also holds
)
LONG_WORDS = 35
SHORT_WORDS = 12
TOP_WORDS = 10
DEFAULT_PATH = Path(__file__).with_name("sentence_model.json")

_QUOTE = re.compile(r"(?:^|\s)[\"“‘'][\w(]")
_OPENS_QUOTE = re.compile(r"^[\"“‘']")
_OPENS_REFERENCE = re.compile(
    r"^(he|she|it|they|this|that|these|those|his|her|their|its|but|and|however|also)\b", re.I
)


def _mean_cosines(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per sentence: mean cosine to all others, to later ones, to earlier ones; cosine to the lead."""
    n = len(sim)
    idx = np.arange(n)
    later = np.triu(sim, 1).sum(axis=1) / np.maximum(n - 1 - idx, 1)
    earlier = np.tril(sim, -1).sum(axis=1) / np.maximum(idx, 1)
    others = (sim.sum(axis=1) - np.diag(sim)) / max(n - 1, 1)
    lead = sim[0].copy()
    lead[0] = sim[0, 1] if n > 1 else 0.0
    return others, later, earlier, lead


def _shares(words: list[set[str]]) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per sentence: word frequency, top-word share, overlap with the lead, repeated share."""
    n = len(words)
    spread = Counter(w for ws in words for w in ws)  # in how many sentences each word stands
    top = {w for w, _ in sorted(spread.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_WORDS]}
    frequency, tops, overlap, repeated = [], [], [], []
    for r, ws in enumerate(words):
        size = max(len(ws), 1)
        frequency.append(sum(spread[w] - 1 for w in ws) / size / max(n - 1, 1))
        tops.append(len(ws & top) / max(len(top), 1))
        lead = words[1] if r == 0 and n > 1 else words[0] if r > 0 else set()
        overlap.append(len(ws & lead) / size)
        repeated.append(sum(spread[w] > 1 for w in ws) / size)
    return frequency, tops, overlap, repeated


def article_features(sentences: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """One row of FEATURES per sentence of one article (its candidates, in reading order).

    `vectors[i]` is the unit vector of `sentences[i]` (plain sentence vectors, as the Summarizer
    computes them).
    """
    n = len(sentences)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    vecs = np.asarray(vectors, dtype=np.float64).reshape(n, -1)
    sim = vecs @ vecs.T
    centrality, forward, backward, lead = _mean_cosines(sim)
    frequency, tops, overlap, repeated = _shares([claim_words(s) for s in sentences])
    rows = []
    for r, s in enumerate(sentences):
        tokens = s.split()
        words = len(tokens)
        caps = sum(t[:1].isupper() for t in tokens[1:]) / max(words - 1, 1)
        rows.append(
            [
                float(r == 0),
                float(r == 1),
                float(r == 2),
                math.log1p(r),
                r / max(n - 1, 1),
                math.log(max(words, 1)),
                max(0, words - LONG_WORDS) / 10,
                max(0, SHORT_WORDS - words) / 10,
                centrality[r],
                forward[r],
                backward[r],
                lead[r],
                float(any(c.isdigit() for c in s)),
                float(_QUOTE.search(s) is not None),
                float(_OPENS_QUOTE.match(s) is not None),
                float(_OPENS_REFERENCE.match(s) is not None),
                caps,
                math.log(n),
                frequency[r],
                tops[r],
                overlap[r],
                repeated[r],
            ]
        )
    return np.asarray(rows, dtype=np.float64)


@dataclass(frozen=True)
class SentenceModel:
    """A logistic model over standardized FEATURES: (x - mean) / scale @ coef + intercept."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The log-odds that each row's sentence belongs in the summary."""
        x = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURES))
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict:
        """The JSON form `load_model` reads (plus whatever the caller adds about the fit)."""
        return {
            "features": list(FEATURES),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
        }


@lru_cache(maxsize=4)
def load_model(path: Path = DEFAULT_PATH) -> SentenceModel:
    """The model in `path`; one fitted for other features is refused, never misapplied."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = SentenceModel(
            mean=np.asarray(data["mean"], dtype=np.float64).reshape(-1),
            scale=np.asarray(data["scale"], dtype=np.float64).reshape(-1),
            coef=np.asarray(data["coef"], dtype=np.float64).reshape(-1),
            intercept=float(data["intercept"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"summary sentence model {path}: cannot be read ({exc})") from exc
    if tuple(data.get("features", ())) != FEATURES:
        raise ConfigError(
            f"summary sentence model {path}: fitted for features {data.get('features')}, this "
            f"version computes {list(FEATURES)}; run eval/train_summary_model.py --write"
        )
    values = np.concatenate([model.mean, model.scale, model.coef, [model.intercept]])
    shapes = {len(model.mean), len(model.scale), len(model.coef)}
    if shapes != {len(FEATURES)} or not np.isfinite(values).all() or not np.all(model.scale > 0):
        raise ConfigError(f"summary sentence model {path}: malformed coefficients")
    return model
