"""Soak test: `qa serve` answers while other processes ingest, replace and delete in a loop.

    python bench/soak.py --seconds 300 --clients 4 --json soak.json
    python bench/soak.py --seconds 300 --chroma-url http://127.0.0.1:8000   # a Chroma server

A library is made in a temporary QA_HOME (the seed article and three stable articles), `qa serve`
starts over it, and for `--seconds`:
- a writer process (this script with `--writer`, holding its own QA) adds, replaces and deletes
  three rotating articles, each version with numbers of its own, and logs every version;
- `--clients` threads ask through the server's `/ask` API, cycling through questions about the
  stable articles and about the rotating ones.

Checked: no request fails; a question about a stable article cites that article (the writer never
touches it); every citation of a rotating article is a sentence of one of the versions the writer
committed (never a half-written or made-up one), at offsets that version's text gives it. Reported:
requests, errors, inconsistencies, writer operations, latency p50/p95, and the server's RSS after
the warm-up, at the peak and at the end (`growth_ratio` = end / after warm-up). Exit 1 when any
request failed or was inconsistent. tests/integration/test_soak.py runs it for a short time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import Sampler, free_port, rss_mb, start_server, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_796d416b0a81cd49.txt"

STABLE = [  # (doc_id, title, text, a question only it answers)
    ("lima-water", "Lima summit on water rights",
     "Leaders from six Andean countries met in Lima on Tuesday to negotiate shared water rights "
     "for the glacier-fed rivers. The draft treaty would cap irrigation withdrawals during droughts.",
     "What would the Andean water treaty cap during droughts?"),
    ("oslo-ferries", "Oslo electrifies its ferries",
     "Oslo's harbour authority replaced the last diesel ferry with a battery-powered vessel this "
     "winter. The electric ferries recharge in seven minutes at each quay.",
     "How long do Oslo's electric ferries take to recharge?"),
    ("kenya-tea", "Kenyan tea harvest hit by hail",
     "A hailstorm destroyed a third of the tea harvest in Kericho county last week. Farmers asked "
     "the government for emergency fertiliser subsidies.",
     "What destroyed the tea harvest in Kericho?"),
]
ROTATING = [  # (doc_id, animal, place): a question "How many {animal}s were tagged in {place}?"
    ("rot-lynx", "lynx", "the Carpathian foothills"),
    ("rot-otter", "otter", "the Danube delta"),
    ("rot-ibex", "ibex", "the Gran Paradiso park"),
]


def rotating_text(animal: str, place: str, version: int) -> str:
    return (f"Rangers in {place} tagged {100 + version} {animal}s this season, field report {version} "
            f"says. The {animal} survey in {place} counted {1000 + 7 * version} animals in all.")


# --- the writer process ----------------------------------------------------------------------------


def writer(home: Path, seconds: float, log: Path, seed: int) -> None:
    """Add, replace and delete the rotating articles until `seconds` have passed, logging each
    committed version (text None: deleted) as a JSON line."""
    from qa.service import QA
    from qa.settings import Settings
    from qa.types import Article

    rng = random.Random(seed)
    qa = QA(Settings())
    present: dict[str, int] = {}
    version = 0
    deadline = time.monotonic() + seconds
    with open(log, "a") as out:
        while time.monotonic() < deadline:
            doc_id, animal, place = rng.choice(ROTATING)
            if doc_id in present and rng.random() < 0.3:
                qa.delete(doc_id)
                present.pop(doc_id)
                entry: dict[str, Any] = {"doc_id": doc_id, "version": None, "text": None}
            else:
                version += 1
                text = rotating_text(animal, place, version)
                article = Article(doc_id=doc_id, title=f"{animal} survey", source="Field", text=text)
                qa.ingest_articles([article])
                present[doc_id] = version
                stored = qa.get(doc_id)
                entry = {"doc_id": doc_id, "version": version, "text": stored.text,
                         "sentences": [[s.start, s.end, s.text] for s in qa.sentences(doc_id)]}
            out.write(json.dumps(entry) + "\n")
            out.flush()
            time.sleep(0.2)
    qa.close()


# --- the clients -----------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.answers: list[tuple[str, dict]] = []  # (expected doc or rotating id, answer)

    def add(self, ms: float, expected: str, answer: dict | None, error: str | None) -> None:
        with self.lock:
            self.latencies.append(ms)
            if error is not None:
                self.errors.append(error)
            elif answer is not None:
                self.answers.append((expected, answer))


def ask_loop(url: str, deadline: float, tally: Tally, seed: int) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    rng = random.Random(seed)
    questions = [(doc_id, q) for doc_id, _, _, q in STABLE]
    questions += [(d, f"How many {animal}s were tagged in {place}?") for d, animal, place in ROTATING]
    while time.monotonic() < deadline:
        expected, question = rng.choice(questions)
        t0 = time.perf_counter()
        try:
            answer = client.predict(question=question, api_name="/ask")
            tally.add((time.perf_counter() - t0) * 1000, expected, answer, None)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            tally.add((time.perf_counter() - t0) * 1000, expected, None, f"{type(exc).__name__}: {exc}"[:300])


def inconsistencies(tally: Tally, versions: list[dict]) -> list[str]:
    """Answers that break the promise: a stable question not answered from its article, or a
    citation of a rotating article that is no sentence of any version the writer committed."""
    stable = {doc_id: text for doc_id, _, text, _ in STABLE}
    committed: dict[str, set[tuple[int, int, str]]] = {}
    for v in versions:
        if v["version"] is not None:
            committed.setdefault(v["doc_id"], set()).update(tuple(s) for s in v["sentences"])
    bad = []
    for expected, answer in tally.answers:
        cites = answer.get("citations") or []
        if expected in stable and (answer.get("abstained") or not cites or cites[0]["doc_id"] != expected):
            bad.append(f"stable {expected}: {answer.get('answer')!r}")
        for c in cites:
            span = (c["start"], c["end"], c["text"])
            if c["doc_id"] in stable and stable[c["doc_id"]][c["start"]:c["end"]] != c["text"]:
                bad.append(f"citation not at its span: {c}")
            elif c["doc_id"].startswith("rot-") and span not in committed.get(c["doc_id"], set()):
                bad.append(f"citation of no committed version: {c}")
    return bad


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else (values or [0.0])[0]


def soak(seconds: float, clients: int, chroma_url: str | None, work: Path) -> dict[str, Any]:
    home = work / "home"
    env_vars = {"QA_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    if chroma_url:
        env_vars["QA_CHROMA_URL"] = chroma_url
    os.environ.update(env_vars)  # the server, the writer and `qa ingest` all read these
    stable = work / "stable.jsonl"
    stable.write_text("".join(json.dumps({"doc_id": d, "title": t, "source": "Wire", "text": x}) + "\n"
                              for d, t, x, _ in STABLE))
    subprocess.run([sys.executable, "-m", "qa.cli", "ingest", "-q", str(SEED), str(stable)], check=True)
    port = free_port()
    proc = start_server(home, port, work / "serve.log", chroma_url)
    url = f"http://127.0.0.1:{port}/"
    try:
        warm = Tally()
        ask_loop(url, time.monotonic() + 3, warm, seed=0)  # model and indexes loaded, not counted
        rss_warm = rss_mb(proc.pid)
        sampler = Sampler(proc.pid)
        sampler.start()
        log = work / "versions.jsonl"
        writer_proc = subprocess.Popen([sys.executable, __file__, "--writer", "--home", str(home),
                                        "--seconds", str(seconds), "--log", str(log)])
        tally = Tally()
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=ask_loop, args=(url, deadline, tally, i + 1))
                   for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer_code = writer_proc.wait(timeout=seconds + 120)
        sampler.stop()
        rss_end = rss_mb(proc.pid)
        versions = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        bad = inconsistencies(tally, versions)
        server_log = (work / "serve.log").read_text(errors="replace")
    finally:
        stop_server(proc)
    return {
        "seconds": seconds,
        "clients": clients,
        "store": "chroma server" if chroma_url else "embedded",
        "requests": len(tally.latencies),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "inconsistent": len(bad),
        "inconsistent_samples": bad[:5],
        "writer_exit": writer_code,
        "writer_operations": len(versions),
        "deletes": sum(v["version"] is None for v in versions),
        "p50_ms": round(pct(tally.latencies, 50), 1),
        "p95_ms": round(pct(tally.latencies, 95), 1),
        "rss_after_warmup_mb": round(rss_warm, 1),
        "rss_peak_mb": round(max(sampler.peak, rss_end), 1),
        "rss_end_mb": round(rss_end, 1),
        "growth_ratio": round(rss_end / rss_warm, 3) if rss_warm else None,
        "tracebacks_in_server_log": server_log.count("Traceback"),
        "server_log_tail": server_log[-3000:] if tally.errors or "Traceback" in server_log else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--chroma-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.writer:
        writer(args.home, args.seconds, args.log, seed=7)
        return 0
    with tempfile.TemporaryDirectory(prefix="qa-soak-") as tmp:
        report = soak(args.seconds, args.clients, args.chroma_url, Path(tmp))
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    ok = report["errors"] == 0 and report["inconsistent"] == 0 and report["writer_exit"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
