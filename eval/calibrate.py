"""Measure the abstention threshold's trade-off on the dev sets (see eval/CALIBRATION.md).

    python eval/calibrate.py [--data ../shared/eval] [--home DIR]

Ingests each dev corpus into a store under --home (kept, so a second run is fast), asks every
question, and prints the answerability distribution of null vs answerable questions and the
abstain-on-null / false-abstention rates over thresholds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from qa.evaluation.io import load_jsonl
from qa.service import QA
from qa.settings import Settings

SETS = ("multihoprag_partial", "realtimeqa", "hotpotqa")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--home", type=Path, default=Path("/tmp/qa-calibrate"))
    args = parser.parse_args()
    if not (args.data / "multihoprag_partial_questions.jsonl").exists():
        print(f"error: the dev sets are not in {args.data}", file=sys.stderr)
        return 2
    null: list[float] = []
    answerable: dict[str, list[float]] = {s: [] for s in SETS}
    for name in SETS:
        qa = QA(Settings(home=args.home / name, collection="eval"))
        qa.ingest([args.data / f"{name}_docs.jsonl"])
        for q in load_jsonl(args.data / f"{name}_questions.jsonl"):
            conf = qa.retrieve(q["question"]).confidence
            (answerable[name] if q["doc_ids"] else null).append(conf)
    everyone = np.array([c for v in answerable.values() for c in v])
    mh = np.array(answerable["multihoprag_partial"])
    nul = np.array(null)
    print(f"null queries: {len(nul)}, answerable: {len(everyone)}")
    print("percentiles 5/10/30/50/70/90")
    print("  null       ", np.percentile(nul, [5, 10, 30, 50, 70, 90]).round(3))
    print("  answerable ", np.percentile(everyone, [5, 10, 30, 50, 70, 90]).round(3))
    print("threshold  abstain_on_null  false_abstain_all  false_abstain_multihop")
    for t in np.arange(0.20, 0.501, 0.025):
        print(f"{t:9.3f}  {(nul < t).mean():15.2f}  {(everyone < t).mean():17.2f}  "
              f"{(mh < t).mean():22.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
