"""`qa eval run` and the project's side of `qa eval compare`: ingest a docs file into a fresh
store and answer every question, one prediction row per question."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.evaluation.io import load_jsonl
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.embed.base import Embedder
    from qa.service import QA

logger = logging.getLogger(__name__)

IngestProgress = Callable[[int, int, str], None]


def eval_settings(settings: Settings | None, home: Path) -> Settings:
    """`settings` (default: from the environment) pointed at a fresh store in `home`; the local
    model's exports stay where they were (they take seconds to make)."""
    base = settings or Settings()
    return base.model_copy(update={"home": home, "collection": "eval", "model_cache": base.model_cache_dir})


def predictions(
    qa: QA,
    docs: Path,
    questions: Sequence[Mapping[str, Any]],
    *,
    k: int | None = None,
    mode: str | None = None,
    on_ingest: IngestProgress | None = None,
) -> Iterator[dict[str, Any]]:
    """Ingest `docs` into `qa` (doc ids kept, so that scoring can match them), then yield one
    row per question: the Answer as JSON plus the question's qid. The first item yielded, before
    any row, is the ingest's summary: {"ingest_seconds", "ingest_failed"}."""
    t0 = time.perf_counter()
    results = qa.ingest([docs], progress=on_ingest)
    failed = [r for r in results if r.status == "failed"]
    for r in failed[:5]:
        logger.warning("not ingested: %s: %s", r.path, r.reason)
    if failed:
        logger.warning("%d of %d documents were not ingested", len(failed), len(results))
    yield {"ingest_seconds": round(time.perf_counter() - t0, 2), "ingest_failed": len(failed)}
    for q in questions:
        # A question was asked on its `question_date` (RealTimeQA): "this week" means that week,
        # not the week the evaluation runs.
        as_of = question_date(q)
        answer = qa.ask(str(q["question"]), k=k, mode=mode, as_of=as_of)
        # What a chat model would be shown: scored as "context recall" (it can cite only that).
        context = [e.sentence.text for e in qa.context(str(q["question"]), k=k, as_of=as_of)]
        yield {"qid": q["qid"], **answer.model_dump(mode="json"), "llm_context": context}


def question_date(q: Mapping[str, Any]) -> date | None:
    """The day a question was asked, from its `question_date` field (ISO), if it has one."""
    raw = q.get("question_date")
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        logger.warning("question %s: question_date %r is not an ISO date; read as of today",
                       q.get("qid"), raw)
        return None


def fresh_qa(settings: Settings | None, home: Path, embedder: Embedder | None = None) -> QA:
    """A QA over a fresh store in `home` (collection "eval")."""
    from qa.service import QA

    return QA(eval_settings(settings, home), embedder=embedder)


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
    holds them: ingest is idempotent).
    """
    qs = load_jsonl(questions)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        with fresh_qa(settings, home or Path(tmp)) as qa:
            rows = predictions(qa, docs, qs, k=k, mode=mode)
            summary = next(rows)
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", encoding="utf-8") as fh:
                for i, row in enumerate(rows, start=1):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    if progress:
                        progress(i, len(qs))
    return {"questions": len(qs), **summary, "out": str(out)}
