"""Fit the answerability model (qa/retrieve/answerability_model.json) on tune questions; report
abstention on validate questions.

    python eval/train_answerability.py [--data ../shared/eval] [--home /tmp/qa-answerability] [--write]

Positives: the answerable questions of every set's tune rows (RealTimeQA with its 400 extra tune
questions, HotpotQA, MultiHop-RAG with its 200 extra). Negatives: MultiHop-RAG's null queries
(tune), and in-topic unanswerable questions made from the tune rows (qa/evaluation/intopic.py:
half the questions lose their gold and silver articles, and those whose answer then appears
nowhere must abstain). For each question the retriever's candidates give the features of
qa/retrieve/answerability.py; a logistic regression learns P(answerable). The threshold is the
one that keeps false abstention on tune answerable questions at or under --max-false (default
0.08) while abstaining on most tune unanswerable ones. The report shows both splits; only the
validate rows are results (nothing was fitted on them). Data: the dev sets of ../shared/eval
(see its README for their licences; none is copied into the project).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from qa.evaluation.intopic import in_topic_set
from qa.evaluation.io import load_jsonl
from qa.retrieve import answerability
from qa.retrieve.evidence import Candidate
from qa.retrieve.lexical import LexicalIndex
from qa.service import QA
from qa.settings import Settings


def old_answerability(question: str, top: list[Candidate], lexical: LexicalIndex) -> float:
    """The score the answerability model replaced, reported beside it: the best sentence's dense
    similarity, and the IDF-weighted share of the question's (stemmed) content words the top
    sentences contain.

    A question word that the top sentences lack costs in proportion to its rarity, so "What is
    the population of Yerevan?" over an article that never mentions population scores low even
    though Yerevan matches.
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


@dataclass
class Row:
    group: str  # the set, as reported
    split: str
    qid: str
    x: list[float]
    y: int
    old: float  # the previous answerability score, for comparison


def _rows(qa: QA, group: str, questions: list[dict]) -> list[Row]:
    out = []
    for q in questions:
        ranked, _ = qa.retriever.candidates(str(q["question"]))
        top = answerability.by_evidence(ranked)[: answerability.TOP]
        out.append(Row(group, str(q.get("split")), str(q["qid"]),
                       answerability.feature_row(str(q["question"]), top, qa.lexical),
                       int(bool(q.get("doc_ids"))), old_answerability(str(q["question"]), top, qa.lexical)))
    return out


def _library(home: Path, name: str, docs: list[dict] | Path) -> QA:
    qa = QA(Settings(home=home / name, collection="dev"))
    if isinstance(docs, Path):
        qa.ingest([docs])
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
            fh.write("".join(json.dumps(d) + "\n" for d in docs))
        qa.ingest([Path(fh.name)])
        Path(fh.name).unlink()
    return qa


def collect(data: Path, home: Path) -> list[Row]:
    rows: list[Row] = []
    plain = [("hotpotqa", "hotpotqa"), ("realtimeqa", "realtimeqa"), ("realtimeqa_more", "realtimeqa"),
             ("multihoprag_partial", "multihoprag"), ("multihoprag_more", "multihoprag")]
    for name, group in plain:
        docs = data / f"{name}_docs.jsonl"
        questions = load_jsonl(data / f"{name}_questions.jsonl")
        qa = _library(home, name, docs)
        rows += _rows(qa, group, questions)
        qa.close()
        print(f"{name}: {len(questions)} questions", file=sys.stderr)
    for name, group in (("hotpotqa", "hotpotqa in-topic"), ("realtimeqa", "realtimeqa in-topic"),
                        ("realtimeqa_more", "realtimeqa in-topic")):
        docs = load_jsonl(data / f"{name}_docs.jsonl")
        questions = load_jsonl(data / f"{name}_questions.jsonl")
        for split in ("tune", "validate"):
            made = in_topic_set(docs, questions, split=split)
            if not made.questions:
                continue
            qa = _library(home, f"{name}-intopic-{split}", made.docs)
            rows += _rows(qa, group, made.questions)
            qa.close()
            print(f"{name} in-topic {split}: {made.unanswerable} unanswerable, {made.answerable} "
                  "answerable", file=sys.stderr)
    return rows


# Features about the evidence: a better match must never make a question look less answerable.
# Correlated features (coverage of the top sentences together and of the best one alone) can
# otherwise take opposite signs that fit these sets and mislead on a library unlike them (one
# article, say). A feature fitted with the wrong sign is dropped (weight 0) and the rest refitted.
MONOTONE = {f for f in answerability.FEATURES if f != "type_other"}
OVERRIDE = answerability.FEATURES.index("one_sentence_answers")


