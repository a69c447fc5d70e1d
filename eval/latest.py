"""Score "What is the latest on <topic>?" questions (eval/make_latest_set.py): is the newest
relevant article cited first?

    .venv/bin/python eval/make_latest_set.py --out /tmp/latest_set.jsonl
    .venv/bin/python eval/latest.py --set /tmp/latest_set.jsonl --split validate

Each split's library (make_latest_set.library: the split's own RealTimeQA documents) is
ingested into --home (a fresh /tmp folder by default; reused when given). Figures:

- newest_first: the first citation is from one of the item's newest relevant documents;
- newest_cited: one of them is cited at all;
- the yardstick asks "What about <topic>?", the same search without the recency cue.

`recency_margin` (qa/settings.py) was chosen on the tune rows of this set; validate rows are the
result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from make_latest_set import DEFAULT_EVAL, library  # noqa: E402

from qa.settings import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", type=Path, required=True, help="Written by make_latest_set.py.")
    p.add_argument("--split", choices=["tune", "validate"], default="validate")
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    p.add_argument("--home", type=Path, default=None)
    p.add_argument("--recency-margin", type=float, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    items = [json.loads(line) for line in args.set.open(encoding="utf-8") if line.strip()]
    items = [i for i in items if i["split"] == args.split]
    docs, _ = library(args.eval_dir, args.split)
    from qa.service import QA

    home = args.home or Path(tempfile.mkdtemp(prefix="qa-latest-"))
    home.mkdir(parents=True, exist_ok=True)
    base = Settings()
    update = {"home": home, "collection": f"latest-{args.split}", "model_cache": base.model_cache_dir}
    if args.recency_margin is not None:
        update["recency_margin"] = args.recency_margin
    settings = base.model_copy(update=update)
    corpus = home / "docs.jsonl"
    with corpus.open("w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    counts = {"newest_first": 0, "newest_cited": 0, "yardstick_newest_first": 0}
    out = args.out.open("w", encoding="utf-8") if args.out else None
    t0 = time.perf_counter()
    with QA(settings) as qa:
        qa.ingest([corpus])
        for item in items:
            newest = set(item["newest"])
            answer = qa.ask(item["question"])
            plain = qa.ask(f"What about {item['topic']}?")
            cited = [c.doc_id for c in answer.citations]
            counts["newest_first"] += bool(cited) and cited[0] in newest
            counts["newest_cited"] += bool(newest & set(cited))
            counts["yardstick_newest_first"] += bool(plain.citations) and plain.citations[0].doc_id in newest
            if out:
                out.write(json.dumps({"qid": item["qid"], "newest": sorted(newest), "cited": [
                    (c.doc_id, c.published_at) for c in answer.citations]}) + "\n")
    n = len(items)
    print(f"latest questions, split={args.split}, n={n} ({time.perf_counter() - t0:.1f} s)")
    for k, v in counts.items():
        print(f"  {k:24s} {v / n if n else 0:.3f} ({v}/{n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
