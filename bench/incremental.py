"""The lexical index as the library grows: one new article, then the next answer; cold starts.

    python bench/incremental.py build --home /tmp/qa-10k --size 10000     # once (~10 min)
    python bench/incremental.py measure --home /tmp/qa-10k                # the figures

`build` ingests RealTimeQA (299 articles) with qa, then grows the store to `--size` articles by
replicating them under new ids with `bench.Corpus` (as `bench.py`'s scale section does: the
vectors are the ingested ones, slightly perturbed; Chroma and the lexical index are the real
ones). `measure` then times, on that library:

- the full build of the lexical index from Chroma (SQLite FTS5, `qa.retrieve.lexical`) and of
  the bm25s index it replaced (`bench/legacy_lexical.py`, the yardstick);
- cold start: a fresh process from its start to its first offline answer, with each index
  already on disk (median of `--cold-runs`);
- following a write: a warm writer process ingests one new article (`QA.ingest_articles`) and
  asks a question; a warm reader process (another QA on the same QA_HOME, as a running
  `qa serve` is) then asks its next question. Each answer's time includes catching up the
  lexical index (and, for the reader, `Store.sync`). The article is deleted at the end, so the
  library can be measured again.

Times are wall seconds on a shared machine (2 cores): compare the two indexes of one run.
Results go to `--out` (default bench/reports/<date>/incremental.json and .md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DOCS = ROOT.parent / "shared" / "eval" / "realtimeqa_docs.jsonl"
QUESTION = "What did the Federal Reserve decide about interest rates?"
NEW_TEXT = (
    "Zorblatt penguins were counted on the Antarctic ice shelf this week. "
    "Researchers said the zorblatt colony had grown to 12,000 birds since the last survey. "
    "The team plans to return in the spring to tag the zorblatt chicks."
)
NEW_QUESTION = "How many zorblatt penguins were counted?"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL"):
        env.pop(var, None)
    return env


def _qa(home: Path, legacy: bool) -> Any:
    from qa.service import QA
    from qa.settings import Settings

    qa = QA(Settings(home=home, mode="extractive"))
    if legacy:
        from legacy_lexical import LegacyLexicalIndex

        qa.lexical = LegacyLexicalIndex(home / "cache" / f"bm25-{qa.settings.collection}")
    return qa


# --- build -----------------------------------------------------------------------------------


def build(home: Path, size: int) -> None:
    import bench

    t0 = time.perf_counter()
    qa = _qa(home, legacy=False)
    if not qa.store.catalog().articles:
        failed = [r for r in qa.ingest([DOCS]) if r.status == "failed"]
        if failed:
            raise RuntimeError(f"ingest failed: {failed[0].path}: {failed[0].reason}")
        print(f"ingested {DOCS.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    have = len(qa.store.catalog().articles)
    corpus = bench.Corpus(qa.store)
    print(f"replicating {len(corpus)} articles from {have} to {size}", flush=True)
    step = 1000
    while have < size:
        stop = min(size, (have // step + 1) * step)
        t = time.perf_counter()
        corpus.write(qa.store, have, stop)
        print(f"  {stop} articles ({time.perf_counter() - t:.1f} s)", flush=True)
        have = stop
    print(f"built {home} with {qa.store.count()} in {time.perf_counter() - t0:.1f} s", flush=True)


# --- measure ---------------------------------------------------------------------------------


def _child(home: Path, legacy: bool, mode: str, t0: float) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", "--home", str(home),
           "--mode", mode, "--t0", repr(t0)] + (["--legacy"] if legacy else [])
    return subprocess.Popen(cmd, env=_env(home), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def _child_main(args: argparse.Namespace) -> int:
    """In a fresh process: the first answer (cold start); as a reader, then wait for the parent's
    word and time the next answer."""
    qa = _qa(args.home, args.legacy)
    t = time.perf_counter()
    qa.store.sync()
    qa.ask(QUESTION, mode="extractive")
    first = {"start_to_first_answer_s": time.time() - args.t0,
             "first_answer_s": time.perf_counter() - t}
    print(json.dumps(first), flush=True)
    if args.mode == "reader":
        sys.stdin.readline()  # the writer has committed its article
        t = time.perf_counter()
        qa.store.sync()  # what every face does at the start of a request
        synced = time.perf_counter() - t
        answer = qa.ask(NEW_QUESTION, mode="extractive")
        print(json.dumps({"next_answer_s": time.perf_counter() - t, "sync_s": synced,
                          "lexical_index_ms": (answer.timings_ms or {}).get("lexical_index"),
                          "cites_new": any(c.doc_id == "bench-new" for c in answer.citations)}),
              flush=True)
    return 0


def measure(home: Path, legacy: bool, cold_runs: int, build: bool = True) -> dict[str, Any]:
    from qa.types import Article

    name = "bm25s (legacy)" if legacy else "SQLite FTS5"
    out: dict[str, Any] = {"index": name}
    qa = _qa(home, legacy)
    counts = qa.store.count()
    out.update(articles=counts["articles"], sentences=counts["sentences"])
    qa.embedder.embed_query("warm-up")  # the first use exports the encoder: not timed below
    # The full build, from nothing on disk (or, without `build`, the check of the one there).
    if build and legacy:
        shutil.rmtree(qa.lexical.cache_dir, ignore_errors=True)
    elif build:
        qa.lexical.discard()
    t = time.perf_counter()
    qa.lexical.ensure(qa.store)
    out["full_build_s"] = time.perf_counter() - t
    print(f"{name}: full build {out['full_build_s']:.1f} s", flush=True)
    cold = []
    for _ in range(cold_runs):
        child = _child(home, legacy, "cold", time.time())
        got = json.loads((child.stdout.readline() if child.stdout else "") or "{}")
        child.wait()
        cold.append(got["start_to_first_answer_s"])
    out["cold_start_runs_s"] = cold
    out["cold_start_s"] = statistics.median(cold)
    print(f"{name}: cold start {cold}", flush=True)
    # Following one write: a warm writer (this process) and a warm reader (a child).
    qa.ask(QUESTION, mode="extractive")
    reader = _child(home, legacy, "reader", time.time())
    assert reader.stdin is not None and reader.stdout is not None
    json.loads(reader.stdout.readline())
    t = time.perf_counter()
    results = qa.ingest_articles([Article(doc_id="bench-new", title="Zorblatt count",
                                          source="bench", text=NEW_TEXT)])
    out["ingest_one_s"] = time.perf_counter() - t
    assert results[0].status != "failed", results
    t = time.perf_counter()
    answer = qa.ask(NEW_QUESTION, mode="extractive")
    out["writer_next_answer_s"] = time.perf_counter() - t
    out["writer_lexical_index_ms"] = (answer.timings_ms or {}).get("lexical_index")
    out["writer_cites_new"] = any(c.doc_id == "bench-new" for c in answer.citations)
    reader.stdin.write("go\n")
    reader.stdin.flush()
    got = json.loads(reader.stdout.readline())
    reader.wait()
    out["reader_next_answer_s"] = got["next_answer_s"]
    out["reader_sync_s"] = got.get("sync_s")
    out["reader_lexical_index_ms"] = got.get("lexical_index_ms")
    out["reader_cites_new"] = got["cites_new"]
    print(f"{name}: ingest {out['ingest_one_s']:.2f} s, writer's next answer "
          f"{out['writer_next_answer_s']:.2f} s, reader's {out['reader_next_answer_s']:.2f} s",
          flush=True)
    with qa.store.write_lock():
        qa.store.delete_article("bench-new")
    qa.store.close()
    return out


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}"


def _s(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def render(rows: list[dict[str, Any]], command: str) -> str:
    lines = [f"# The lexical index after one new article ({date.today().isoformat()})", "",
             f"Command: `{command}`", "", f"Load average at the end: {os.getloadavg()[0]:.2f} "
             "(2 shared cores: compare the rows of one run).", "",
             "| index | articles | sentences | full build s | cold start s (runs) | "
             "ingest 1 article s | writer's next answer s (lexical ms) | reader's next answer s "
             "(of which Store.sync s; lexical ms) | next answers cite it |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['index']} | {r['articles']:,} | {r['sentences']:,} | {r['full_build_s']:.1f} | "
            f"{r['cold_start_s']:.2f} ({', '.join(f'{x:.2f}' for x in r['cold_start_runs_s'])}) | "
            f"{r['ingest_one_s']:.2f} | {r['writer_next_answer_s']:.2f} "
            f"({_ms(r.get('writer_lexical_index_ms'))}) | {r['reader_next_answer_s']:.2f} "
            f"({_s(r.get('reader_sync_s'))}; {_ms(r.get('reader_lexical_index_ms'))}) | "
            f"{r['writer_cites_new']} / {r['reader_cites_new']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="incremental.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="Build a library of --size articles in --home.")
    b.add_argument("--home", type=Path, required=True)
    b.add_argument("--size", type=int, default=10000)
    m = sub.add_parser("measure", help="Time both indexes on the library in --home.")
    m.add_argument("--home", type=Path, required=True)
    m.add_argument("--cold-runs", type=int, default=3)
    m.add_argument("--indexes", default="fts,bm25s", help="Which of fts, bm25s, in order.")
    m.add_argument("--no-build", action="store_true",
                   help="Keep the indexes on disk (the 'full build' column then times opening them).")
    m.add_argument("--out", type=Path, default=HERE / "reports" / date.today().isoformat())
    c = sub.add_parser("_child")
    c.add_argument("--home", type=Path, required=True)
    c.add_argument("--mode", choices=["cold", "reader"], required=True)
    c.add_argument("--t0", type=float, required=True)
    c.add_argument("--legacy", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "build":
        build(args.home, args.size)
    elif args.cmd == "_child":
        return _child_main(args)
    else:
        rows = [measure(args.home, name == "bm25s", args.cold_runs, not args.no_build)
                for name in args.indexes.split(",")]
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "incremental.json").write_text(json.dumps(rows, indent=1))
        report = render(rows, "python bench/incremental.py " + " ".join(argv))
        (args.out / "incremental.md").write_text(report)
        print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
