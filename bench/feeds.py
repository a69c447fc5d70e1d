"""A feed refresh of 50 new items into a library, end to end on loopback, then the next answer.

    python bench/feeds.py                                        # into a fresh library
    python bench/feeds.py --home /tmp/qa-10k --collection eval   # into bench/incremental.py's 10k

A loopback server (tests/support/news_server.py, the one the feed tests use) serves robots.txt,
an RSS feed of 50 items and their 50 pages. The refresh is real: fetch with the polite fetcher
(per-host delay `--host-delay`, 0 by default: one host serves everything here), extract with
trafilatura, embed with the local model, write Chroma, group stories, then the next offline
answer catches up the lexical index. A second refresh costs one 304. The 50 articles are
deleted at the end, so a library can be measured again. Results go to `--out` (default
bench/reports/<date>/feeds.json).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.service import QA  # noqa: E402
from qa.settings import Settings  # noqa: E402
from tests.support.news_server import RSS_TYPE, NewsServer, Reply, page, rss  # noqa: E402

ITEMS = 50
WORDS = ("council budget harbour storm volcano election minister court river festival school "
         "hospital airport railway market farmers police museum bridge energy water").split()


def paragraph(rng: random.Random, i: int, j: int) -> str:
    w = rng.sample(WORDS, 6)
    return (f"Story {i} paragraph {j}: the {w[0]} and the {w[1]} were discussed on Tuesday by "
            f"officials who said the {w[2]} plan would affect the {w[3]}, the {w[4]} and the "
            f"{w[5]} for years.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, help="an existing library (default: a fresh one)")
    ap.add_argument("--collection", default="articles", help="its collection (QA_COLLECTION)")
    ap.add_argument("--host-delay", type=float, default=0.0, help="seconds between fetches")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "reports" / date.today().isoformat() / "feeds.json")
    args = ap.parse_args()
    rng = random.Random(1)
    home = args.home or Path(tempfile.mkdtemp(prefix="qa-feeds-"))
    with NewsServer() as site:
        site.route("/robots.txt", Reply("User-agent: *\nAllow: /\n", content_type="text/plain"))
        items = []
        for i in range(ITEMS):
            body = [paragraph(rng, i, j) for j in range(8)]
            site.route(f"/bench-feed/{i}", Reply(page(f"Bench story number {i}", body)))
            items.append((f"Bench story {i}", f"/bench-feed/{i}", "Fri, 01 Mar 2024 09:00:00 GMT"))
        site.route("/rss.xml", Reply(rss("Bench", items), content_type=RSS_TYPE, etag='"b1"'))
        settings = Settings(home=home, collection=args.collection, allow_private_urls=True,
                            fetch_host_delay=args.host_delay)
        with QA(settings) as qa:
            t0 = time.perf_counter()
            qa.ask("What did officials say about the harbour?")  # warm: model, indexes
            warm_s = time.perf_counter() - t0
            articles_before = len(qa.list())
            qa.feeds_add(site.url("/rss.xml"), name="bench")
            t0 = time.perf_counter()
            [first] = qa.feeds_refresh("bench")
            refresh_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            answer = qa.ask("What did officials say about the harbour plan in story 7?")
            next_answer_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            [second] = qa.feeds_refresh("bench")
            second_ms = (time.perf_counter() - t0) * 1000
            new_ids = [r.doc_id for r in first.items if r.status in ("added", "replaced") and r.doc_id]
            for doc_id in new_ids:  # leave the library as it was
                qa.delete(doc_id)
            qa.feeds_remove("bench")
    report = {
        "library_articles": articles_before,
        "items": ITEMS,
        "new": first.feed.last_new,
        "failed": first.feed.last_failed,
        "refresh_s": round(refresh_s, 2),
        "next_answer_s": round(next_answer_s, 3),
        "next_answer_cites": [c.doc_id for c in answer.citations][:3],
        "second_refresh": second.status,
        "second_refresh_ms": round(second_ms),
        "warm_up_s": round(warm_s, 2),
        "host_delay_s": args.host_delay,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
