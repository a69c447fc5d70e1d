"""Citations in model output: parse [S#] markers, drop invented ones, renumber, label claims.

The model is shown numbered sentences ([S1], [S2]...) and asked to cite them after each sentence
it writes. Nothing it cites is trusted until it is matched to a sentence it was actually given:

    cited = cite(reply_text, numbered, embedder)   # numbered: {"S1": Evidence, ...}
    cited.text        # markers renumbered [1], [2]... in order of first use
    cited.citations   # list[Citation], n = 1, 2, ...
    cited.claims      # list[Claim]: each answer sentence labelled supported/partial/unsupported
    cited.dropped     # markers that named no provided sentence (removed from the text)

How claims are labelled
-----------------------
A claim (one sentence of the reply) is scored against the sentences it cites:

    score = EMBEDDING_WEIGHT * cosine + (1 - EMBEDDING_WEIGHT) * coverage

`cosine` is the best cosine similarity between the claim and a cited sentence (or all its cited
sentences joined, for claims that combine several); `coverage` is the share of the claim's
content words (stop words out, numbers exact, words cut to a 5-letter prefix so "directed" meets
"director") found in the cited sentences. The embedding catches paraphrase; coverage catches
claims that sound alike but add names, places or numbers the sources do not have.

Then, in order:
- no valid citation -> unsupported (score 0);
- every cited sentence reads like an instruction to an AI ("ignore previous instructions...")
  -> unsupported: such text in an article is an injection attempt, never evidence;
- score >= SUPPORTED -> supported, score >= PARTIAL -> partial, else unsupported;
- a supported claim is lowered to partial when it has fewer than MIN_CONTENT_WORDS content words
  (too little to verify, e.g. "PWNED") or states a number no cited sentence contains.

Calibration (how the constants were chosen)
-------------------------------------------
Pairs were built by hand from HotpotQA gold evidence sentences (/work/shared/eval,
hotpotqa_questions.jsonl; CC BY-SA 4.0) and live in tests/unit/test_citations.py (CALIBRATION):
46 gold sentences, each with
- a paraphrase written in answer style (shorter, reworded, one or two facts) -> supported;
- a "half true" variant: part of the fact plus an invented detail -> partial;
- the paraphrase against an unrelated gold sentence of another question -> unsupported;
and 22 "same topic, wrong fact" pairs: a paraphrase against the other evidence sentence of the
same question (shared names, different fact) -> unsupported. Scores with the bundled
all-MiniLM-L6-v2 (qa.embed.local.local_embedder), one cited sentence per claim:

    pairs                   n   cosine  coverage  score min/mean/max   labels with the constants
    supported paraphrase    46  0.88    0.86      0.68 / 0.87 / 0.99   42 supported, 4 partial
    half true               46  0.76    0.55      0.47 / 0.67 / 0.89   38 partial, 7 supported,
                                                                       1 unsupported
    same topic, wrong fact  22  0.40    0.24      0.03 / 0.34 / 0.60   18 unsupported, 4 partial
    unrelated               46  0.08    0.02      0.00 / 0.07 / 0.20   46 unsupported

A grid over EMBEDDING_WEIGHT 0.30..0.80 (step 0.05) and both thresholds (step 0.01) scored the
three-class accuracy. At weight 0.6 accuracy stays >= 0.90 for SUPPORTED in 0.70..0.83 (PARTIAL
held at 0.52) and for PARTIAL in 0.42..0.55 (SUPPORTED held at 0.78). The constants sit in the
middle of that plateau rather than at the best single point (0.925 at 0.65 / 0.75 / 0.53, near
an edge), since 160 pairs cannot tell a few hundredths apart. Overall accuracy with them: 0.90,
and no unsupported pair is labelled supported anywhere on the plateau. The misses are telling: a
half-true claim whose invented part is short next to a long true part ("... is the largest lake
in the state") still reads as supported; this check labels claims, it does not prove them. A
check on news text (MultiHop-RAG and RealTimeQA gold sentences, not copied here for their
licences): of 120 claims made of a sentence's first half, 111 came out supported, 8 partial, 1
unsupported; of 120 unrelated pairs, none supported and 1 partial. The thresholds hold for
MiniLM: another embedder shifts cosines and needs a re-run
(tests/unit/test_citations.py::test_calibration).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qa.embed.base import Embedder
from qa.text.sentences import split
from qa.text.words import claim_words
from qa.types import ABSTAIN_PHRASE, Citation, Claim, Evidence

__all__ = [
    "EMBEDDING_WEIGHT",
    "PARTIAL",
    "REFUSAL",
    "SUPPORTED",
    "Cited",
    "cite",
    "coverage",
    "is_instruction_like",
    "is_refusal",
    "label_claims",
    "parse",
    "strip_markers",
]

REFUSAL = ABSTAIN_PHRASE  # the model is asked to answer with this phrase when it cannot

Support = Literal["supported", "partial", "unsupported"]

# Chosen on the calibration pairs described in the module docstring.
EMBEDDING_WEIGHT = 0.6
SUPPORTED = 0.77
PARTIAL = 0.48
MIN_CONTENT_WORDS = 2

# [S3], [S1, S4], [S1,S4], [S2-S4], [s3]; a bracket needs at least one S-prefixed id so that
# a year or a footnote like [2020] in the text is not taken for a citation.
_ITEM = r"[Ss]?\s*\d+(?:\s*[-–]\s*[Ss]?\s*\d+)?"
_MARKER = re.compile(rf"\[\s*(?=[^\]]*[Ss]\s*\d)({_ITEM}(?:\s*[,;]\s*{_ITEM})*)\s*\]")
_RUN = re.compile(rf"{_MARKER.pattern}(?:[ \t]*{_MARKER.pattern})*")
# "... capital. [S1] It ..." -> "... capital [S1]. It ...": a marker after the full stop still
# belongs to the sentence before it, which is where the model meant it.
_TRAILING = re.compile(rf"([.!?])([\"”’)]?)[ \t]*({_RUN.pattern})")


@dataclass
class ParsedClaim:
    text: str  # the sentence without markers
    ids: list[str]  # valid sentence ids it cites ("S3"), in order, no repeats


@dataclass
class Parsed:
    text: str  # the reply with markers renumbered [1], [2]...
    claims: list[ParsedClaim]
    order: list[str]  # sentence ids in order of first use: order[n - 1] is citation n
    dropped: int  # markers (ids) that named no provided sentence


@dataclass
class Cited:
    """A reply whose citations were checked against the sentences the model was given."""

    text: str
    citations: list[Citation]
    claims: list[Claim]
    dropped: int
    parsed: Parsed = field(repr=False)

    @property
    def has_citations(self) -> bool:
        return bool(self.citations)


def _expand(item: str) -> list[int]:
    nums = [int(n) for n in re.findall(r"\d+", item)]
    if len(nums) == 2 and re.search(r"[-–]", item) and 0 <= nums[1] - nums[0] <= 20:
        return list(range(nums[0], nums[1] + 1))
    return nums[:1]


def _marker_ids(marker_body: str) -> list[str]:
    ids: list[str] = []
    for item in re.split(r"[,;]", marker_body):
        ids.extend(f"S{n}" for n in _expand(item))
    return ids


def _run_ids(text: str) -> list[str]:
    return [sid for m in _MARKER.finditer(text) for sid in _marker_ids(m.group(1))]


def strip_markers(text: str) -> str:
    """`text` without any [S#] marker, spaces tidied."""
    return _tidy(_MARKER.sub("", text))


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _claim_spans(text: str) -> list[tuple[int, int]]:
    # Lines first: a bullet list has no full stops but each bullet is a claim.
    spans = []
    for line in re.finditer(r"[^\n]+", text):
        for s, e in split(line.group()):
            spans.append((line.start() + s, line.start() + e))
    return spans


def parse(text: str, valid_ids: Sequence[str] | Mapping[str, object]) -> Parsed:
    """Find markers in `text`, drop those naming no id in `valid_ids`, renumber the rest."""
    valid = set(valid_ids)
    text = _TRAILING.sub(lambda m: f" {m.group(3)}{m.group(1)}{m.group(2)}", text)
    text = text.strip()

    order: list[str] = []
    dropped = 0

    def renumber(run: re.Match[str]) -> str:
        # A run of adjacent markers ("[S1, S1][S1]") is one citation group.
        nonlocal dropped
        out: list[str] = []
        for sid in _run_ids(run.group()):
            if sid not in valid:
                dropped += 1
                continue
            if sid not in order:
                order.append(sid)
            label = f"[{order.index(sid) + 1}]"
            if label not in out:
                out.append(label)
        return "".join(out)

    claims: list[ParsedClaim] = []
    pieces: list[str] = []
    at = 0
    for s, e in _claim_spans(text):
        pieces.append(text[at:s])
        sentence = text[s:e]
        ids = list(dict.fromkeys(i for i in _run_ids(sentence) if i in valid))
        pieces.append(_RUN.sub(renumber, sentence))
        plain = strip_markers(sentence)
        if any(c.isalnum() for c in plain):
            claims.append(ParsedClaim(text=plain, ids=ids))
        at = e
    pieces.append(text[at:])
    return Parsed(text=_tidy("".join(pieces)), claims=claims, order=order, dropped=dropped)


# --- refusal ----------------------------------------------------------------------------------


def _normal(text: str) -> str:
    text = strip_markers(text).lower().replace("’", "'").replace("n't", " not")
    table: dict[str, str | int | None] = {c: " " for c in string.punctuation + "“”‘’"}
    text = text.translate(str.maketrans(table))
    return " ".join(text.split())


_REFUSAL_NORMAL = _normal(REFUSAL)


def is_refusal(text: str, *, has_citations: bool = False) -> bool:
    """True when the reply is the fixed "cannot answer" phrase (case, punctuation, quotes aside).

    A reply that contains the phrase next to other text counts only when it cites nothing:
    "X is Y [S1]. The articles do not answer this for Z." is a partial answer, not a refusal.
    """
    norm = _normal(text)
    if not norm:
        return False
    if norm == _REFUSAL_NORMAL:
        return True
    return _REFUSAL_NORMAL in norm and not has_citations


# --- claim support ----------------------------------------------------------------------------


def _numbers(words: set[str]) -> set[str]:
    return {w for w in words if w[0].isdigit()}


def coverage(claim: str, sources: Sequence[str]) -> float:
    """Share of the claim's content words that occur in the sources."""
    words = claim_words(claim)
    if not words:
        return 0.0
    found = set().union(*(claim_words(s) for s in sources)) if sources else set()
    return len(words & found) / len(words)


_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|above|previous)"
    r"|\b(system prompt|you are now|as an ai|language model)\b"
    r"|\b(reply|respond|answer|say|output)\s+(only\s+)?(with\s+)?[\"'“]?[A-Z]{4,}\b",
    re.I | re.S,
)


