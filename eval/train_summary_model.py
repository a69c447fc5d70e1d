"""Fit the summary sentence model (qa/summarize/sentence_model.json) and choose the selection knobs.

    python eval/train_summary_model.py [--data ../shared/eval] [--write]

Data: the `tune` items of CNN/DailyMail via FRANK (summarization_cnndm_frank.jsonl, 22 tune
items; summarization_cnndm_more.jsonl, 150 items, all tune), read from the shared eval folder.
Licence: MIT for FRANK; the CNN/DailyMail articles and highlights are for research use. The
`validate` items are never read here: they are what eval/summary_dev.py and
`qa eval summarize --split validate` report on.

Labels (`--labels soft`, the default): soft labels from many oracle summaries. For each tune
article every set of one to four candidate sentences (ORACLE_SIZES) is scored by ROUGE-1 F +
ROUGE-2 F (rouge-score's stemmed tokens) against the reference; the ORACLE_TOP best sets get
softmax weights exp((score - best) / ORACLE_TEMPERATURE), and a sentence's label is the weight of
the sets that hold it (0..1). One greedy oracle marks a single good summary and calls an
equally good sentence 0; the soft label says how much a sentence is worth across the good ones
(held out on tune: +0.2 to +0.4 points of ROUGE-1 + 2 + Lsum at every C, budget and floor tried,
see eval/CALIBRATION.md). `--labels greedy`: the usual greedy extractive oracle (add the candidate
that most raises ROUGE-1 F + ROUGE-2 F until none does; those 1, the rest 0), for comparison.
Candidates are the sentences the selector may choose (select.candidate_indices: furniture and
pieces without a stop left out), with the FEATURES of qa/summarize/scorer.py.

Model: scikit-learn's L2 logistic regression on standardized features (a soft label p enters as a
positive row of weight p and a negative row of weight 1 - p); the JSON keeps the means,
scales and coefficients, applied with numpy at run time. Choice: the regularization C, then the
word budget, the long-sentence cut and the score floor (`stop_score`) of SelectionParams (the
novelty weight is set: see SELECTION_GRID), each by
ROUGE-1 + ROUGE-2 + ROUGE-Lsum of the real `select_sentences` on held-out folds of the tune items
(5 folds, 3 seeded repeats, the model refitted on the other folds every time); the knobs in use
are kept unless a setting beats them by more than TOLERANCE (fold noise). `--write` fits
on all tune items with the chosen C and writes the model; the chosen selection knobs are printed
beside SelectionParams' values, which must be updated by hand if they differ.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from summary_dev import (  # noqa: E402
    DEFAULT_DATA,
    Article,
    Scorer,
    lead3,
    load_items,
    prepare,
    summarize,
)

from qa.summarize.scorer import DEFAULT_PATH, FEATURES, SentenceModel, article_features  # noqa: E402
from qa.summarize.select import DEFAULT_PARAMS, SelectionParams, candidate_indices  # noqa: E402

# Soft labels: sets of k sentences are enumerated among the first n candidates, (k, n) below
# (n None: all), so an article of 60 candidates costs about 20,000 ROUGE computations.
ORACLE_SIZES = ((1, None), (2, None), (3, 25), (4, 12))
ORACLE_TOP = 50
ORACLE_TEMPERATURE = 0.05  # in ROUGE-1 F + ROUGE-2 F (0..2); 10 to 50 sets, 0.02 to 0.1: +0.2..0.4
FOLDS = 5
REPEATS = 3
TOLERANCE = 0.2  # points of ROUGE-1 + ROUGE-2 + ROUGE-Lsum (held-out mean over the tune items)
C_GRID = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.03, 0.1)
SELECTION_GRID = {
    "word_budget": (50.0, 55.0, 60.0, 65.0, 70.0),
    # Set, not fitted: the MMR weight matters most in multi-article summaries, which these
    # single-article items cannot measure (here 0 and 0.5 come within fold noise of each other).
    "novelty_weight": (0.5,),
    "max_words": (50, 60, 1000),
    # Beyond two sentences, a further one only if its standardized score (less the novelty
    # penalty) is above this; None: the word budget alone decides the length.
    "stop_score": (None, -0.5, 0.0, 0.5),
}


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def _f1(candidate: Counter, reference: Counter) -> float:
    overlap = sum((candidate & reference).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(candidate.values())
    recall = overlap / sum(reference.values())
    return 2 * precision * recall / (precision + recall)


def oracle(sentences: Sequence[str], reference: Sequence[str], candidates: Sequence[int]) -> set[int]:
    """Greedy oracle: the candidates that, added one by one, most raise ROUGE-1 F + ROUGE-2 F."""
    from rouge_score import tokenizers

    tokenize = tokenizers.DefaultTokenizer(use_stemmer=True).tokenize
    ref = tokenize(" ".join(reference))
    ref1, ref2 = _ngrams(ref, 1), _ngrams(ref, 2)
    tokens = {i: tokenize(sentences[i]) for i in candidates}
    chosen: list[int] = []
    best = 0.0
    while True:
        gains = []
        for i in candidates:
            if i in chosen:
                continue
            joined = [t for j in sorted([*chosen, i]) for t in tokens[j]]
            gains.append((_f1(_ngrams(joined, 1), ref1) + _f1(_ngrams(joined, 2), ref2), -i))
        if not gains or max(gains)[0] <= best + 1e-9:
            return set(chosen)
        best, negative = max(gains)
        chosen.append(-negative)


def soft_oracle(
    sentences: Sequence[str],
    reference: Sequence[str],
    candidates: Sequence[int],
    top: int = ORACLE_TOP,
    temperature: float = ORACLE_TEMPERATURE,
) -> dict[int, float]:
    """Soft labels: each candidate's share of the softmax weight of the `top` best sets of
    ORACLE_SIZES sentences by ROUGE-1 F + ROUGE-2 F (the module doc). Candidates in no good set
    get 0; an article sharing nothing with its reference gets all 0."""
    from rouge_score import tokenizers

    tokenize = tokenizers.DefaultTokenizer(use_stemmer=True).tokenize
    ref = tokenize(" ".join(reference))
    ref1, ref2 = _ngrams(ref, 1), _ngrams(ref, 2)
    tokens = [tokenize(sentences[i]) for i in candidates]
    scored: list[tuple[float, tuple[int, ...]]] = []
    for size, first in ORACLE_SIZES:
        pool = range(len(candidates) if first is None else min(first, len(candidates)))
        for chosen in itertools.combinations(pool, size):
            joined = [t for k in chosen for t in tokens[k]]
            value = _f1(_ngrams(joined, 1), ref1) + _f1(_ngrams(joined, 2), ref2)
            if value > 0:
                scored.append((value, chosen))
    scored.sort(key=lambda item: (-item[0], item[1]))  # ties: the earlier sentences first
    best = scored[:top]
    labels = dict.fromkeys(candidates, 0.0)
    if not best:
        return labels
    weights = np.exp((np.array([v for v, _ in best]) - best[0][0]) / temperature)
    weights /= weights.sum()
    for w, (_, chosen) in zip(weights.tolist(), best, strict=True):
        for k in chosen:
            labels[candidates[k]] += w
    return labels


def examples(article: Article, labels: str = "soft") -> tuple[np.ndarray, np.ndarray]:
    """Features and oracle labels (soft: 0..1; greedy: 0 or 1) of an article's candidate
    sentences (as the selector's)."""
    candidates = candidate_indices(article.sentences)
    if not candidates:
        return np.zeros((0, len(FEATURES))), np.zeros(0)
    x = article_features([article.sentences[i] for i in candidates], article.vectors[candidates])
    if labels == "greedy":
        chosen = oracle(article.sentences, article.reference, candidates)
        return x, np.array([float(i in chosen) for i in candidates])
    soft = soft_oracle(article.sentences, article.reference, candidates)
    return x, np.array([soft[i] for i in candidates])


def fit(data: Sequence[tuple[np.ndarray, np.ndarray]], c: float) -> SentenceModel:
    """The logistic model fitted on the given articles' examples; a label p in 0..1 counts as a
    positive of weight p and a negative of weight 1 - p (cross-entropy against p)."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([d[0] for d in data])
    p = np.concatenate([d[1] for d in data]).astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    rows, targets = np.vstack([z, z]), np.concatenate([np.ones(len(z)), np.zeros(len(z))])
    weights = np.concatenate([p, 1.0 - p])
    keep = weights > 0  # a hard label's zero-weight twin adds nothing
    lr = LogisticRegression(C=c, max_iter=5000).fit(
        rows[keep], targets[keep], sample_weight=weights[keep]
    )
    return SentenceModel(mean=mean, scale=scale, coef=lr.coef_[0].copy(), intercept=float(lr.intercept_[0]))


def held_out(
    articles: Sequence[Article],
    data: Sequence[tuple[np.ndarray, np.ndarray]],
    c: float,
    settings: Sequence[SelectionParams],
    score: Scorer,
) -> np.ndarray:
    """Mean (ROUGE-1, ROUGE-2, ROUGE-Lsum) of each setting, every article scored by a model
    fitted on the other folds; FOLDS folds, REPEATS seeded repeats."""
    totals = np.zeros((len(settings), 3))
    count = 0
    for repeat in range(REPEATS):
        order = np.random.default_rng(repeat).permutation(len(articles))
        for fold in range(FOLDS):
            test = set(order[fold::FOLDS].tolist())
            model = fit([data[i] for i in range(len(articles)) if i not in test], c)
            for i in sorted(test):
                for k, params in enumerate(settings):
                    totals[k] += score(articles[i], summarize(articles[i], params, model))
                count += 1
    return totals / count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared eval folder")
    parser.add_argument("--write", action="store_true", help=f"write {DEFAULT_PATH.name}")
    parser.add_argument(
        "--labels", choices=("soft", "greedy"), default="soft",
        help="oracle labels: soft (many oracle summaries, shipped) or greedy (one)",
    )
    args = parser.parse_args(argv)

    from qa.embed.local import local_embedder

    articles = prepare(load_items(args.data, ("tune",)), local_embedder())
    data = [examples(a, args.labels) for a in articles]
    score = Scorer()
    positives = sum(float(d[1].sum()) for d in data)
    print(f"{len(articles)} tune articles, {sum(len(d[1]) for d in data)} candidate sentences, "
          f"{positives:.1f} oracle-labelled ({args.labels}; {positives / len(articles):.2f} per "
          "article)")
    lead = np.mean([score(a, lead3(a)) for a in articles], axis=0)
    print(f"Lead-3 on tune: R1 {lead[0]:.2f}  R2 {lead[1]:.2f}  RLsum {lead[2]:.2f}  sum {lead.sum():.2f}")

    print(f"\nC (selection as in SelectionParams), held out, {FOLDS} folds x {REPEATS}:")
    by_c = {}
    for c in C_GRID:
        by_c[c] = held_out(articles, data, c, [DEFAULT_PARAMS], score)[0]
        print(f"  C={c:<6} R1 {by_c[c][0]:.2f}  R2 {by_c[c][1]:.2f}  RLsum {by_c[c][2]:.2f}  "
              f"sum {by_c[c].sum():.2f}")
    best_c = max(C_GRID, key=lambda c: by_c[c].sum())

    settings = [
        replace(DEFAULT_PARAMS, **dict(zip(SELECTION_GRID, values, strict=True)))
        for values in itertools.product(*SELECTION_GRID.values())
    ]
    table = held_out(articles, data, best_c, settings, score)
    print(f"\nselection with C={best_c}, held out, best 10 of {len(settings)}:")
    ranked = np.argsort(-table.sum(axis=1), kind="stable")
    for k in ranked[:10]:
        knobs = {name: getattr(settings[k], name) for name in SELECTION_GRID}
        print(f"  R1 {table[k, 0]:.2f}  R2 {table[k, 1]:.2f}  RLsum {table[k, 2]:.2f}  "
              f"sum {table[k].sum():.2f}  {knobs}")
    best = settings[int(ranked[0])]
    # The knobs in use are kept unless another setting beats them by more than TOLERANCE points of
    # the sum: smaller gaps are fold noise, and novelty_weight also shapes multi-article summaries,
    # which these single-article items cannot measure.
    kept = next((k for k, s in enumerate(settings) if s == DEFAULT_PARAMS), None)
    if kept is not None and table[int(ranked[0])].sum() - table[kept].sum() <= TOLERANCE:
        best, ranked = DEFAULT_PARAMS, np.concatenate([[kept], ranked[ranked != kept]])
    current = {name: getattr(DEFAULT_PARAMS, name) for name in SELECTION_GRID}
    chosen = {name: getattr(best, name) for name in SELECTION_GRID}
    print(f"\nchosen: C={best_c}, {chosen}; SelectionParams has {current}"
          + ("" if chosen == current else "  <- update SelectionParams"))

    if args.write:
        import json

        model = fit(data, best_c)
        held = table[int(ranked[0])]
        doc = {
            **model.to_dict(),
            "fitted": date.today().isoformat(),
            "data": "CNN/DailyMail via FRANK (MIT; articles for research use): the tune items of "
            "summarization_cnndm_frank.jsonl and summarization_cnndm_more.jsonl",
            "articles": len(articles),
            "labels": (
                f"soft: the {ORACLE_TOP} best sets of 1-4 sentences by ROUGE-1 F + ROUGE-2 F, "
                f"softmax weights at temperature {ORACLE_TEMPERATURE}"
                if args.labels == "soft" else "greedy oracle, ROUGE-1 F + ROUGE-2 F"
            ),
            "C": best_c,
            "selection": {k: v for k, v in asdict(best).items() if k in SELECTION_GRID},
            "held_out_tune": {
                "rouge1": round(float(held[0]), 2),
                "rouge2": round(float(held[1]), 2),
                "rougeLsum": round(float(held[2]), 2),
                "lead3": [round(float(v), 2) for v in lead],
            },
            "command": "python eval/train_summary_model.py --write"
            + ("" if args.labels == "soft" else " --labels greedy"),
        }
        DEFAULT_PATH.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {DEFAULT_PATH}")


if __name__ == "__main__":
    main()
