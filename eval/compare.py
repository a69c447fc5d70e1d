"""Conflict detection of `compare` on labelled article pairs (eval/compare_pairs.jsonl, built by
eval/make_compare_pairs.py): precision and recall of the conflicts found.

Each pair's two articles are split into sentences (qa.text.sentences, as ingest does) and
encoded with the QA embedder (plain sentence vectors, as QA.compare encodes them), then compared
by qa.stories.compare.compare_sides, the code QA.compare runs after reading the stored sentences.
A found conflict is right when its two sentences are a labelled conflict's (a sentence matches
when one text contains the other: the splitter may cut a sentence differently).

Topic comparisons also compare distinct articles, where a conflict is rarely one fact told two
ways; the labelled pairs (copies) cannot show that, so the script also counts the conflicts
flagged on pairs of distinct same-topic articles (RealTimeQA and CNN/DailyMail articles sharing
many content words, eval/make_story_set.py; 60 per split, unlabelled: a flag there is a false
alarm or a real difference between two reports). The alignment threshold is chosen on tune
(best F1 with precision >= 0.8 and at most 0.05 flags per distinct pair) and reported on
validate.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/compare.py
    HF_HUB_OFFLINE=1 .venv/bin/python eval/compare.py --pairs build/compare_pairs_news.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.embed.base import unit  # noqa: E402
from qa.evaluation.io import report_json  # noqa: E402
from qa.stories.compare import Side, compare_sides  # noqa: E402
from qa.text.sentences import split  # noqa: E402
from qa.types import Statement  # noqa: E402

HERE = Path(__file__).resolve().parent
THRESHOLDS = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def side(doc: dict) -> list[Statement]:
    text = doc["text"]
    return [Statement(doc_id=doc["doc_id"], source=doc["source"], sentence_id=f"{doc['doc_id']}#{i}",
                      start=a, end=b, text=text[a:b]) for i, (a, b) in enumerate(split(text))]


def same(x: str, y: str) -> bool:
    x, y = " ".join(x.split()), " ".join(y.split())
    return x in y or y in x


def encode(pairs: list[dict], embedder: object) -> list[list[Side]]:
    out = []
    for p in pairs:
        sides = []
        for doc in (p["a"], p["b"]):
            st = side(doc)
            vecs = unit(np.asarray(embedder.embed_texts([s.text for s in st]), dtype=np.float32))  # type: ignore[attr-defined]
            sides.append(Side(st, vecs))
        out.append(sides)
    return out


def score(pairs: list[dict], encoded: list[list[Side]], threshold: float) -> dict:
    tp = fp = fn = 0
    kinds_right = 0
    for p, sides in zip(pairs, encoded, strict=True):
        gold = [s for s in p["statements"] if s["label"] == "conflict"]
        _, _, found = compare_sides(sides, threshold)
        matched: set[int] = set()
        for c in found:
            a, b = c.statements
            hit = next((i for i, g in enumerate(gold) if i not in matched
                        and same(a.text, g["a"]) and same(b.text, g["b"])), None)
            if hit is None:
                fp += 1
            else:
                matched.add(hit)
                tp += 1
                kinds_right += c.kind == gold[hit]["kind"]
        fn += len(gold) - len(matched)
    p_ = tp / (tp + fp) if tp + fp else 0.0
    r_ = tp / (tp + fn) if tp + fn else 0.0
    return {"threshold": threshold, "precision": round(p_, 4), "recall": round(r_, 4),
            "f1": round(2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0, 4),
            "found": tp + fp, "gold_conflicts": tp + fn, "kind_right": kinds_right,
            "n_pairs": len(pairs)}


def distinct_pairs(split: str, embedder: object, n: int = 60) -> list[list[Side]]:
    """Encoded pairs of distinct articles on one topic (no conflict labelled)."""
    import random

    import make_story_set as stories

    items = stories.build(split)
    bases = {it["doc_id"]: it for it in items if it["doc_id"] == it["story"]}
    pairs = stories.same_topic_pairs(items, 0.3)
    random.Random(0).shuffle(pairs)
    docs = [{"a": {**bases[a], "source": "A"}, "b": {**bases[b], "source": "B"}} for a, b in pairs[:n]]
    return encode(docs, embedder)


def flags(encoded: list[list[Side]], threshold: float) -> float:
    """Conflicts flagged per distinct pair."""
    return round(sum(len(compare_sides(s, threshold)[2]) for s in encoded) / max(1, len(encoded)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, default=HERE / "compare_pairs.jsonl")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()
    from qa.embed.local import local_embedder

    pairs = [json.loads(line) for line in args.pairs.open()]
    tune = [p for p in pairs if p["split"] == "tune"]
    validate = [p for p in pairs if p["split"] == "validate"]
    embedder = local_embedder()
    enc_tune, enc_val = encode(tune, embedder), encode(validate, embedder)
    sys.path.insert(0, str(HERE))
    distinct_tune, distinct_val = distinct_pairs("tune", embedder), distinct_pairs("validate", embedder)
    grid = [{**score(tune, enc_tune, t), "distinct_flags_per_pair": flags(distinct_tune, t)}
            for t in THRESHOLDS]
    for g in grid:
        print("tune", g, file=sys.stderr)
    ok = [g for g in grid if g["precision"] >= 0.8 and g["distinct_flags_per_pair"] <= 0.05] or grid
    best = max(ok, key=lambda g: (g["f1"], g["threshold"]))
    t = best["threshold"]
    root = HERE.parent
    full = args.pairs.resolve()
    shown = full.relative_to(root) if full.is_relative_to(root) else args.pairs
    result = {"pairs": str(args.pairs.name), "threshold": t, "tune": best,
              "validate": {**score(validate, enc_val, t),
                           "distinct_flags_per_pair": flags(distinct_val, t),
                           "n_distinct_pairs": len(distinct_val)},
              "command": f"python eval/compare.py --pairs {shown}"}
    report_json(result, args.out)


if __name__ == "__main__":
    main()