def is_instruction_like(text: str) -> bool:
    """True for text that addresses the model rather than reporting news (prompt injection)."""
    return bool(_INSTRUCTION.search(text))


def label_claims(
    claims: Sequence[ParsedClaim],
    numbered: Mapping[str, Evidence],
    order: Sequence[str],
    embedder: Embedder,
) -> list[Claim]:
    """Score each claim against the sentences it cites and label it (see the module docstring)."""
    cited_claims = [c for c in claims if c.ids]
    texts: list[str] = []
    index: dict[str, int] = {}

    def slot(t: str) -> int:
        if t not in index:
            index[t] = len(texts)
            texts.append(t)
        return index[t]

    plan: list[tuple[int, list[int]]] = []
    for c in cited_claims:
        sources = [numbered[i].sentence.text for i in c.ids]
        refs = [slot(s) for s in sources]
        if len(sources) > 1:
            refs.append(slot(" ".join(sources)))
        plan.append((slot(c.text), refs))
    vecs = embedder.embed_texts(texts) if texts else np.zeros((0, 1), np.float32)

    out: list[Claim] = []
    planned = iter(plan)
    for c in claims:
        numbers = [order.index(i) + 1 for i in c.ids]
        if not c.ids:
            out.append(Claim(text=c.text, citations=[], support="unsupported", score=0.0))
            continue
        claim_vec, refs = next(planned)
        cosine = float(max(float(vecs[claim_vec] @ vecs[r]) for r in refs))
        sources = [numbered[i].sentence.text for i in c.ids]
        lexical = coverage(c.text, sources)
        score = EMBEDDING_WEIGHT * max(cosine, 0.0) + (1 - EMBEDDING_WEIGHT) * lexical
        out.append(
            Claim(
                text=c.text,
                citations=numbers,
                support=_support(c.text, sources, score),
                score=round(score, 4),
            )
        )
    return out


def _support(claim: str, sources: Sequence[str], score: float) -> Support:
    if all(is_instruction_like(s) for s in sources):
        return "unsupported"
    if score < PARTIAL:
        return "unsupported"
    if score < SUPPORTED:
        return "partial"
    words = claim_words(claim)
    source_words = set().union(*(claim_words(s) for s in sources))
    if len(words) < MIN_CONTENT_WORDS or not _numbers(words) <= source_words:
        return "partial"
    return "supported"


def cite(text: str, numbered: Mapping[str, Evidence], embedder: Embedder) -> Cited:
    """Parse, check and label the citations of a model reply; `numbered` maps "S1" -> Evidence."""
    parsed = parse(text, numbered)
    citations = [numbered[sid].cite(n) for n, sid in enumerate(parsed.order, start=1)]
    claims = label_claims(parsed.claims, numbered, parsed.order, embedder)
    return Cited(
        text=parsed.text,
        citations=citations,
        claims=claims,
        dropped=parsed.dropped,
        parsed=parsed,
    )