def fit(rows: list[Row]) -> answerability.AnswerabilityModel:
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([r.x for r in rows])
    y = np.asarray([r.y for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    keep = list(range(len(answerability.FEATURES)))
    while True:
        lr = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced").fit(z[:, keep], y)
        wrong = [j for j, c in zip(keep, lr.coef_[0], strict=True)
                 if c < 0 and answerability.FEATURES[j] in MONOTONE]
        if not wrong:
            break
        keep.remove(min(wrong, key=lambda j: lr.coef_[0][keep.index(j)]))
    coef = [0.0] * len(answerability.FEATURES)
    for j, c in zip(keep, lr.coef_[0], strict=True):
        coef[j] = float(c)
    return answerability.AnswerabilityModel(tuple(mean), tuple(scale), tuple(coef),
                                            float(lr.intercept_[0]))


def rates(rows: list[Row], scores: list[float], threshold: float) -> dict[str, tuple[float, int, float, int]]:
    """Per group: (abstention on unanswerable, n, false abstention on answerable, n)."""
    out = {}
    for group in sorted({r.group for r in rows}):
        neg = [s for r, s in zip(rows, scores, strict=True) if r.group == group and not r.y]
        pos = [s for r, s in zip(rows, scores, strict=True) if r.group == group and r.y]
        out[group] = (float(np.mean([s < threshold for s in neg])) if neg else float("nan"), len(neg),
                      float(np.mean([s < threshold for s in pos])) if pos else float("nan"), len(pos))
    return out


def choose_threshold(rows: list[Row], scores: list[float], max_false: float) -> float:
    """The highest threshold whose false abstention stays at or under `max_false` in every group
    of tune answerable questions."""
    best = 0.0
    for t in np.arange(0.05, 0.95, 0.01):
        if all(f <= max_false for _, _, f, n in rates(rows, scores, float(t)).values() if n):
            best = float(t)
    return round(best, 2)


def table(rows: list[Row], scores: list[float], threshold: float) -> list[str]:
    lines = ["| set | abstain on unanswerable | n | false abstention | n |", "|---|---|---|---|---|"]
    for group, (a, na, f, nf) in rates(rows, scores, threshold).items():
        lines.append(f"| {group} | {a:.3f} | {na} | {f:.3f} | {nf} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--home", type=Path, default=Path("/tmp/qa-answerability"))
    parser.add_argument("--max-false", type=float, default=0.08)
    parser.add_argument("--write", action="store_true", help="save the model and print the threshold")
    parser.add_argument("--cache", type=Path, default=None, help="rows collected before (JSON)")
    args = parser.parse_args()
    if args.cache and args.cache.exists():
        rows = [Row(**r) for r in json.loads(args.cache.read_text())]
    else:
        rows = collect(args.data, args.home)
        if args.cache:
            args.cache.write_text(json.dumps([r.__dict__ for r in rows]))
    tune = [r for r in rows if r.split == "tune"]
    valid = [r for r in rows if r.split == "validate"]
    model = fit(tune)
    t_scores = [model.probability(r.x) for r in tune]
    v_scores = [model.probability(r.x) for r in valid]
    threshold = choose_threshold(tune, t_scores, args.max_false)
    old_t = choose_threshold(tune, [r.old for r in tune], args.max_false)
    lines = [f"Answerability model fitted on {date.today()} on {len(tune)} tune questions "
             f"({sum(1 for r in tune if not r.y)} unanswerable); threshold {threshold} (false "
             f"abstention <= {args.max_false} on every tune set).", "",
             "Coefficients (standardized): " + ", ".join(
                 f"{n} {c:+.2f}" for n, c in zip(answerability.FEATURES, model.coef, strict=True)), "",
             f"### Validate (results: {len(valid)} questions)", *table(valid, v_scores, threshold), "",
             f"### Tune (fitted on these: {len(tune)} questions)", *table(tune, t_scores, threshold), "",
             f"### The previous score on validate (threshold {old_t}, chosen the same way on tune)",
             *table(valid, [r.old for r in valid], old_t), ""]
    lines += ["One sentence holding every question word and the asked-for kind of thing "
              "(`one_sentence_answers`), tune: "
              f"{sum(r.x[OVERRIDE] == 1 for r in tune if r.y)} of {sum(r.y for r in tune)} answerable, "
              f"{sum(r.x[OVERRIDE] == 1 for r in tune if not r.y)} of {sum(1 - r.y for r in tune)} "
              "unanswerable.", ""]
    print("\n".join(lines))
    if args.write:
        answerability.DEFAULT_PATH.write_text(json.dumps(model.to_json(), indent=1) + "\n")
        print(f"wrote {answerability.DEFAULT_PATH}; set abstain_threshold to {threshold}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
