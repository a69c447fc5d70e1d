"""Build eval/compare_pairs.jsonl: labelled article pairs for `compare` (agreeing, one-sided and
conflicting statements), from the HotpotQA dev paragraphs (CC BY-SA 4.0, the one dev set whose
texts may be copied into the project; see eval/ATTRIBUTION.md).

Each pair is one "article" A (two consecutive HotpotQA paragraphs, which the prepared file keeps
together by question, so on related entities) and a copy B made the way another source retells
it, seeded:

- conflicts (1 or 2 per pair, labelled with their kind): a number changed (14 -> 17, a year
  moved by 1-3), a date changed (another month or day), or a name replaced by another entity's
  name (a title of another paragraph);
- agreeing statements: every other sentence A and B share, some with edits that change no fact
  (labelled agree): "1,200" written "1200", a small number spelled out ("5" -> "five"), "July
  16, 1966" written "16 July 1966";
- one-sided statements: A's last sentence cut from B (when A has five or more), and one sentence
  of the next paragraph (a related entity) added to B.

`split` is tune or validate by a hash of A's first doc id (about half each); eval/compare.py
fits its threshold on tune and reports validate.

    .venv/bin/python eval/make_compare_pairs.py            # writes eval/compare_pairs.jsonl
    .venv/bin/python eval/make_compare_pairs.py --news build/compare_pairs_news.jsonl
        # the same edits on CNN/DailyMail articles, built at run time (not redistributable)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
HERE = Path(__file__).resolve().parent
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NAME = re.compile(r"(?<=[a-z,;] )([A-Z][a-z]+(?: [A-Z][a-z]+)+)")
MONTH_DAY = re.compile(r"\b(" + "|".join(MONTHS) + r") (\d{1,2}), (\d{4})\b")
# Any date with a day ("3 May 1956" too): its numbers are not edited as numbers.
ANY_DATE = re.compile(r"\b(?:\d{1,2} (?:" + "|".join(MONTHS) + r")|(?:" + "|".join(MONTHS)
                      + r") \d{1,2})\b")
NUM = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?![\w,]|\.\d)")


def split_of(key: str) -> str:
    return "tune" if int(hashlib.md5(key.encode()).hexdigest(), 16) % 2 == 0 else "validate"


def conflict_edit(s: str, names: list[str], rng: random.Random) -> tuple[str, str] | None:
    """`s` with one fact changed, and the kind; None when it has nothing to change."""
    options = []
    m = MONTH_DAY.search(s)
    if m:
        options.append("date")
    if NUM.search(ANY_DATE.sub("", s)):
        options.append("number")
    if NAME.search(s):
        options.append("name")
    if not options:
        return None
    kind = rng.choice(options)
    if kind == "date":
        assert m is not None
        if rng.random() < 0.5:
            month = rng.choice([x for x in MONTHS if x != m.group(1)])
            new = f"{month} {m.group(2)}, {m.group(3)}"
        else:
            day = (int(m.group(2)) + rng.randint(1, 9) - 1) % 28 + 1
            day = day if day != int(m.group(2)) else day % 28 + 1
            new = f"{m.group(1)} {day}, {m.group(3)}"
        return s[: m.start()] + new + s[m.end():], "date"
    if kind == "number":
        spans = [x for x in NUM.finditer(s) if not ANY_DATE.search(s[max(0, x.start() - 12): x.end() + 12])]
        if not spans:
            return None
        x = rng.choice(spans)
        value = int(x.group(1).replace(",", ""))
        step = rng.randint(1, 3) if 1800 <= value <= 2100 else rng.randint(1, 9)
        new = value + step
        text = f"{new:,}" if "," in x.group(1) else str(new)
        return s[: x.start()] + text + s[x.end():], "number"
    found = NAME.search(s)
    assert found is not None
    other = rng.choice([n for n in names if n.lower() not in s.lower()])
    return s[: found.start()] + other + s[found.end():], "name"


def neutral_edit(s: str, rng: random.Random) -> str | None:
    """`s` rewritten without changing a fact (a format another outlet uses), or None."""
    m = MONTH_DAY.search(s)
    if m and rng.random() < 0.5:
        return s[: m.start()] + f"{m.group(2)} {m.group(1)} {m.group(3)}" + s[m.end():]
    in_dates = [m.span() for m in ANY_DATE.finditer(s)]
    for x in NUM.finditer(s):
        if any(a <= x.start() < b for a, b in in_dates):
            continue
        g = x.group(1)
        if "," in g:
            return s[: x.start()] + g.replace(",", "") + s[x.end():]
        if len(g) == 1 and int(g) > 1:
            return s[: x.start()] + SMALL[int(g)] + s[x.end():]
    return None


def make_pair(pid: str, a_sents: list[str], extra: list[str], names: list[str],
              rng: random.Random, title: str) -> dict | None:
    """One labelled pair, or None when A has too little to edit."""
    if len(a_sents) < 3:
        return None
    b_sents = list(a_sents)
    one_sided_a: list[str] = []
    if len(a_sents) >= 5:
        one_sided_a.append(a_sents[-1])
        b_sents = b_sents[:-1]
    labels = []
    order = list(range(len(b_sents)))
    rng.shuffle(order)
    n_conf = rng.choice([1, 1, 2])
    for i in order:
        s = b_sents[i]
        if n_conf and (got := conflict_edit(s, names, rng)) is not None and got[0] != s:
            b_sents[i] = got[0]
            labels.append({"a": s, "b": got[0], "label": "conflict", "kind": got[1]})
            n_conf -= 1
            continue
        if rng.random() < 0.4 and (neutral := neutral_edit(s, rng)) is not None:
            b_sents[i] = neutral
            labels.append({"a": s, "b": neutral, "label": "agree", "kind": "format"})
            continue
        labels.append({"a": s, "b": s, "label": "agree", "kind": "same"})
    if not any(x["label"] == "conflict" for x in labels):
        return None
    one_sided_b = []
    if extra:
        added = rng.choice(extra)
        at = rng.randint(1, len(b_sents))
        b_sents.insert(at, added)
        one_sided_b.append(added)
    return {
        "pair_id": pid, "split": split_of(pid),
        "a": {"doc_id": f"{pid}-a", "title": title, "source": "Source A", "text": " ".join(a_sents)},
        "b": {"doc_id": f"{pid}-b", "title": "Retold: " + title, "source": "Source B",
              "text": " ".join(b_sents)},
        "statements": labels, "one_sided_a": one_sided_a, "one_sided_b": one_sided_b,
    }


def hotpot_pairs(seed: int = 16) -> list[dict]:
    docs = [json.loads(line) for line in (EVAL / "hotpotqa_docs.jsonl").open()]
    # Other entities' names to swap in: titles that look like a person's or a place's name.
    names = sorted({t for d in docs if re.fullmatch(r"[A-Z][a-z]+(?: [A-Z][a-z]+){1,2}",
                                                      t := d["title"].split(" (")[0])})
    rng = random.Random(seed)
    pairs = []
    for i in range(0, len(docs) - 2, 2):
        a, b, c = docs[i], docs[i + 1], docs[i + 2]
        got = make_pair(a["doc_id"], a["sentences"] + b["sentences"], c["sentences"], names, rng,
                        f"{a['title']} and {b['title']}")
        if got:
            pairs.append(got)
    return pairs


def news_pairs(seed: int = 16) -> list[dict]:
    """The same edits on CNN/DailyMail articles (first 12 sentences), for a news figure."""
    rng = random.Random(seed)
    rows = [json.loads(line) for name in ("summarization_cnndm_more.jsonl",
                                          "summarization_cnndm_frank.jsonl")
            for line in (EVAL / name).open()]
    names = sorted({n for r in rows for n in NAME.findall(r["text"])})
    pairs = []
    for i, r in enumerate(rows):
        sents = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", r["text"]) if len(s.split()) > 4][:12]
        extra = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", rows[(i + 1) % len(rows)]["text"])
                 if len(s.split()) > 6][:5]
        got = make_pair(r["doc_id"], sents, extra, names, rng, sents[0][:60] if sents else "")
        if got:
            got["split"] = r.get("split", "tune")  # the dataset's own split
            pairs.append(got)
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--news", type=Path, help="build the CNN/DailyMail variant into this file")
    args = ap.parse_args()
    if args.news:
        pairs, out = news_pairs(), args.news
    else:
        pairs, out = hotpot_pairs(), HERE / "compare_pairs.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    n_conf = sum(1 for p in pairs for s in p["statements"] if s["label"] == "conflict")
    print(f"{len(pairs)} pairs ({sum(p['split'] == 'validate' for p in pairs)} validate), "
          f"{n_conf} conflicts -> {out}")


if __name__ == "__main__":
    main()
