"""Answerability: does the library answer this question, or only talk about its subject?

Matching the question's words is not enough: a library on Armenia and Russia matches "What is
the population of Armenia?" word for word ("Armenian-populated") without giving any population.
So besides how well the best sentences match (dense similarity, the IDF-weighted share of the
question's words they hold, together and within one sentence), the model looks for the kind of
thing the question asks for (a number for "how many", a date for "when", a name for "who"...)
in a sentence that is also about the question's subject (holds its rarest matched word). A
logistic regression over these features, fitted on tune questions only, with in-topic
unanswerable questions as negatives (eval/train_answerability.py), gives P(answerable); the
question abstains below `abstain_threshold`. The same gate decides in LLM mode.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.retrieve.evidence import Candidate
    from qa.retrieve.lexical import LexicalIndex

DEFAULT_PATH = Path(__file__).with_name("answerability_model.json")
TOP = 5  # candidates the features look at, most relevant first

# --- what the question asks for ------------------------------------------------------------------

_NUMBER_Q = re.compile(
    r"\bhow (many|much|long|old|far|often|big|large|tall|high|fast)\b|\bwhat (percentage|percent|"
    r"share|number|amount|proportion|age)\b|\b(population|price|cost|budget|toll|count|rate)\b",
    re.I,
)
_DATE_Q = re.compile(r"^\s*when\b|\b(what|which) (year|date|day|month|decade|century)\b|\bsince when\b", re.I)
_PERSON_Q = re.compile(r"^\s*(who|whom|whose)\b|\b(which|what) (person|man|woman|official|leader)\b", re.I)
_PLACE_Q = re.compile(r"^\s*where\b|\b(which|what) (country|city|state|town|region|place)\b", re.I)
_REASON_Q = re.compile(r"^\s*(why|how come)\b|\bwhat (caused|led to|is the reason)\b", re.I)
# "Which movie ...", "What is the name of ...": a name the question does not hold.
_NAME_Q = re.compile(
    r"\bwhich\s+[a-z]+|\bwhat\s+(?!(is|are|was|were|did|does|do|has|have|had|will|would|can|could|"
    r"should|happened|about)\b)[a-z]+|\b(nick)?name(d)? of\b",
    re.I,
)
# "What did Peskov say about ...": a statement, quoted or reported.
_QUOTE_Q = re.compile(r"\b(say|said|says|call|called|describe[sd]?|claim(ed)?|warn(ed)?|tell|told)\b", re.I)
_QUOTE = re.compile(r"[\"“”«»]|\b(said|says|told|called|described|claimed|warned|according to)\b", re.I)
TYPES = ("number", "date", "person", "place", "reason", "quote", "name", "other")

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion billions trillion dozen dozens "
    "half quarter percent"
).split()
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    "saturday sunday"
).split()
_DATE = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)s?\b|\b(" + "|".join(_MONTHS) + r")\b|\b(yesterday|today|tomorrow|"
    r"last (week|month|year)|this (week|month|year)|next (week|month|year)|(\d+|a|two|three|"
    r"several) (days|weeks|months|years) (ago|later|earlier))\b",
    re.I,
)
# A capitalized word not opening the sentence, or a run of two: names of people and places.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z'’]+(?:\s+[A-Z][a-z'’]+)*")
_PERSON_CUE = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|President|Prime Minister|Minister|Senator|Governor|King|Queen|Prince|CEO|"
    r"spokesman|spokeswoman|said|says|told|according to)\b"
)
_PLACE_CUE = re.compile(r"\b(in|at|from|to|near|across)\s+(the\s+)?[A-Z][a-z]+")
_REASON_CUE = re.compile(
    r"\b(because|since|as a result|due to|owing to|amid|after|following|in response|so that|"
    r"therefore|thus|reason|blame[sd]?|caus(e|ed|es|ing)|led to|lead to|fail(ed|ure|s)?|"
    r"unable|unwilling|frustrat\w*|mistake|concern\w*|fear\w*|sought to)\b",
    re.I,
)


def expected_type(question: str) -> str:
    """What kind of thing the question asks for: one of TYPES."""
    for name, pattern in (("date", _DATE_Q), ("number", _NUMBER_Q), ("person", _PERSON_Q),
                          ("place", _PLACE_Q), ("reason", _REASON_Q), ("quote", _QUOTE_Q),
                          ("name", _NAME_Q)):
        if pattern.search(question):
            return name
    return "other"


def has_type(text: str, kind: str, question: str = "") -> bool:
    """Whether `text` holds something of `kind` that the question does not already say."""
    if kind == "number":
        # A count or amount: not an ordinal ("12th Brigade") and not a year.
        asked = set(re.findall(r"\d[\d,.]*", question))
        amounts = [m.group(1) for m in re.finditer(r"(\d[\d,.]*)(st|nd|rd|th)?\b", text)
                   if not m.group(2) and not re.fullmatch(r"(1[5-9]|20)\d\d", m.group(1))]
        return any(a not in asked for a in amounts) or bool(
            re.search(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", text, re.I)
        )
    if kind == "quote":
        return bool(_QUOTE.search(text))
    if kind == "date":
        return bool(_DATE.search(text))
    if kind in ("person", "place", "name"):
        asked = {w.lower() for w in re.findall(r"[A-Z][a-z'’]+", question)}
        names = [n for n in _NAME.findall(text) if n.split()[0].lower() not in asked]
        if kind == "name":
            return bool(names)
        cue = _PERSON_CUE if kind == "person" else _PLACE_CUE
        return bool(names) and bool(cue.search(text) or len(names) >= 2)
    if kind == "reason":
        return bool(_REASON_CUE.search(text))
    return True


# --- the features ----------------------------------------------------------------------------------

FEATURES = (
    "best_dense",
    "union_coverage",
    "best_sentence_coverage",
    "rarest_missing_found",
    "type_with_subject",
    "type_anywhere",
    "type_coverage",
    "type_other",
    "top_relevance",
    "one_sentence_answers",
)


def question_words(
    question: str, texts: list[str], lexical: LexicalIndex
) -> tuple[set[str], dict[str, float], list[set[str]], str | None]:
    """The question's content words (stems), their IDF weights, the ones each text holds, and
    the rarest one any text holds (the question's subject, as the library has it)."""
    qterms = lexical.terms(question)
    weights = {t: lexical.idf(t) for t in qterms}
    held = [qterms & lexical.terms(text) for text in texts]
    union = set().union(*held)
    return qterms, weights, held, max(union, key=lambda t: weights[t]) if union else None


def feature_row(question: str, top: list[Candidate], lexical: LexicalIndex) -> list[float]:
    """The model's features of a question and its most relevant candidates (up to TOP).

    Nothing here depends on the size of the library (how many articles the top sentences come
    from would: a one-article library is no less answerable)."""
    top = top[:TOP]
    if not top:
        return [0.0] * len(FEATURES)
    qterms, weights, found_each, subject = question_words(question, [c.hit.text for c in top], lexical)
    total = sum(weights.values()) or 1.0
    union = set().union(*found_each)
    missing = [weights[t] for t in qterms - union]
    kind = expected_type(question)
    with_subject = [c for c, f in zip(top, found_each, strict=True) if subject in f]
    typed = [sum(weights[t] for t in f) / total for c, f in zip(top, found_each, strict=True)
             if has_type(c.hit.text, kind, question)]
    return [
        max(c.dense for c in top),
        sum(weights[t] for t in union) / total,
        max(sum(weights[t] for t in f) for f in found_each) / total,
        1.0 - (max(missing) if missing else 0.0) / max(weights.values(), default=1.0),
        float(any(has_type(c.hit.text, kind, question) for c in with_subject)),
        float(any(has_type(c.hit.text, kind, question) for c in top)),
        max(typed, default=0.0),
        float(kind == "other"),
        top[0].relevance,
        float(bool(qterms) and any(f == qterms and has_type(c.hit.text, kind, question)
                                   for c, f in zip(top, found_each, strict=True))),
    ]


def by_evidence(ranked: list[Candidate], depth: int = 30) -> list[Candidate]:
    """The first `depth` candidates ordered by relevance as evidence, without the preferences
    that only decide how to answer (a why-question prefers sentences that give reasons)."""
    from dataclasses import replace

    return sorted((replace(c, relevance=c.relevance - c.preference) for c in ranked[:depth]),
                  key=lambda c: -c.relevance)


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardized logistic regression over FEATURES."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    features: tuple[str, ...] = FEATURES

    def probability(self, row: list[float]) -> float:
        """P(answerable). One sentence that holds every word of the question and the kind of
        thing it asks for answers it, whatever the rest says: on the tune questions this held
        for 23 of 943 answerable ones and none of 139 unanswerable (eval/CALIBRATION.md)."""
        if row[FEATURES.index("one_sentence_answers")]:
            return 0.99
        z = self.intercept + sum(
            c * (x - m) / s for c, x, m, s in zip(self.coef, row, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}


@lru_cache(maxsize=4)
def load(path: str | None = None) -> AnswerabilityModel:
    """The shipped model (or the one at `path`); ConfigError when it is for other features."""
    where = Path(path) if path else DEFAULT_PATH
    try:
        data = json.loads(where.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the answerability model {where}: {exc}") from exc
    if tuple(data.get("features", ())) != FEATURES:
        raise ConfigError(f"The answerability model {where} was fitted on other features: refit it "
                          "with eval/train_answerability.py --write.")
    return AnswerabilityModel(tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]),
                              float(data["intercept"]))
