"""Pure scoring functions: retrieval, citations, answers, abstention, LLM claims, latency, ROUGE.

Every function takes plain values (strings, lists, dicts as read from JSONL) and returns numbers, so
`score.py` can compose them and tests can check them by hand. A metric that has nothing to measure
(no evidence, no citations) returns None rather than a made-up 0 or 1.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qa.text import sentences

__all__ = [
    "MIN_FRAGMENT_TOKENS",
    "ROUGE_TYPES",
    "SENTENCE_JACCARD",
    "abstention_curve",
    "abstention_rates",
    "answer_contained",
    "cited_chars",
    "cited_sentences",
    "citation_precision",
    "claim_support",
    "evidence_recall",
    "exact_match",
    "hit_at_k",
    "is_yes_no",
    "jaccard",
    "latency_percentiles",
    "lead3",
    "lenient_hit_at_k",
    "lenient_recall_at_k",
    "lenient_reciprocal_rank",
    "mean",
    "mean_dropped_citations",
    "normalize_answer",
    "normalize_text",
    "recall_at_k",
    "reciprocal_rank",
    "rouge",
    "sentences_match",
    "token_f1",
    "word_tokens",
    "yes_no_verdict",
]

SENTENCE_JACCARD = 0.8
"""Word-token Jaccard at or above which a cited sentence and an evidence sentence are the same."""

MIN_FRAGMENT_TOKENS = 4
"""Fewest word tokens a cited piece needs to match an evidence sentence by being inside it.

Chunk boundaries leave fragments such as "2014." or "He said" at the edge of a citation; without
this floor such a fragment would count as citing every evidence sentence that contains it.
"""

# ---------------------------------------------------------------------------------------------
# Text normalization and sentence matching

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalize_text(text: str) -> str:
    """Text for sentence matching: NFKC, lower case, one kind of quote, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_QUOTES)
    return _SPACE.sub(" ", text).strip()


def word_tokens(text: str) -> list[str]:
    """The word tokens (runs of letters, digits and underscores) of the normalized text."""
    return _WORD.findall(normalize_text(text))


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard similarity of two token collections taken as sets (0 when both are empty)."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def sentences_match(cited: str, evidence: str) -> bool:
    """Whether a cited sentence is the evidence sentence, up to whitespace, quotes and case.

    A match is: the evidence inside the cited sentence (the segmenter may have merged two
    sentences); the cited piece inside the evidence when it has at least MIN_FRAGMENT_TOKENS
    words (a chunk may cut a sentence); or word-token Jaccard >= SENTENCE_JACCARD.
    """
    c, e = normalize_text(cited), normalize_text(evidence)
    if not c or not e:
        return False
    if e in c:
        return True
    c_tokens = _WORD.findall(c)
    if c in e and len(c_tokens) >= MIN_FRAGMENT_TOKENS:
        return True
    return jaccard(c_tokens, _WORD.findall(e)) >= SENTENCE_JACCARD


