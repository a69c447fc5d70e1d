"""Crash safety of the embedded store: writers killed with SIGKILL at random points.

Every trial forks a writer that ingests a generation of 30 articles into one QA_HOME and kills
it (SIGKILL) at a point chosen by a seeded RNG: after a random delay, or just before its N-th
Chroma call (QA_CRASH_SEED picks other points). A fresh process opens the store as a user's next
command would (which, since the killed writer left its pid in write.lock, has Chroma rebuild its
vector indexes from its log: a kill inside Chroma's own index write leaves one it cannot load,
chroma-core/chroma#7678, tests/integration/test_rebuild_index.py), and checks that every article is
whole (all the
records of its committed version, as many sentences as its metadata says) or absent, that a
replacement never lost the old version, and that answers cite only committed text; then it takes
the write lock (which cleans up what the killed writer left) and checks that no orphan is left.
The next trial resumes the generation; once a generation is complete the next one replaces every
article, so kills land in first ingests and in replacements alike.

Processes come from a forkserver that has imported qa and chromadb once, so a trial costs the
ingest, not the imports. The fake embedder stands in for the model: the store is the point.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

N_ARTICLES = 30
TRIALS = 20
KILL_WINDOW = 0.6  # kills land in the first 60% of a full generation's writes
SEED = int(os.environ.get("QA_CRASH_SEED", "20240611"))  # set it to explore other kill points
_GEN = re.compile(r"\bgeneration (\d+)\b")


def _ctx() -> Any:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["qa.service", "qa.store", "tests.support.fakes", "chromadb", "numpy"])
    return ctx


def _articles(gen: int, ids: range = range(N_ARTICLES), prefix: str = "art") -> list[Any]:
    from qa.types import Article

    out = []
    for i in ids:
        n = 6 + (i * 7 + gen) % 9  # 6..14 sentences: versions differ in length too
        text = " ".join(
            f"In generation {gen} reporter {prefix}{i} filed note {j} about harbour{i}x{j} "
            f"and market{(i + j + gen) % 13}." for j in range(n)
        )
        out.append(
            Article(doc_id=f"{prefix}{i:02d}", title=f"Report {prefix}{i} generation {gen}", text=text)
        )
    return out


def _qa(home: str) -> Any:
    from qa.service import QA
    from qa.settings import Settings
    from tests.support.fakes import HashEmbedder

    # Ingest writes a group of articles (about 4 x embed_batch_size chunks) per Chroma batch and
    # commits the group's article records in one call. At the default size a generation is one
    # group, so a kill before its commit would leave nothing and a generation would never complete;
    # groups of 4 chunks (2-4 articles) make a generation about ten group writes, with kills landing
    # between and inside them, in first ingests and replacements alike.
    return QA(Settings(home=Path(home), embed_batch_size=1), embedder=HashEmbedder())


# --- child processes ---------------------------------------------------------------------------


def _writer(home: str, gen: int, kill_at_call: int | None, ready: Any, out: Any) -> None:
    """Ingest generation `gen`; with `kill_at_call`, SIGKILL itself just before that Chroma call."""
    from qa.store import Store

    qa = _qa(home)
    calls = 0
    if kill_at_call is not None:
        real = Store._call

        def _call(self: Store, fn: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == kill_at_call:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, fn, *args, **kwargs)

        Store._call = _call  # type: ignore[method-assign]
    else:
        real = Store._call

        def _count(self: Store, fn: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return real(self, fn, *args, **kwargs)

        Store._call = _count  # type: ignore[method-assign]
    ready.set()
    t0 = time.perf_counter()
    results = qa.ingest_articles(_articles(gen))
    out.put({"seconds": time.perf_counter() - t0, "calls": calls,
             "statuses": sorted({r.status for r in results})})


def _checker(home: str, out: Any) -> None:
    """A fresh process: what a reader sees right after the crash, then recovery and repair."""
    qa = _qa(home)
    store = qa.store
    report: dict[str, Any] = {"violations": []}
    bad = report["violations"]
    before = store.check()
    report["problems_before"] = before.problems
    report["orphans_before"] = before.orphans
    report["journal"] = store._journal.path.exists()
    gens: dict[str, int] = {}
    for info in qa.list():
        text = qa.get(info.doc_id).text
        found = {int(g) for g in _GEN.findall(text)}
        if len(found) != 1:
            bad.append(f"{info.doc_id}: text mixes generations {sorted(found)}")
            continue
        gens[info.doc_id] = found.pop()
        sents = qa.sentences(info.doc_id)
        if len(sents) != info.n_sentences or [s.index for s in sents] != list(range(len(sents))):
            bad.append(f"{info.doc_id}: {len(sents)} sentences readable, metadata says {info.n_sentences}")
        if any(text[s.start : s.end] != s.text for s in sents):
            bad.append(f"{info.doc_id}: a sentence is not its span of the stored text")
    report["gens"] = gens
    # Queries aimed at the newest text (possibly half written): answers cite committed text only.
    newest = max(gens.values(), default=0) + 1
    rng = random.Random(len(gens))
    for i in rng.sample(range(N_ARTICLES), 3):
        for gen in (newest, newest - 1):
            question = f"What did reporter art{i} file in generation {gen} about harbour{i}x2?"
            answer = qa.ask(question, k=5)
            for c in answer.citations + answer.related:
                if c.doc_id not in gens:
                    bad.append(f"cited {c.sentence_id} of an uncommitted article")
                    continue
                if qa.get(c.doc_id).text[c.start : c.end] != c.text:
                    bad.append(f"cited {c.sentence_id} whose text is not in the stored article")
                cited = {int(g) for g in _GEN.findall(c.text)}
                if cited and cited != {gens[c.doc_id]}:
                    bad.append(f"cited {c.sentence_id} of generation {cited}, committed {gens[c.doc_id]}")
    # Recovery: taking the write lock cleans exactly what the journal names; repair finds nothing.
    with store.write_lock():
        after_recovery = store.check()
        report["repaired"] = store.repair()
    report["problems_after"] = after_recovery.problems
    report["orphans_after"] = after_recovery.orphans
    report["journal_after"] = store._journal.path.exists()
    report["counts"] = store.count()
    report["n_sentences"] = sum(i.n_sentences for i in qa.list())
    out.put(report)


def _hold_lock(home: str, seconds: float, ready: Any) -> None:
    qa = _qa(home)
    with qa.store.write_lock():
        ready.set()
        time.sleep(seconds)


def _ingest(home: str, gen: int, prefix: str, start: Any, out: Any) -> None:
    from qa.errors import StoreError

    start.wait(10)
    try:
        qa = _qa(home)  # both open a new store at once, then ingest at once
        results = qa.ingest_articles(_articles(gen, range(12), prefix))
        out.put((prefix, sorted({r.status for r in results})))
    except StoreError as exc:
        out.put((prefix, f"StoreError: {exc}"))


# --- helpers -----------------------------------------------------------------------------------


def _run(ctx: Any, target: Any, *args: Any, timeout: float = 60) -> Any:
    out = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, out))
    p.start()
    got = out.get(timeout=timeout)
    p.join(timeout)
    assert p.exitcode == 0, f"{target.__name__} exited with {p.exitcode}"
    return got


def _killed_writer(ctx: Any, home: str, gen: int, rng: random.Random, cal: dict[str, float]) -> str:
    ready, out = ctx.Event(), ctx.Queue()
    by_call = rng.random() < 0.5
    kill_at = rng.randint(1, int(cal["calls"] * KILL_WINDOW)) if by_call else None
    delay = rng.uniform(0.0, cal["seconds"] * KILL_WINDOW)
    p = ctx.Process(target=_writer, args=(home, gen, kill_at, ready, out))
    p.start()
    assert ready.wait(60), "writer did not start"
    if by_call:
        p.join(60)
    else:
        p.join(delay)
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
        p.join(10)
    if p.exitcode == 0:
        out.get(timeout=5)
        return "finished"
    assert p.exitcode == -signal.SIGKILL, p.exitcode
    return f"killed at call {kill_at}" if by_call else f"killed after {delay:.2f}s"


# --- tests -------------------------------------------------------------------------------------


def test_sigkill_at_random_points_never_leaves_half_an_article(tmp_path: Path) -> None:
    ctx = _ctx()
    home = str(tmp_path / "home")
    rng = random.Random(SEED)
    t0 = time.monotonic()
    # Calibrate on this machine: one generation from scratch, timed, Chroma calls counted.
    cal = _run(ctx, _writer, str(tmp_path / "calibration"), 0, None, ctx.Event())
    gen = 0
    log: list[str] = []
    mid_write = 0
    replaced_mid_write = 0
    for trial in range(TRIALS):
        how = _killed_writer(ctx, home, gen, rng, cal)
        report = _run(ctx, _checker, home)
        where = f"trial {trial} (generation {gen}, {how})"
        assert report["problems_before"] == [], where
        assert report["violations"] == [], where
        gens = report["gens"]
        assert set(gens.values()) <= {gen, gen - 1}, where
        if gen > 0:
            # A replacement killed at any point leaves the old version whole and visible.
            assert len(gens) == N_ARTICLES, where
        assert report["problems_after"] == [] and report["orphans_after"] == 0, where
        assert report["repaired"] == 0 and not report["journal_after"], where
        counts = report["counts"]
        assert counts["articles"] == len(gens), where
        assert counts["sentences"] == report["n_sentences"], where
        if report["orphans_before"]:
            mid_write += 1
            replaced_mid_write += gen > 0
        log.append(f"{where}: {len(gens)} articles, {report['orphans_before']} orphans before recovery")
        if len(gens) == N_ARTICLES and set(gens.values()) == {gen}:
            gen += 1
    print("\n".join(log))
    # The kills did land inside writes, including replacements (deterministic for the seed).
    assert mid_write >= 3 and replaced_mid_write >= 1, log
    assert gen >= 1, "no generation completed: the kills never let a replacement start"
    # A last writer, not killed, completes the generation; then everything is whole.
    done = _run(ctx, _writer, home, gen, None, ctx.Event())
    assert "failed" not in done["statuses"]
    final = _run(ctx, _checker, home)
    assert final["gens"] == {f"art{i:02d}": gen for i in range(N_ARTICLES)}
    assert final["problems_before"] == [] and final["orphans_before"] == 0
    assert final["counts"]["sentences"] == final["n_sentences"]
    print(f"{TRIALS} trials in {time.monotonic() - t0:.0f}s")


def test_two_writers_take_turns_on_the_lock(tmp_path: Path) -> None:
    ctx = _ctx()
    home = str(tmp_path / "home")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_ingest, args=(home, 0, p, start, out)) for p in ("left", "right")]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    got = dict(out.get(timeout=90) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    # Both waited their turn (the lock waits 30 s), or one was told clearly that it must wait.
    for prefix, status in got.items():
        assert status == ["added"] or "Another qa process is writing" in status, (prefix, status)
    assert any(status == ["added"] for status in got.values())
    qa = _qa(home)
    health = qa.store.check()
    assert health.ok, health
    ids = {a.doc_id for a in qa.list()}
    for prefix, status in got.items():
        mine = {f"{prefix}{i:02d}" for i in range(12)}
        assert mine <= ids if status == ["added"] else not (mine & ids)


def test_a_writer_that_cannot_get_the_lock_gets_a_clear_error(tmp_path: Path) -> None:
    from qa.errors import StoreError

    ctx = _ctx()
    home = str(tmp_path / "home")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(home, 4.0, ready))
    holder.start()
    assert ready.wait(60)
    qa = _qa(home)
    qa.store.lock_timeout = 0.5
    t0 = time.monotonic()
    with pytest.raises(StoreError, match="Another qa process is writing to") as err:
        qa.ingest_articles(_articles(0, range(2)))
    assert time.monotonic() - t0 < 3
    assert "QA_CHROMA_URL" in err.value.help
    holder.join(30)
    qa.store.lock_timeout = 30
    assert [r.status for r in qa.ingest_articles(_articles(0, range(2)))] == ["added", "added"]
    assert qa.store.check().ok
