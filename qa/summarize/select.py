"""Sentence selection for the offline (no LLM) extractive summarizer.

Score: a logistic model over features of each sentence (position, length, centrality, the
article's widespread words, quotes and numbers; qa/summarize/scorer.py), fitted on CNN/DailyMail
tune items against soft oracle labels by eval/train_summary_model.py. Scores are standardized
within each article; with several articles, how strongly the other articles echo a sentence is
added. Furniture (captions, bylines, datelines, tags, fragments) is never a candidate, and
over-long sentences, or pieces that end without a stop, only when an article has nothing else.
Sentences are taken greedily by score less a novelty penalty (MMR: the weight times the highest
cosine to a sentence already chosen), never two near-duplicates, until the length rule is met or,
once MIN_KEPT sentences are chosen, the best one left scores below `stop_score` (standardized
scores: 0 is the article's mean); the result is in reading order.

Length rule, in words: an article of W words (furniture aside) gets a budget of
`word_budget` words (60, chosen on the tune items, whose articles run 260 to 990 words and whose
reference summaries average 51 words and 3.7 sentences); a short article gets at most
`short_share` of its words (under 200 words the budget shrinks), a long one half a budget more
per tripling beyond `flat_words`. Sentences are added until the summary reaches the budget (the
last one may overshoot it), at most SINGLE_CAP. Several articles get the budget of their words
together plus `extra_article_words` per further article, at most MULTI_CAP sentences; each
article first gives its best sentence, and none gives more than its own budget.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.summarize.scorer import SentenceModel, article_features, load_model
from qa.text.words import summary_words

__all__ = [
    "DEFAULT_PARAMS",
    "MIN_KEPT",
    "SelectionParams",
    "article_budget",
    "candidate_indices",
    "ends_sentence",
    "is_near_duplicate",
    "looks_like_furniture",
    "select_sentences",
    "sentence_scores",
    "summary_budget",
]

DUPLICATE_COSINE = 0.75  # above this two sentences state the same fact (the seed lead pair: 0.76)
DUPLICATE_OVERLAP = 0.7  # share of the shorter sentence's content words found in the other
SINGLE_CAP = 5
MULTI_CAP = 10
LENGTH_RATIO = 3.0  # a long article's budget grows by `growth` budgets per this factor of words
MIN_WORDS = 4  # shorter pieces are fragments ("The", "Lifeline?", "(left)") or tags
MIN_KEPT = 2  # the score floor (SelectionParams.stop_score) never cuts a summary below this


@dataclass(frozen=True)
class SelectionParams:
    """The knobs of the selection rule.

    `word_budget`, `max_words` and `stop_score` were chosen on the CNN/DailyMail tune items by
    eval/train_summary_model.py (cross-validated, the model refitted in every fold); the
    others shape lengths and articles the tune items do not hold (short or very long articles,
    several articles at once) and are set, not fitted (`novelty_weight` too: on those
    single-article items 0 and 0.5 come within fold noise of each other).
    """

    word_budget: float = 60.0
    """Words a summary of one article reaches (in the tune range of article lengths)."""
    novelty_weight: float = 0.5
    """MMR: a candidate's standardized score loses this times its highest cosine to the chosen."""
    max_words: int = 60
    """Longer sentences are skipped: in news pages they are captions fused to text or quote runs."""
    stop_score: float | None = 0.0
    """Beyond MIN_KEPT sentences, one is added only if its score less its novelty penalty is above
    this, whatever words the budget leaves (None: the budget alone decides). 0 is the article's
    mean: a below-average sentence costs ROUGE precision more than it adds recall (CV on tune)."""
    short_share: float = 0.3
    """A short article's budget is at most this share of its words (60 words at 200)."""
    flat_words: float = 1000.0
    """Up to this many article words the budget stays `word_budget` (the tune articles' range)."""
    growth: float = 0.5
    """Beyond `flat_words`, the budget grows by this many budgets per tripling of the words."""
    extra_article_words: float = 30.0
    """Several articles: words added to the budget per article after the first."""
    cross_weight: float = 0.5
    """Several articles: weight of the other articles' echo (0..1) on the standardized score."""


DEFAULT_PARAMS = SelectionParams()


