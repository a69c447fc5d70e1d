"""Article extraction quality on real news pages: what qa stores vs trafilatura's defaults.

    python bench/extraction.py [--data ../shared/extraction] [--out bench/reports/<date>]

The data is the development half of scrapinghub's article-extraction-benchmark: saved pages
(`pages/<key>.html.gz`) and the article body a person marked on each (`ground-truth.json`).
Each page goes through what `qa ingest` does to a web page: `qa.ingest.web.extract_page`, then
`qa.ingest.readers.finish` (cleaning, byline aside, checks), and the text qa would store is
scored. trafilatura's defaults (`trafilatura.extract(html)`) are scored in the same run.

Scoring follows the data's README (the benchmark's evaluate.py): `\\w+` tokens, 4-token
shingles with counts; TP, FP, FN per page normalized by their sum; precision and recall averaged
over pages, F1 from the two means. As the README says, a refused or empty extraction scores
precision 0 on its page (the benchmark's own script leaves such pages out of the precision mean;
counting them is the stricter reading). Writes `extraction.json` to --out and prints it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "extraction"

_TOKEN = re.compile(r"\w+", re.UNICODE)
NGRAM = 4


def shingles(text: str, n: int = NGRAM) -> Counter[tuple[str, ...]]:
    """Every run of `n` consecutive `\\w+` tokens, counted; a text of fewer tokens is one
    shorter shingle (as in the benchmark)."""
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def page_counts(true: str, pred: str) -> tuple[float, float, float]:
    """(TP, FP, FN) of one page over shingles, divided by their sum so that long pages weigh
    no more than short ones."""
    t, p = shingles(true), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def page_precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fp) if tp + fp else 0.0


def page_recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fn) if tp + fn else 0.0


def aggregate(counts: list[tuple[float, float, float]], empty: list[bool]) -> dict[str, float]:
    """Mean precision and recall over pages and F1 of the two. `empty[i]`: page i's extraction
    was refused or empty, which scores precision 0 (the README's rule)."""
    precisions = [
        0.0 if is_empty else page_precision(*c)
        for c, is_empty in zip(counts, empty, strict=True)
        if is_empty or c[0] + c[1] > 0
    ]
    recalls = [page_recall(*c) for c in counts if c[0] + c[2] > 0]
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"f1": round(f1, 4), "precision": round(p, 4), "recall": round(r, 4)}


def load_pages(data: Path) -> Iterator[tuple[str, bytes, str, str | None]]:
    """(key, page bytes, true article body, url) for every page of the data set, by key."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(truth):
        html = gzip.decompress((data / "pages" / f"{key}.html.gz").read_bytes())
        yield key, html, truth[key].get("articleBody") or "", truth[key].get("url")


def qa_stored(html: bytes, url: str | None, key: str) -> dict[str, Any]:
    """What `qa ingest` would store of the page: its text and metadata, or the refusal."""
    from qa.errors import InputError
    from qa.ingest.readers import finish
    from qa.ingest.web import extract_page

    try:
        article = finish(extract_page(html, url=url, doc_id=key[:64]))
    except InputError as exc:
        return {"text": "", "refused": str(exc)}
    return {
        "text": article.text,
        "refused": None,
        "published_at": article.published_at,
        "title": article.title,
        "source": article.source,
        "byline": article.byline,
        "canonical_url": article.canonical_url,
    }


def trafilatura_defaults(html: bytes, url: str | None, key: str) -> dict[str, Any]:
    """`trafilatura.extract(html)` as its documentation shows it, with no options."""
    import trafilatura

    text = trafilatura.extract(html)
    return {"text": text or "", "refused": None if text else "no text extracted"}


def score_system(
    pages: list[tuple[str, bytes, str, str | None]],
    extract: Callable[[bytes, str | None, str], dict[str, Any]],
) -> dict[str, Any]:
    """Scores of one extractor on all pages, with the refusals, date coverage and per-page F1."""
    counts: list[tuple[float, float, float]] = []
    empty: list[bool] = []
    refused: dict[str, str] = {}
    dated = 0
    per_page: dict[str, float] = {}
    t0 = time.perf_counter()
    for key, html, true, url in pages:
        out = extract(html, url, key)
        c = page_counts(true, out["text"])
        counts.append(c)
        empty.append(not out["text"].strip())
        if out["refused"]:
            refused[key] = out["refused"]
        if out.get("published_at"):
            dated += 1
        one = aggregate([c], [empty[-1]])
        per_page[key] = one["f1"]
    result = aggregate(counts, empty)
    result.update(
        pages=len(pages),
        refused=refused,
        n_refused=len(refused),
        seconds=round(time.perf_counter() - t0, 1),
        worst_pages=dict(sorted(per_page.items(), key=lambda kv: kv[1])[:10]),
    )
    if extract is qa_stored:
        result["dated"] = dated
        result["date_coverage"] = round(dated / len(pages), 4) if pages else 0.0
    return result


def run(data: Path) -> dict[str, Any]:
    """Both systems on every page of `data`."""
    import trafilatura

    pages = list(load_pages(data))
    return {
        "data": str(data),
        "pages": len(pages),
        "trafilatura_version": trafilatura.__version__,
        "qa": score_system(pages, qa_stored),
        "trafilatura_defaults": score_system(pages, trafilatura_defaults),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with ground-truth.json and pages/")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / date.today().isoformat())
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").is_file():
        print(f"{args.data}: no ground-truth.json here (give --data)", file=sys.stderr)
        return 2
    report = run(args.data)
    report["command"] = "python bench/extraction.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "extraction.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    q, d = report["qa"], report["trafilatura_defaults"]
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print(
        f"\nqa stored text:        F1 {q['f1']:.4f}  P {q['precision']:.4f}  R {q['recall']:.4f}  "
        f"refused {q['n_refused']}/{q['pages']}  dated {q['date_coverage']:.1%}\n"
        f"trafilatura defaults:  F1 {d['f1']:.4f}  P {d['precision']:.4f}  R {d['recall']:.4f}  "
        f"refused {d['n_refused']}/{d['pages']}\nwritten to {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
