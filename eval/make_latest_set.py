"""Build the "latest" question set from RealTimeQA: "What is the latest on <topic>?" for topics
reported in different weeks, where the newest relevant article should be cited first.

    .venv/bin/python eval/make_latest_set.py --out /tmp/latest_set.jsonl
    .venv/bin/python eval/latest.py --set /tmp/latest_set.jsonl --split validate

RealTimeQA's text may not be redistributed, so the set is written outside the project (--out)
from ../shared/eval (--eval-dir), and rebuilt the same way each time (no randomness).

How it is built, one split at a time (the split of each RealTimeQA question is kept: a
split's library holds only the documents of its own questions, `doc_ids` and `silver_doc_ids`;
`tune` adds all of realtimeqa_more, which is all tune):

1. The dated documents of the library are the quiz's answer explanations (`rtqa-ev-*`, dated
   by the quiz week); the search-result articles carry no date and are never "newest".
2. Topic candidates are the proper names (runs of capitalized words) of the split's questions
   and of their dated documents (a possessive 's dropped), minus months, weekdays and generic
   words, and minus single words never capitalized except at a sentence's start or written
   in lower case at least as often as capitalized ("Free", "Police").
3. A topic's relevant documents are the dated documents whose title or text names it (exact
   words, case-sensitive). A topic is kept when they span two dates at least 7 days apart
   ("the same topic reported in different weeks").
4. The item: question "What is the latest on <topic>?", `newest` = the relevant documents of
   the latest date (any of them cited first counts), `relevant` with their dates.

Each row: {"qid", "question", "topic", "split", "newest": [doc_id], "relevant": [[doc_id, day]]}.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVAL = ROOT.parent / "shared" / "eval"

NAME = re.compile(r"\b[A-Z][\w’'.-]*[a-zA-Z](?:\s+(?:of\s+|de\s+)?[A-Z][\w’'.-]*[a-zA-Z])*")
GENERIC = set("""
The A An In On At Of For To By From With As And But Or If It Its This That These Those There
Here What Which Who Whom Whose Where When Why How Some Many More Most Much Other Others Another
Each Every All Both One Two Three First Second Last Next New Old According After Before During
Since Until While Although However Also Still Yet Even Just Only Meanwhile Instead Options Week
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December No Yes US U.S. UK Mr Mrs Ms Dr He She They We You
I His Her Their Our Your Americans American European British Russian Chinese Approximately
Quiz THE WEEK CNN USA Today News Reuters BBC AP
""".split())


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def library(eval_dir: Path, split: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documents and questions of one split's library (see the module docstring)."""
    docs = {d["doc_id"]: d for d in load(eval_dir / "realtimeqa_docs.jsonl")}
    questions = [q for q in load(eval_dir / "realtimeqa_questions.jsonl") if q["split"] == split]
    keep = {d for q in questions for d in [*q["doc_ids"], *q.get("silver_doc_ids", [])]}
    chosen = [docs[d] for d in sorted(keep) if d in docs]
    if split == "tune":
        chosen += load(eval_dir / "realtimeqa_more_docs.jsonl")
        questions += load(eval_dir / "realtimeqa_more_questions.jsonl")
    return chosen, questions


def names(text: str) -> set[str]:
    out = set()
    for m in NAME.finditer(text or ""):
        # "Trump’s" is Trump; "of November" is no name.
        words = re.sub(r"['’]s$", "", m.group(0).strip(" .'’")).split()
        while words and words[-1] in ("of", "de"):
            words = words[:-1]
        while words and words[0] in GENERIC - {"New"}:  # "The Supreme Court" -> "Supreme Court"
            words = words[1:]
        name = " ".join(words)
        if len(name) >= 3 and name not in GENERIC:
            out.add(name)
    return out


def mid_sentence(name: str, texts: list[str]) -> bool:
    """Whether `name` is written capitalized somewhere other than at a sentence's start: "Tens
    of thousands" and "Certain groups" open sentences; "Signal" and "Gaza" are names."""
    pattern = re.compile(rf"(?<![.!?\n“\"])\s+{re.escape(name)}(?![\w-])")
    return any(pattern.search(t) for t in texts)


def common_word(name: str, texts: list[str]) -> bool:
    """A single capitalized word that the texts use more often in lower case ("Free", "Police",
    "World"): a word, not the name of a topic."""
    lower = re.compile(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])")
    upper = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return sum(len(lower.findall(t)) for t in texts) >= sum(len(upper.findall(t)) for t in texts)


def build(eval_dir: Path, split: str) -> list[dict[str, Any]]:
    docs, questions = library(eval_dir, split)
    dated = [d for d in docs if d.get("published_at")]
    candidates: set[str] = set()
    for q in questions:
        candidates |= names(q["question"])
    for d in dated:
        candidates |= names(d["text"])
    texts = [q["question"] for q in questions] + [d["text"] for d in dated]
    candidates = {c for c in candidates if " " in c or (mid_sentence(c, texts)
                                                       and not common_word(c, texts))}
    rows = []
    for topic in sorted(candidates):
        pattern = re.compile(rf"(?<![\w-]){re.escape(topic)}(?![\w-])")
        relevant = sorted(
            ((d["doc_id"], d["published_at"][:10]) for d in dated
             if pattern.search(d.get("title", "")) or pattern.search(d["text"])),
            key=lambda x: x[1],
        )
        days = sorted({date.fromisoformat(day) for _, day in relevant})
        if len(days) < 2 or (days[-1] - days[0]).days < 7:
            continue
        newest = [doc for doc, day in relevant if day == days[-1].isoformat()]
        rows.append({
            "qid": f"latest-{split}-{re.sub(r'[^a-z0-9]+', '-', topic.lower()).strip('-')}",
            "question": f"What is the latest on {topic}?",
            "topic": topic,
            "split": split,
            "newest": newest,
            "relevant": [list(r) for r in relevant],
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if not (args.eval_dir / "realtimeqa_questions.jsonl").is_file():
        print(f"error: no RealTimeQA files in {args.eval_dir}", file=sys.stderr)
        return 2
    rows = build(args.eval_dir, "tune") + build(args.eval_dir, "validate")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = {s: sum(r["split"] == s for r in rows) for s in ("tune", "validate")}
    print(f"wrote {len(rows)} questions to {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