def cited_sentences(citations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The sentences of all citations' text, in order; a chunk citation yields several.

    Duplicates are kept: a sentence cited twice (overlapping chunks) is read twice by the user.
    """
    out: list[str] = []
    for c in citations:
        text = str(c.get("text") or "")
        out.extend(text[s:e] for s, e in sentences.split(text))
    return out


def cited_chars(citations: Sequence[Mapping[str, Any]]) -> int:
    """Characters of cited text the reader is given, summed over citations."""
    return sum(len(str(c.get("text") or "")) for c in citations)


# ---------------------------------------------------------------------------------------------
# Retrieval


def recall_at_k(retrieved: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """Share of the gold documents among the first k retrieved (None without gold documents)."""
    gold_set = set(gold)
    if not gold_set:
        return None
    return len(gold_set & set(retrieved[:k])) / len(gold_set)


def hit_at_k(retrieved: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """1.0 when any gold document is among the first k retrieved (None without gold)."""
    gold_set = set(gold)
    if not gold_set:
        return None
    return 1.0 if gold_set & set(retrieved[:k]) else 0.0


def reciprocal_rank(retrieved: Sequence[str], gold: Iterable[str]) -> float | None:
    """1 / rank of the first gold document retrieved, 0 when none is (None without gold)."""
    gold_set = set(gold)
    if not gold_set:
        return None
    for rank, doc_id in enumerate(retrieved, start=1):
        if doc_id in gold_set:
            return 1.0 / rank
    return 0.0


def lenient_recall_at_k(
    retrieved: Sequence[str], gold: Iterable[str], silver: Iterable[str], k: int
) -> float | None:
    """Gold recall@k, except that any silver document in the first k counts as full recall.

    Silver documents (RealTimeQA's full articles) are alternatives to the gold snippet, not
    additions, so finding one answers the question as well as finding every gold document.
    """
    if set(silver) & set(retrieved[:k]):
        return 1.0
    return recall_at_k(retrieved, gold, k)


def lenient_hit_at_k(
    retrieved: Sequence[str], gold: Iterable[str], silver: Iterable[str], k: int
) -> float | None:
    """hit@k where a gold or a silver document counts."""
    return hit_at_k(retrieved, set(gold) | set(silver), k)


def lenient_reciprocal_rank(
    retrieved: Sequence[str], gold: Iterable[str], silver: Iterable[str]
) -> float | None:
    """Reciprocal rank of the first gold or silver document."""
    return reciprocal_rank(retrieved, set(gold) | set(silver))


# ---------------------------------------------------------------------------------------------
# Citations


def evidence_recall(
    citations: Sequence[Mapping[str, Any]],
    gold_evidence: Sequence[str],
    silver_evidence: Sequence[str] = (),
) -> float | None:
    """Share of gold evidence sentences cited; None when there is no gold evidence.

    A gold sentence is cited when its normalized text lies inside some citation's text or it
    matches one cited sentence (`sentences_match`). With silver evidence the figure is 1.0 when
    any gold or silver sentence is cited and 0.0 otherwise: silver sentences are alternative
    statements of the answer, so one of them is as good as the whole gold set.
    """
    if not gold_evidence:
        return None
    texts = [normalize_text(str(c.get("text") or "")) for c in citations]
    cited = cited_sentences(citations)

    def is_cited(sentence: str) -> bool:
        norm = normalize_text(sentence)
        if norm and any(norm in t for t in texts):
            return True
        return any(sentences_match(c, sentence) for c in cited)

    if silver_evidence:
        return 1.0 if any(is_cited(s) for s in [*gold_evidence, *silver_evidence]) else 0.0
    return sum(is_cited(s) for s in gold_evidence) / len(gold_evidence)


def citation_precision(cited: Sequence[str], evidence: Sequence[str]) -> float | None:
    """Share of cited sentences that match some gold or silver evidence sentence.

    `cited` comes from `cited_sentences`; None when nothing is cited.
    """
    if not cited:
        return None
    hits = sum(any(sentences_match(c, e) for e in evidence) for c in cited)
    return hits / len(cited)


# ---------------------------------------------------------------------------------------------
# Answers

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s]")


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces.

    NFKC and quote folding come first so that typographic variants normalize alike.
    """
    text = normalize_text(text)
    text = _PUNCT.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalized prediction equals the normalized gold answer."""
    return 1.0 if normalize_answer(prediction) == normalize_answer(gold) else 0.0


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 (bag of words, counts respected) between prediction and gold answer."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    remaining = list(ref)
    common = 0
    for tok in pred:
        if tok in remaining:
            remaining.remove(tok)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def is_yes_no(gold: str) -> bool:
    """Whether a gold answer is a bare yes or no (HotpotQA "yes", MultiHop-RAG "Yes"/"No")."""
    return normalize_answer(gold) in ("yes", "no")


def yes_no_verdict(answer: str) -> str | None:
    """Return "yes" or "no" as the answer says it: its first word, else the only one it uses."""
    tokens = normalize_answer(answer).split()
    if not tokens:
        return None
    if tokens[0] in ("yes", "no"):
        return tokens[0]
    said = {t for t in tokens if t in ("yes", "no")}
    return said.pop() if len(said) == 1 else None


def answer_contained(answer: str, cited_texts: Sequence[str], gold: str) -> float:
    """1.0 when the gold answer appears (normalized, whole words) in the answer or its citations.

    Yes/no gold answers never appear in the sources, so they are judged on the answer alone by
    `yes_no_verdict`.
    """
    if is_yes_no(gold):
        return 1.0 if yes_no_verdict(answer) == normalize_answer(gold) else 0.0
    needle = normalize_answer(gold)
    if not needle:
        return 0.0
    haystack = normalize_answer(" ".join([answer, *cited_texts]))
    return 1.0 if f" {needle} " in f" {haystack} " else 0.0


# ---------------------------------------------------------------------------------------------
# Abstention


def abstention_rates(items: Iterable[tuple[bool, bool]]) -> tuple[float | None, float | None]:
    """(share of unanswerable questions abstained on, share of answerable ones abstained on).

    `items` are (answerable, abstained) pairs; a rate is None when its group is empty.
    """
    pairs = list(items)
    on_null = [abstained for answerable, abstained in pairs if not answerable]
    on_answerable = [abstained for answerable, abstained in pairs if answerable]
    return mean([float(a) for a in on_null]), mean([float(a) for a in on_answerable])


def abstention_curve(
    items: Sequence[tuple[bool, float]], thresholds: Sequence[float] | None = None
) -> list[tuple[float, float | None, float | None]]:
    """(threshold, abstain-on-null rate, false-abstention rate) when abstaining below a threshold.

    `items` are (answerable, confidence) pairs. Without thresholds, the deciles of the observed
    confidences are used, plus one just above the largest (abstain on everything).
    """
    if not items:
        return []
    if thresholds is None:
        confs = sorted(c for _, c in items)
        picks = {confs[round(q * (len(confs) - 1) / 10)] for q in range(11)}
        top = confs[-1]
        picks.add(math.nextafter(top, math.inf))
        thresholds = sorted(picks)
    curve = []
    for t in thresholds:
        on_null, false_abstain = abstention_rates((ans, conf < t) for ans, conf in items)
        curve.append((float(t), on_null, false_abstain))
    return curve


# ---------------------------------------------------------------------------------------------
# LLM answers, latency, means


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def claim_support(claims_per_answer: Iterable[Sequence[Mapping[str, Any]] | None]) -> dict:
    """Shares of all claims judged supported, partial and unsupported, pooled over answers.

    Answers without a `claims` list (extractive mode) are skipped; shares are None when no
    answer has claims.
    """
    counts = {"supported": 0, "partial": 0, "unsupported": 0}
    n = 0
    for claims in claims_per_answer:
        for claim in claims or []:
            n += 1
            support = str(claim.get("support"))
            if support in counts:
                counts[support] += 1
    shares: dict[str, float | None] = {k: (v / n if n else None) for k, v in counts.items()}
    return {"n_claims": n, **shares}


def mean_dropped_citations(dropped: Iterable[int | None]) -> float | None:
    """Mean `dropped_citations` over the answers that report it."""
    return mean(float(d) for d in dropped if d is not None)


def latency_percentiles(totals_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and mean of total latencies, linear interpolation between ranks (numpy's way)."""
    if not totals_ms:
        return {"p50": None, "p95": None, "mean": None}
    xs = sorted(float(x) for x in totals_ms)

    def pct(p: float) -> float:
        pos = (len(xs) - 1) * p / 100
        lo, hi = math.floor(pos), math.ceil(pos)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return {"p50": pct(50), "p95": pct(95), "mean": sum(xs) / len(xs)}


# ---------------------------------------------------------------------------------------------
# Summaries

ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")


def _sentence_lines(text: str) -> str:
    # rougeLsum reads one sentence per line; without newlines it degrades to plain rougeL.
    return "\n".join(text[s:e] for s, e in sentences.split(text))


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-Lsum F1 of a summary against a reference, Porter stemming on."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    scores = scorer.score(_sentence_lines(reference), _sentence_lines(prediction))
    return {name: float(scores[name].fmeasure) for name in ROUGE_TYPES}


def lead3(text: str) -> str:
    """The first three sentences of an article, the summary every summarizer must beat."""
    return " ".join(text[s:e] for s, e in sentences.split(text)[:3])
