"""Offline `ask` latency after start-up on the RealTimeQA corpus, with every feature on (time
phrases, stories, the FTS5 lexical index): the issue's "p50 under 50 ms" check.

    python bench/ask_latency.py --home /tmp/qa-rtqa     # ingests the corpus the first time

20 questions of the `more` pool warm the process up (model, indexes, the lexical postings of
their words), then 50 RealTimeQA questions are timed one after another (wall time of `QA.ask`,
extractive mode). Speed only: which split a question is in does not matter here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation.io import load_jsonl  # noqa: E402
from qa.service import QA  # noqa: E402
from qa.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, default=Path("/tmp/qa-rtqa"))
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    args = ap.parse_args()
    settings = Settings(home=args.home, collection="rtqa", mode="extractive")
    warm = [r["question"] for r in load_jsonl(args.data / "realtimeqa_more_questions.jsonl")][:20]
    timed = [r["question"] for r in load_jsonl(args.data / "realtimeqa_questions.jsonl")][:50]
    with QA(settings) as qa:
        if not qa.list():
            qa.ingest([args.data / "realtimeqa_docs.jsonl"])
        for q in warm:
            qa.ask(q)
        times = []
        for q in timed:
            t0 = time.perf_counter()
            qa.ask(q)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(json.dumps({"questions": len(times), "p50_ms": round(statistics.median(times), 1),
                      "p90_ms": round(times[int(0.9 * len(times)) - 1], 1)}))


if __name__ == "__main__":
    main()
