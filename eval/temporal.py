"""MultiHop-RAG temporal queries ("Did X report ... before Y reported ...?") answered from the
articles' publication dates: is each question's pair of named reports cited, with its date?

    .venv/bin/python eval/temporal.py --split validate
    .venv/bin/python eval/temporal.py --split tune --set more     # the larger tune pool

Reads ../shared/eval (or --eval-dir); ingests the set's docs into --home (a fresh folder under
/tmp by default; reused when given, ingest is idempotent). For every `temporal_query` row of the
split it runs `QA.when_reported` (qa.answer.reports; `ask` takes this route for such questions)
and, as a yardstick, `QA.ask` with plain retrieval, and
scores:

- two_cited: at least two of the gold articles cited (all of them when there are fewer than
  two), each citation carrying its article's date: the issue's target (>= 0.8 on validate);
- all_cited: every gold article cited (some questions list a third, unnamed gold article);
- order_ok: the first two cited reports' dates compared the way the gold articles' are.

Nothing here is fitted; the split only decides which rows are read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation.io import load_jsonl  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.types import Answer  # noqa: E402

SETS = {"partial": "multihoprag_partial", "more": "multihoprag_more"}


def score(answer: Answer | None, gold: list[str]) -> dict[str, bool]:
    cited = [c for c in (answer.citations if answer else [])]
    dated = {c.doc_id for c in cited if c.published_at}
    hits = dated & set(gold)
    return {
        "two_cited": len(hits) >= min(2, len(gold)),
        "all_cited": hits == set(gold),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=["tune", "validate", "all"], default="validate")
    p.add_argument("--set", choices=sorted(SETS), default="partial")
    p.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    p.add_argument("--home", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="Write one JSON line per question.")
    args = p.parse_args(argv)
    name = SETS[args.set]
    docs = args.eval_dir / f"{name}_docs.jsonl"
    if not docs.is_file():
        print(f"error: {docs} is not there (the eval data lives in ../shared/eval)", file=sys.stderr)
        return 2
    rows = [q for q in load_jsonl(args.eval_dir / f"{name}_questions.jsonl")
            if q.get("type") == "temporal_query" and args.split in ("all", q.get("split"))]
    from qa.service import QA

    home = args.home or Path(tempfile.mkdtemp(prefix="qa-temporal-"))
    base = Settings()
    settings = base.model_copy(update={"home": home, "collection": "temporal",
                                       "model_cache": base.model_cache_dir})
    totals: dict[str, dict[str, int]] = {"when_reported": {}, "ask": {}}
    out = args.out.open("w", encoding="utf-8") if args.out else None
    routed = 0
    t0 = time.perf_counter()
    with QA(settings) as qa:
        qa.ingest([docs])
        for q in rows:
            gold = list(q["doc_ids"])
            answer = qa.when_reported(q["question"])
            routed += answer is not None
            # The yardstick: plain retrieval. A `since` long before any article keeps every
            # (dated) article and, being an explicit filter, turns off the date-order route.
            plain = qa.ask(q["question"], since=date(1900, 1, 1))
            for key, got in (("when_reported", answer or plain), ("ask", plain)):
                for metric, ok in score(got, gold).items():
                    totals[key][metric] = totals[key].get(metric, 0) + int(ok)
            if out:
                out.write(json.dumps({
                    "qid": q["qid"], "gold": gold, "routed": answer is not None,
                    "answer": (answer or plain).answer,
                    "cited": [(c.doc_id, c.source, c.published_at) for c in (answer or plain).citations],
                    **score(answer or plain, gold),
                }, ensure_ascii=False) + "\n")
    n = len(rows)
    print(f"MultiHop-RAG temporal queries, set={args.set}, split={args.split}, n={n} "
          f"(answered from dates: {routed}; {time.perf_counter() - t0:.1f} s)")
    for key, m in totals.items():
        figures = ", ".join(f"{k} {v / n:.3f} ({v}/{n})" for k, v in m.items()) if n else "none"
        print(f"  {key:14s} {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