# Page furniture that survives paragraph cleaning because it is glued into running text, as in
# CNN/DailyMail pages ("Scroll down for video Top spot: ...").
_FURNITURE = re.compile(
    r"""^(
        scroll\s+down\b
      | by\s*\.\s
      | .{0,60}\breporter\s*\.?$
      | (published|updated|last\s+updated)\b\s*(:|at\b)
      | .*\|\s*updated\s*:
      | sorry,?\s+we\s+are\s+not\s+currently\s+accepting\s+comments
      | click\s+here\b
      | (read|see)\s+more\b
      | (watch|see)\s+the\s+video\b
      | (share|follow)\s+(this|us|me)\b
      | .{0,80}\bcontributed\s+to\s+this\s+report\W*$
      | (advertisement|comments?|loading)\W*$
      | [\w\s.,'’-]{0,40}\(\s*(cnn|ap|afp|reuters)\s*\)\s*(--|—|–|-)?\s*$
    )""",
    re.I | re.X,
)
# "Top spot: Iconic UK brand ..." — a photo caption's label; a speech tag is not one.
_CAPTION_LABEL = re.compile(r"^(?P<label>[A-Z][\w'’-]*(?:\s+[\w'’-]+){0,3})\s*:\s*\S")
_SPEECH = re.compile(
    r"\b(said|says|say|told|tells|added|adds|admits|admitted|continued|read|reads|stated|states|"
    r"wrote|writes|explained|explains|asked|replied|tweeted|posted)\b",
    re.I,
)


def _words(text: str) -> list[str]:
    return text.split()


def looks_like_furniture(sentence: str) -> bool:
    """True for page furniture, captions, bylines, datelines, tags and split-off fragments.

    Such a line wastes summary length at best and is nonsense out of context at worst, so it is
    never a candidate, however central it looks.
    """
    s = sentence.strip()
    if len(_words(s)) < MIN_WORDS or not any(c.isalpha() for c in s):
        return True
    if s[0].islower() or s[0] in ",;:)]-–—.":  # the tail of a sentence the splitter cut in two
        return True
    letters = [c for c in s if c.isalpha()]
    if sum(c.isupper() for c in letters) > 0.7 * len(letters):  # "HE COULD PLAY, TOO!", datelines
        return True
    if _FURNITURE.match(s):
        return True
    label = _CAPTION_LABEL.match(s)
    return label is not None and not _SPEECH.search(label.group("label"))


# A sentence ends with a stop (closing quotes or brackets after it allowed). Pieces without one are
# captions cut from the sentence they were glued to (qa.text.sentences), list items or headings:
# they are candidates only when an article has nothing else. On the CNN/DailyMail tune items
# (cross-validated, caption split on) leaving them out raised ROUGE-1 + 2 + Lsum by 0.4 points.
_STOPPED = re.compile(r"[.!?…][\"'’”)\]]*$")


def ends_sentence(sentence: str) -> bool:
    """Whether `sentence` ends as a sentence does (a stop, then perhaps quotes or brackets)."""
    return _STOPPED.search(sentence.strip()) is not None


def candidate_indices(sentences: Sequence[str]) -> list[int]:
    """The sentences of one article the selector may choose, in order: furniture never; those
    that end without a stop only when no sentence of the article ends with one."""
    usable = [i for i, s in enumerate(sentences) if not looks_like_furniture(s)]
    return [i for i in usable if ends_sentence(sentences[i])] or usable


def is_near_duplicate(a: str, b: str, va: np.ndarray, vb: np.ndarray) -> bool:
    """Whether two sentences state the same fact: close vectors or mostly the same words."""
    if float(va @ vb) > DUPLICATE_COSINE:
        return True
    wa, wb = summary_words(a), summary_words(b)
    shorter = min(len(wa), len(wb))
    return shorter >= 3 and len(wa & wb) >= DUPLICATE_OVERLAP * shorter


def article_budget(words: int, params: SelectionParams = DEFAULT_PARAMS) -> float:
    """Summary words for one article of `words` words (the module doc's length rule)."""
    if words <= 0:
        return 0.0
    if words <= params.flat_words:
        return min(params.word_budget, params.short_share * words)
    steps = math.log(words / params.flat_words, LENGTH_RATIO)
    return params.word_budget * (1.0 + params.growth * steps)


def summary_budget(
    words_per_doc: Sequence[int], params: SelectionParams = DEFAULT_PARAMS
) -> tuple[float, list[float]]:
    """Words for the whole summary, and the most each article may give."""
    per_doc = [article_budget(w, params) for w in words_per_doc]
    present = sum(1 for b in per_doc if b > 0)
    if present <= 1:
        return max(per_doc, default=0.0), per_doc
    together = article_budget(sum(words_per_doc), params)
    total = together + params.extra_article_words * (present - 1)
    return min(total, sum(per_doc)), per_doc


