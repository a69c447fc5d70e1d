"""Load test: concurrent clients asking questions of a running `qa serve`, through its APIs.

    python bench/load.py --start --home /tmp/qa-load        # start `qa serve` on a free port
    python bench/load.py --url http://127.0.0.1:7860/ --pid 1234   # a server already running
    python bench/load.py --in-process --home ~/.qa          # no web app: QA.ask in threads
    python bench/load.py --start --faces gradio,rest,openai # each face in turn, one table

Faces (`--faces`, default `gradio`): `gradio` is the web app's `/ask` through `gradio_client`;
`rest` is `POST /api/v1/ask` and `openai` is `POST /v1/chat/completions` (model `qa`), both with
one `httpx.Client` per client thread. A 429 from the APIs (their concurrency bound,
QA_API_CONCURRENCY + QA_API_QUEUE) is not an error: the client waits Retry-After seconds and asks
again, and the run reports how many there were; every other failure is an error. `--token`
sends `Authorization: Bearer` (and with `--start`, sets QA_API_TOKEN on the server).

Each of `--clients` threads holds its own `gradio_client.Client` and asks `--questions`
questions one after the other (50 x 20 = 1,000 by default), cycling through questions about the
library and a few it cannot answer. A warm-up round goes first (one question per client) so
that the model load and the first BM25 build are not counted. The run is bounded: it stops
asking at `--deadline` seconds and reports what was left undone.

Reported: errors (must be 0), answers and abstentions, latency p50/p95/max as the client sees
it (queueing included), throughput, and the server's RSS (its whole process tree, from /proc)
before the warm-up, after it, at the peak and at the end: "growth" is end minus after-warm-up,
over all the measured questions. With `--start`, a library is made first if the home is empty
(`qa ingest` of seeds/ plus a few hand-written articles) and the server is stopped at the end.
`--json PATH` writes the numbers too.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QA_BIN = Path(sys.executable).with_name("qa")

QUESTIONS = [
    "Why is Armenia drifting from Moscow?",
    "How many peacekeepers did Russia deploy?",
    "What did the Kremlin say about the joint drills?",
    "Who won the World Cup final?",
    "What would the Andean water treaty cap during droughts?",
    "How long do Oslo's electric ferries take to recharge?",
    "What destroyed the tea harvest in Kericho?",
    "What is the boiling point of mercury in kelvin?",  # abstains
    "When did the drills between Armenia and the United States begin?",
    "Who lifted the trophy in Qatar?",
]

EXTRA_ARTICLES = [
    {"doc_id": "lima-water", "title": "Lima summit on water rights", "source": "Andes Wire",
     "published_at": "2024-03-05",
     "text": "Leaders from six Andean countries met in Lima on Tuesday to negotiate shared water "
             "rights for the glacier-fed rivers. The draft treaty would cap irrigation withdrawals "
             "during droughts."},
    {"doc_id": "oslo-ferries", "title": "Oslo electrifies its ferries", "source": "Nordic Post",
     "published_at": "2024-01-20",
     "text": "Oslo's harbour authority replaced the last diesel ferry with a battery-powered vessel this "
             "winter. The electric ferries recharge in seven minutes at each quay."},
    {"doc_id": "kenya-tea", "title": "Kenyan tea harvest hit by hail", "source": "Nairobi Ledger",
     "published_at": "2023-11-02",
     "text": "A hailstorm destroyed a third of the tea harvest in Kericho county last week. Farmers asked "
             "the government for emergency fertiliser subsidies."},
    {"doc_id": "wc-final", "title": "Argentina win the World Cup", "source": "BBC",
     "published_at": "2022-12-18",
     "text": "Argentina won the World Cup final in Qatar after penalties. Messi lifted the trophy in "
             "Lusail."},
]


# --- process memory ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (Linux /proc)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
        todo += _children(p)
    return total / 1024


class Sampler(threading.Thread):
    """Samples the server's RSS every `every` seconds; `peak` is the largest seen."""

    def __init__(self, pid: int | None, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while self.pid and not self._stop_event.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_library(home: Path) -> None:
    if (home / "chroma").exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    extra = home.parent / f"{home.name}-extra.jsonl"
    extra.write_text("\n".join(json.dumps(a) for a in EXTRA_ARTICLES) + "\n")
    env = {**os.environ, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    subprocess.run([str(QA_BIN), "ingest", "-q", str(ROOT / "seeds"), str(extra)], env=env, check=True)


def start_server(home: Path, port: int, log: Path, chroma_url: str | None = None,
                 token: str | None = None) -> subprocess.Popen[bytes]:
    """`qa serve` over `home` (and the Chroma server at `chroma_url`, if given), once it answers."""
    env = {**os.environ, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL", "QA_AUTH", "QA_API_TOKEN"):
        env.pop(var, None)
    if chroma_url:
        env["QA_CHROMA_URL"] = chroma_url
    if token:
        env["QA_API_TOKEN"] = token
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(QA_BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"qa serve exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"qa serve did not answer within 180 s; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# --- the clients ---------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    abstained: int = 0
    answered: int = 0
    skipped: int = 0
    throttled: int = 0  # 429s from the APIs' concurrency bound, retried after Retry-After
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, answer: dict[str, Any] | None, error: str | None) -> None:
        with self.lock:
            if error is not None:
                self.errors.append(error)
                return
            self.latencies.append(seconds)
            assert answer is not None
            if answer.get("abstained"):
                self.abstained += 1
            else:
                self.answered += 1
                if not answer.get("citations"):
                    self.errors.append(f"answer without citations: {answer.get('question')!r}")


ABSTAIN_PHRASE = "The articles do not answer this."  # qa.types.ABSTAIN_PHRASE
MAX_RETRIES_429 = 20


def _post_retrying(http: Any, path: str, body: dict[str, Any], results: Results) -> dict[str, Any]:
    """POST, waiting Retry-After and asking again on a 429; any other failure raises."""
    for _ in range(MAX_RETRIES_429):
        r = http.post(path, json=body)
        if r.status_code != 429:
            r.raise_for_status()
            data: dict[str, Any] = r.json()
            return data
        with results.lock:
            results.throttled += 1
        time.sleep(float(r.headers.get("retry-after", "1")))
    raise RuntimeError(f"still 429 after {MAX_RETRIES_429} tries")


def _asker(url: str | None, qa: Any, face: str = "gradio", token: str | None = None,
           results: Results | None = None) -> Any:
    if qa is not None:
        return lambda q: qa.ask(q).model_dump(mode="json")
    if face == "gradio":
        from gradio_client import Client

        client = Client(url, verbose=False, download_files=False)
        return lambda q: client.predict(question=q, api_name="/ask")
    import httpx

    assert url is not None and results is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx.Client(base_url=url, headers=headers, timeout=300)
    if face == "rest":
        return lambda q: _post_retrying(http, "api/v1/ask", {"question": q}, results)

    def chat(q: str) -> dict[str, Any]:
        body = {"model": "qa", "messages": [{"role": "user", "content": q}]}
        message = _post_retrying(http, "v1/chat/completions", body, results)["choices"][0]["message"]
        # In the shape Results.add reads: abstention is the fixed phrase, citations the extra field.
        return {"question": q, "abstained": message["content"] == ABSTAIN_PHRASE,
                "citations": message.get("citations", [])}

    return chat


def run_clients(url: str | None, qa: Any, clients: int, questions: int, deadline: float,
                results: Results, offset: int = 0, face: str = "gradio",
                token: str | None = None) -> float:
    """`clients` threads x `questions` questions each; returns the wall time."""
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        try:
            ask = _asker(url, qa, face, token, results)
        except Exception as exc:  # a client that cannot even connect counts its questions as errors
            for _ in range(questions):
                results.add(0.0, None, f"client {i} could not connect: {exc}")
            barrier.wait()
            return
        barrier.wait()
        for j in range(questions):
            if time.monotonic() > deadline:
                with results.lock:
                    results.skipped += questions - j
                return
            q = QUESTIONS[(i + j + offset) % len(QUESTIONS)]
            t0 = time.perf_counter()
            try:
                answer = ask(q)
                results.add(time.perf_counter() - t0, answer, None)
            except Exception as exc:
                results.add(time.perf_counter() - t0, None, f"{type(exc).__name__}: {exc}"[:300])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 120))
    return time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def run_face(url: str | None, qa: Any, pid: int | None, face: str, args: argparse.Namespace,
             mode: str) -> tuple[dict[str, Any], list[str]]:
    """Warm-up, then `clients x questions` through one face; the numbers and the errors."""
    rss_start = rss_mb(pid) if pid else float("nan")
    start = time.monotonic()
    deadline = start + args.deadline
    warm = Results()
    run_clients(url, qa, args.clients, 1, deadline, warm, offset=3, face=face, token=args.token)
    rss_warm = rss_mb(pid) if pid else float("nan")
    sampler = Sampler(pid)
    sampler.start()
    res = Results()
    wall = run_clients(url, qa, args.clients, args.questions, deadline, res, face=face, token=args.token)
    sampler.stop()
    rss_end = rss_mb(pid) if pid else float("nan")
    asked = args.clients * args.questions
    done = len(res.latencies)
    numbers = {
        "face": face, "mode": mode, "clients": args.clients, "questions_per_client": args.questions,
        "asked": asked, "completed": done, "skipped_at_deadline": res.skipped,
        "errors": len(res.errors), "warmup_errors": len(warm.errors),
        "throttled_429": res.throttled, "warmup_throttled_429": warm.throttled,
        "answered": res.answered, "abstained": res.abstained,
        "p50_s": pct(res.latencies, 50), "p95_s": pct(res.latencies, 95),
        "max_s": max(res.latencies, default=float("nan")),
        "mean_s": statistics.fmean(res.latencies) if res.latencies else float("nan"),
        "wall_s": wall, "throughput_qps": done / wall if wall else float("nan"),
        "rss_start_mb": rss_start, "rss_after_warmup_mb": rss_warm,
        "rss_peak_mb": max(sampler.peak, rss_end), "rss_end_mb": rss_end,
        "rss_growth_mb": rss_end - rss_warm,
    }
    rows = [
        ("mode", mode),
        ("clients x questions", f"{args.clients} x {args.questions} = {asked}"),
        ("completed / skipped", f"{done} / {res.skipped}"),
        ("errors (warm-up)", f"{len(res.errors)} ({len(warm.errors)})"),
        ("429s retried (warm-up)", f"{res.throttled} ({warm.throttled})"),
        ("answered / abstained", f"{res.answered} / {res.abstained}"),
        ("latency p50 / p95 / max",
         f"{numbers['p50_s']:.2f} / {numbers['p95_s']:.2f} / {numbers['max_s']:.2f} s"),
        ("throughput", f"{numbers['throughput_qps']:.1f} questions/s over {wall:.0f} s"),
        ("server RSS start", f"{rss_start:.0f} MB"),
        ("server RSS after warm-up", f"{rss_warm:.0f} MB"),
        ("server RSS peak", f"{numbers['rss_peak_mb']:.0f} MB"),
        ("server RSS end", f"{rss_end:.0f} MB"),
        (f"growth over {done} questions", f"{numbers['rss_growth_mb']:+.0f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    print("-" * (width + 40))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("-" * (width + 40))
    errors = warm.errors + res.errors
    for e in errors[:5]:
        print("error:", e)
    if res.skipped:
        errors.append(f"{res.skipped} questions skipped at the deadline")
    return numbers, errors


FACE_PATHS = {"gradio": "gradio_client /ask", "rest": "POST /api/v1/ask",
              "openai": "POST /v1/chat/completions"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="A running `qa serve` (e.g. http://127.0.0.1:7860/).")
    ap.add_argument("--pid", type=int, help="Its process id, for the memory figures.")
    ap.add_argument("--start", action="store_true", help="Start `qa serve` on a free port over --home.")
    ap.add_argument("--in-process", action="store_true", help="Drive QA.ask in threads (no web app).")
    ap.add_argument("--home", type=Path, help="QA_HOME for --start / --in-process (default: a temp dir).")
    ap.add_argument("--faces", default="gradio",
                    help="Comma-separated faces to drive in turn: gradio, rest, openai (default gradio).")
    ap.add_argument("--token", help="API token (sent as Bearer; with --start, set on the server).")
    ap.add_argument("--clients", type=int, default=50, help="Concurrent clients (default 50).")
    ap.add_argument("--questions", type=int, default=20, help="Questions per client (default 20).")
    ap.add_argument("--deadline", type=float, default=900,
                    help="Stop asking after this many seconds (per face).")
    ap.add_argument("--json", type=Path, help="Also write the numbers to this file.")
    args = ap.parse_args(argv)
    if sum([bool(args.url), args.start, args.in_process]) != 1:
        ap.error("give exactly one of --url, --start, --in-process")
    faces = [f.strip() for f in args.faces.split(",") if f.strip()]
    if not faces or any(f not in FACE_PATHS for f in faces):
        ap.error(f"--faces: choose from {', '.join(FACE_PATHS)}")
    if args.in_process:
        faces = ["in-process"]

    home = args.home or Path(tempfile.mkdtemp(prefix="qa-load-")) / "home"
    proc = None
    qa = None
    url = args.url
    pid = args.pid
    if args.start or args.in_process:
        make_library(home)
    if args.start:
        port = free_port()
        proc = start_server(home, port, home.parent / f"{home.name}-serve.log", token=args.token)
        url, pid = f"http://127.0.0.1:{port}/", proc.pid
    if args.in_process:
        from qa.service import QA
        from qa.settings import Settings

        qa = QA(Settings(home=home))
        pid = os.getpid()
    if url and not url.endswith("/"):
        url += "/"
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        for face in faces:
            mode = "in-process QA.ask" if qa is not None else f"{FACE_PATHS[face]} -> {url}"
            numbers, face_errors = run_face(url, qa, pid, face, args, mode)
            results.append(numbers)
            errors += face_errors
    finally:
        if proc is not None:
            stop_server(proc)
    if len(results) > 1:
        print(f"\n{'face':<8} {'completed':>9} {'errors':>6} {'429s':>5} {'p50 s':>7} {'p95 s':>7} "
              f"{'max s':>7} {'q/s':>6} {'RSS growth':>10}")
        for n in results:
            print(f"{n['face']:<8} {n['completed']:>9} {n['errors'] + n['warmup_errors']:>6} "
                  f"{n['throttled_429'] + n['warmup_throttled_429']:>5} {n['p50_s']:>7.2f} "
                  f"{n['p95_s']:>7.2f} {n['max_s']:>7.2f} {n['throughput_qps']:>6.1f} "
                  f"{n['rss_growth_mb']:>+9.0f}M")
    if args.json:
        args.json.write_text(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
