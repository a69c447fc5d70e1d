"""`qa eval run`: ingest a docs file into a fresh collection and write one prediction per question."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.settings import Settings


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {lineno}: not valid JSON ({exc.msg})") from exc
    return rows


def run(
    docs: Path,
    questions: Path,
    out: Path,
    settings: Settings,
    *,
    home: Path | None = None,
    k: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """Predictions for every question, written as JSON lines to `out`. Returns a small summary.

    The docs go into a fresh store in a temporary folder (or `home`, reused when it already
    holds them: ingest is idempotent), with their doc_ids kept so that scoring can match them.
    """
    from qa.service import QA

    qs = load_jsonl(questions)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        store_home = home or Path(tmp)
        qa = QA(settings.model_copy(update={"home": store_home, "collection": "eval"}))
        t0 = time.perf_counter()
        results = qa.ingest([docs])
        ingest_s = time.perf_counter() - t0
        failed = [r for r in results if r.status == "failed"]
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for i, q in enumerate(qs, start=1):
                answer = qa.ask(q["question"], k=k, mode=mode)
                row = {"qid": q["qid"], **answer.model_dump(mode="json")}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                if progress:
                    progress(i, len(qs))
    return {
        "questions": len(qs),
        "ingest_seconds": round(ingest_s, 2),
        "ingest_failed": len(failed),
        "out": str(out),
    }
