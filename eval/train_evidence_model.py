"""Fit the evidence model (qa/retrieve/evidence_model.json) on tune questions; report how it selects
on validate questions.

    python eval/train_evidence_model.py [--data ../shared/eval] [--home DIR] [--write]

For every answerable dev question, the retriever's MODEL_CANDIDATES most relevant sentences are
labelled evidence when they match a gold or silver evidence sentence (the scorer's own matching),
and a logistic regression learns P(evidence) from the features in qa/retrieve/evidence_model.py. The
model is fitted on `tune` rows only (with the extra RealTimeQA and MultiHop-RAG tune pools); the
threshold, and whether the next sentence of the best one joins when that one lacks the asked-for
kind of thing (qa.retrieve.evidence.with_neighbour), are chosen by 5-fold cross-validation on
tune: the best mean of HotpotQA and MultiHop-RAG evidence recall and the RealTimeQA answer inside
the cited sentences, with precision on every tune set at least FLOORS (the issue's targets,
0.6 HotpotQA and 0.5 RealTimeQA, plus 0.05 because the validate sets are small); the
`validate` rows, which nothing was fitted on, give the results. The tables show what the
product's selection cites: gold evidence recall (RealTimeQA: gold or silver hit), precision of
cited sentences, the RealTimeQA answer found in the cited sentences, and sentences per answer.
Abstention is left out here; the full pipeline's figures come from `qa eval all`. `--write`
saves the model fitted on all tune questions.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from qa.evaluation import metrics as m
from qa.evaluation.io import load_jsonl
from qa.retrieve import evidence_model
from qa.retrieve.evidence import MODEL_CANDIDATES, Candidate, features, select, with_neighbour
from qa.retrieve.hybrid import canonical
from qa.service import QA
from qa.settings import Settings

SETS = ("hotpotqa", "realtimeqa", "multihoprag_partial")
MORE = {"realtimeqa_more": "realtimeqa", "multihoprag_more": "multihoprag_partial"}  # all tune
THRESHOLDS = (0.25, 0.3, 0.35, 0.4, 0.5)
FOLDS = 5
# Least cited-sentence precision a choice may have on each tune set (cross-validated).
FLOORS = {"hotpotqa": 0.65, "realtimeqa": 0.55, "multihoprag_partial": 0.55}


@dataclass
class Item:
    dataset: str
    question: dict
    ranked: list[Candidate]  # all candidates, most relevant first
    x: np.ndarray  # features of the first MODEL_CANDIDATES
    y: np.ndarray  # their labels
    split: str = "tune"
    fold: int = 0
    near: dict | None = None  # (doc_id, index) -> the next/previous sentences of the candidates


def collect(data: Path, home: Path, settings: Settings) -> list[Item]:
    items: list[Item] = []
    for name in (*SETS, *MORE):
        if name in MORE and not (data / f"{name}_questions.jsonl").exists():
            continue  # the extra tune pools are optional
        qa = QA(settings.model_copy(update={"home": home / name, "collection": "dev"}))
        qa.ingest([data / f"{name}_docs.jsonl"])
        catalog = qa.store.catalog().articles
        for q in load_jsonl(data / f"{name}_questions.jsonl"):
            if not q.get("doc_ids"):
                continue
            ranked, _ = qa.retriever.candidates(q["question"])
            top = ranked[:MODEL_CANDIDATES]
            evidence = list(q.get("gold_evidence") or []) + list(q.get("silver_evidence") or [])
            rows = features(top, catalog, canonical(q["question"]), qa.lexical)
            labels = [any(m.sentences_match(c.hit.text, e) for e in evidence) for c in top]
            keys = {(c.hit.doc_id, c.hit.index + d) for c in top for d in (1, -1)}
            known = {(c.hit.doc_id, c.hit.index) for c in ranked}
            near: dict = {key: c for c in ranked if (key := (c.hit.doc_id, c.hit.index)) in keys}
            for key, h in qa.store.get_sentence_records(
                    sorted(k for k in keys if k not in known and k[1] >= 0)).items():
                near[key] = Candidate(hit=h)
            items.append(Item(MORE.get(name, name), q, ranked, np.asarray(rows),
                              np.asarray(labels, dtype=int), split=str(q.get("split", "tune")),
                              near=near))
        qa.close()
        print(f"{name}: {len(items)} questions so far", file=sys.stderr)
    return items


def fit(items: list[Item]) -> evidence_model.EvidenceModel:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([i.x for i in items])
    y = np.concatenate([i.y for i in items])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    lr = LogisticRegression(C=1.0, max_iter=5000).fit((x - mean) / scale, y)
    return evidence_model.EvidenceModel(mean, scale, lr.coef_[0], float(lr.intercept_[0]))


def assign(items: list[Item], model: evidence_model.EvidenceModel) -> None:
    for i in items:
        for c in i.ranked:
            c.probability = None
        for c, p in zip(i.ranked, model.probabilities(i.x.tolist()), strict=False):
            c.probability = float(p)


def chosen_sentences(i: Item, settings: Settings, threshold: float,
                     neighbour: bool) -> list[Candidate]:
    """What the product's selection cites for the item's question."""
    chosen = select(
        i.ranked, settings.k, settings.score_margin, settings.redundancy_threshold, threshold
    )
    if not neighbour:
        return chosen
    near = i.near or {}

    def neighbours(c: Candidate) -> list[Candidate]:
        keys = [(c.hit.doc_id, c.hit.index + 1), (c.hit.doc_id, c.hit.index - 1)]
        return [near[key] for key in keys if key in near]

    return with_neighbour(chosen, canonical(i.question["question"]), neighbours, settings.k)


def measure(items: list[Item], settings: Settings, threshold: float,
            neighbour: bool = False) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for name in SETS:
        recall, precision, contained, n = [], [], [], []
        for i in (i for i in items if i.dataset == name):
            chosen = chosen_sentences(i, settings, threshold, neighbour)
            citations = [{"text": c.hit.text} for c in chosen]
            q = i.question
            gold, silver = q.get("gold_evidence") or [], q.get("silver_evidence") or []
            r = m.evidence_recall(citations, gold, silver)
            p = m.citation_precision(m.cited_sentences(citations), gold + silver)
            texts = [c.hit.text for c in chosen]
            recall.append(r or 0.0)
            precision.append(p or 0.0)
            contained.append(m.answer_contained(" ".join(texts), texts, str(q.get("gold_answer"))))
            n.append(len(chosen))
        out[name] = tuple(float(np.mean(v)) for v in (recall, precision, contained, n))
    return out


def label(variant: tuple[float, bool]) -> str:
    threshold, neighbour = variant
    return f"margin or p >= {threshold}" + (", + neighbour" if neighbour else "")


def choose(cv: list[tuple[tuple[float, bool], dict[str, tuple]]]) -> tuple[float, bool]:
    """The variant citing the most of what answers (HotpotQA and MultiHop-RAG evidence recall,
    RealTimeQA answer inside the citations) with precision at least FLOORS on every set; when
    none keeps the floors, the best mean of recall and precision."""

    def cited(res: dict[str, tuple]) -> float:
        return float(np.mean([res["hotpotqa"][0], res["realtimeqa"][2],
                              res["multihoprag_partial"][0]]))

    kept = [(v, res) for v, res in cv if all(res[s][1] >= f for s, f in FLOORS.items())]
    if kept:
        return max(kept, key=lambda row: cited(row[1]))[0]
    return max(cv, key=lambda row: np.mean([(r + p) / 2 for r, p, _, _ in row[1].values()]))[0]


def table(title: str, rows: list[tuple[str, dict[str, tuple]]]) -> list[str]:
    lines = [f"### {title}", "", "| selection | " + " | ".join(
        f"{s} R / P / contained / n" for s in SETS) + " |", "|---|" + "---|" * len(SETS)]
    for label, res in rows:
        cells = [f"{r:.3f} / {p:.3f} / {c:.3f} / {n:.2f}" for r, p, c, n in (res[s] for s in SETS)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--home", type=Path, default=Path("/tmp/qa-evidence-model"))
    parser.add_argument("--write", action="store_true", help="save qa/retrieve/evidence_model.json")
    args = parser.parse_args()
    if not (args.data / "hotpotqa_questions.jsonl").exists():
        print(f"{args.data}: the dev sets are not there (see ../shared/eval/README.md)", file=sys.stderr)
        return 2
    settings = Settings(evidence_threshold=2.0)  # features only; no model while collecting
    items = collect(args.data, args.home, settings)
    tune = [i for i in items if i.split == "tune"]
    valid = [i for i in items if i.split == "validate"]
    rng = np.random.default_rng(0)
    for i in tune:
        i.fold = int(rng.integers(0, FOLDS))
    for f in range(FOLDS):
        assign([i for i in tune if i.fold == f], fit([i for i in tune if i.fold != f]))
    variants = [(t, nb) for nb in (False, True) for t in THRESHOLDS]
    cv = [(v, measure(tune, settings, *v)) for v in variants]
    chosen = choose(cv)
    model = fit(tune)
    assign(valid, model)
    lines = [f"Evidence model fitted on {date.today()} on {len(tune)} answerable tune questions "
             f"({sum(len(i.y) for i in tune)} candidates, {int(sum(i.y.sum() for i in tune))} "
             f"evidence); chosen by 5-fold cross-validation on tune: {label(chosen)}.", ""]
    # Validate is reported for the chosen selection only (with what it is made of), never used
    # to choose.
    lines += table(f"Validate (results: {len(valid)} questions)",
                   [("margin only (no model)", measure(valid, settings, 2.0)),
                    (label((chosen[0], False)), measure(valid, settings, chosen[0])),
                    (label(chosen) + " (chosen)", measure(valid, settings, *chosen))]
                   if chosen[1] else
                   [("margin only (no model)", measure(valid, settings, 2.0)),
                    (label(chosen) + " (chosen)", measure(valid, settings, *chosen))])
    lines += table(f"Tune, 5 folds by question ({len(tune)} questions)",
                   [(label(v) + (" (chosen)" if v == chosen else ""), res) for v, res in cv])
    coefs = ", ".join(f"{f} {c:+.2f}" for f, c in zip(evidence_model.FEATURES, model.coef, strict=True))
    lines += [f"Coefficients on standardized features (tune): {coefs}; intercept "
              f"{model.intercept:+.2f}.", ""]
    print("\n".join(lines))
    if args.write:
        extra = {"fitted": str(date.today()), "questions": len(tune), "split": "tune",
                 "threshold": chosen[0], "neighbour": chosen[1],
                 "command": "python eval/train_evidence_model.py --write"}
        evidence_model.DEFAULT_PATH.write_text(model.to_json(extra), encoding="utf-8")
        print(f"wrote {evidence_model.DEFAULT_PATH}; set evidence_threshold {chosen[0]}, "
              f"evidence_neighbour {chosen[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
