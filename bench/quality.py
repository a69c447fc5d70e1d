"""Retrieval quality of each local encoder backend on the dev sets, beside the fp32 reference.

    python bench/quality.py [--encoders torch,onnx-int8] [--sets hotpotqa,realtimeqa]

For every set and encoder: `qa eval run` (a fresh store, every document ingested with that
encoder, every question asked offline), then qa.evaluation.score.score. Prints a Markdown table
and writes it, with the raw scores, to bench/reports/<date>/quality.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = ROOT.parent / "shared" / "eval"
SETS = ("hotpotqa", "realtimeqa")
ENCODERS = ("torch", "onnx-int8")


def evaluate(dataset: str, encoder: str, data: Path, out_dir: Path) -> dict:
    """Scores of one encoder on one dev set (the predictions are kept in out_dir)."""
    from qa.embed.local import local_embedder
    from qa.evaluation.io import load_jsonl
    from qa.evaluation.run import run
    from qa.evaluation.score import score
    from qa.settings import Settings

    os.environ["QA_ENCODER"] = encoder
    local_embedder(64, encoder)  # loaded (and exported) before the clock starts
    docs, questions = data / f"{dataset}_docs.jsonl", data / f"{dataset}_questions.jsonl"
    predictions = out_dir / f"predictions-{dataset}-{encoder}.jsonl"
    t0 = time.perf_counter()
    summary = run(docs, questions, predictions, Settings(mode="extractive"))
    scores = score(load_jsonl(questions), load_jsonl(predictions))
    scores["seconds"] = round(time.perf_counter() - t0, 1)
    scores["ingest_seconds"] = summary["ingest_seconds"]
    return scores


def row(dataset: str, encoder: str, s: dict) -> list[str]:
    o = s["overall"]
    cit, ret = o["citations"], o["retrieval"].get("gold_or_silver", o["retrieval"]["gold"])
    return [
        dataset,
        encoder,
        f"{100 * cit['evidence_recall']:.1f}",
        f"{100 * cit['precision']:.1f}" if cit["precision"] is not None else "-",
        f"{100 * ret['recall@5']:.1f}",
        f"{ret['mrr']:.3f}",
        f"{100 * o['abstention']['abstained']:.1f}",
        f"{s['ingest_seconds']:.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / date.today().isoformat())
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    header = ["set", "encoder", "citation recall", "citation precision", "recall@5", "MRR",
              "abstained %", "ingest s"]
    rows, raw = [], {}
    for dataset in args.sets.split(","):
        for encoder in args.encoders.split(","):
            s = evaluate(dataset, encoder, args.data, args.out)
            raw[f"{dataset}/{encoder}"] = s
            rows.append(row(dataset, encoder, s))
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (args.out / "quality.md").write_text(text)
    (args.out / "quality.json").write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