def _cross_doc_centrality(vectors: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """How well each sentence is echoed by the other articles (mean of best matches), 0..1.

    A fact several articles report is what a cross-article summary should say first.
    """
    sim = vectors @ vectors.T
    out = np.zeros(len(vectors))
    doc_ids = np.unique(docs)
    for i in range(len(vectors)):
        best = [sim[i, docs == d].max() for d in doc_ids if d != docs[i]]
        out[i] = float(np.mean(best)) if best else 0.0
    return _scale(out)


def _scale(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min()) if len(x) else 0.0
    return (x - x.min()) / span if span > 1e-12 else np.zeros(len(x))


def _standardize(x: np.ndarray) -> np.ndarray:
    spread = float(x.std()) if len(x) else 0.0
    return (x - x.mean()) / spread if spread > 1e-12 else np.zeros(len(x))


def sentence_scores(
    sentences: Sequence[str], vectors: np.ndarray, model: SentenceModel | None = None
) -> np.ndarray:
    """The model's scores of one article's candidate sentences (reading order), standardized."""
    model = model or load_model()
    return _standardize(model.logits(article_features(sentences, vectors)))


def select_sentences(
    sentences: list[str],
    vectors: np.ndarray,
    doc_index: list[int],
    position: list[int],
    *,
    max_sentences: int | None = None,
    params: SelectionParams = DEFAULT_PARAMS,
    model: SentenceModel | None = None,
) -> list[int]:
    """Indices of the summary sentences, in reading order (by article, then position).

    `vectors[i]` is the unit vector of `sentences[i]`, which is sentence `position[i]` of article
    `doc_index[i]`. The length follows `summary_budget` (at most `max_sentences` when given);
    furniture is never chosen, nor two near-duplicates; with several articles each gets its best
    sentence before any gets a second. `model` defaults to the shipped sentence model.
    Deterministic: ties go to the earlier sentence.
    """
    n = len(sentences)
    if not (len(vectors) == len(doc_index) == len(position) == n):
        raise ValueError(
            "sentences, vectors, doc_index and position differ in length: "
            f"{n}, {len(vectors)}, {len(doc_index)}, {len(position)}"
        )
    if n == 0 or (max_sentences is not None and max_sentences <= 0):
        return []
    vecs = np.asarray(vectors, dtype=np.float64).reshape(n, -1)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    docs = np.asarray(doc_index)
    positions = np.asarray(position)
    lengths = [len(s.split()) for s in sentences]

    usable = [i for i in range(n) if not looks_like_furniture(sentences[i])]
    doc_ids = sorted({int(docs[i]) for i in usable})
    if not doc_ids:
        return []
    score: dict[int, float] = {}
    candidates: list[int] = []
    words: list[int] = []
    for d in doc_ids:
        mine = sorted((i for i in usable if docs[i] == d), key=lambda i: (positions[i], i))
        mine = [i for i in mine if ends_sentence(sentences[i])] or mine  # as candidate_indices
        words.append(sum(lengths[i] for i in mine))
        score.update(
            zip(mine, sentence_scores([sentences[i] for i in mine], vecs[mine], model).tolist(),
                strict=True)
        )
        within = [i for i in mine if lengths[i] <= params.max_words]
        candidates.extend(within or mine)
    if len(doc_ids) > 1:
        cross = _cross_doc_centrality(vecs[candidates], docs[candidates])
        for i, c in zip(candidates, cross.tolist(), strict=True):
            score[i] += params.cross_weight * c
    budget, per_doc = summary_budget(words, params)
    cap = SINGLE_CAP if len(doc_ids) == 1 else MULTI_CAP
    if max_sentences is not None:
        cap = min(cap, max_sentences)
    room = dict(zip(doc_ids, per_doc, strict=True))  # words each article may still give

    chosen: list[int] = []
    left = sorted(candidates, key=lambda i: (docs[i], positions[i], i))

    def best(allowed: list[int]) -> tuple[int, float]:
        """The allowed candidate of highest score less its novelty penalty, and that value;
        ties: the earlier."""
        values = [
            score[i] - params.novelty_weight * max((float(vecs[i] @ vecs[j]) for j in chosen),
                                                   default=0.0)
            for i in allowed
        ]
        k = int(np.argmax(values))
        return allowed[k], values[k]

    def take_best(allowed: list[int], floor: float | None = None) -> int | None:
        """Take the best allowed candidate that repeats nothing chosen; the repeats are dropped.
        None when nothing is left, or when that candidate's value is below `floor`."""
        while allowed:
            i, value = best(allowed)
            left.remove(i)
            allowed.remove(i)
            if not any(is_near_duplicate(sentences[i], sentences[j], vecs[i], vecs[j])
                       for j in chosen):
                if floor is not None and value < floor:
                    return None
                chosen.append(i)
                room[int(docs[i])] -= lengths[i]
                return int(docs[i])
        return None

    if len(doc_ids) > 1:  # coverage first: each article's best sentence, best articles first
        uncovered = set(doc_ids)
        while uncovered and len(chosen) < cap:
            taken = take_best([i for i in left if int(docs[i]) in uncovered])
            if taken is None:
                break
            uncovered.discard(taken)
    while len(chosen) < cap and sum(lengths[j] for j in chosen) < budget:
        floor = params.stop_score if len(chosen) >= MIN_KEPT else None
        if take_best([i for i in left if room[int(docs[i])] > 0], floor) is None:
            break
    return sorted(chosen, key=lambda i: (docs[i], positions[i], i))
