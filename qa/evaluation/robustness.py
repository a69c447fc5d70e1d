"""Does an answer hold when the question is typed carelessly, or when the library grows by one
unrelated article? Each question of a set is asked twice more, and its answer compared with the
one it got as written.

- Typed casually: in lower case, without the question mark ("why is armenia drifting from
  moscow"), as people type into a search box.
- Beside an unrelated article: after every question has been answered, one short undated
  article about something else is added to the library and the question asked again. Undated,
  it passes every date window; short, it shifts BM25's length normalisation and document counts.

An answer is the same when the same decision is taken (answer or abstain) and the same sentences
are cited, in any order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qa.types import Article

if TYPE_CHECKING:
    from datetime import date

    from qa.service import QA
    from qa.types import Answer

UNRELATED = Article(
    doc_id="qa-eval-unrelated-bakery",
    title="Bakery opens on Main Street",
    text="A new bakery opened on Main Street on Saturday. It sells rye bread and pastries.",
)


def typed_casually(question: str) -> str:
    """The question as typed into a search box: lower case, no closing question mark."""
    return " ".join(question.split()).rstrip("?!. ").lower()


def decision(answer: Answer | Mapping[str, Any]) -> tuple[bool, frozenset[str]]:
    """What an answer decided: abstained or not, and which sentences it cites."""
    data = answer if isinstance(answer, Mapping) else answer.model_dump(mode="json")
    return bool(data.get("abstained")), frozenset(
        str(c["sentence_id"]) for c in data.get("citations") or []
    )


def check(
    qa: QA,
    questions: Sequence[Mapping[str, Any]],
    rows: list[dict[str, Any]],
    as_of: Sequence[date | None],
) -> None:
    """Ask every question typed casually, then beside UNRELATED, and mark each prediction row
    (the answer to the question as written, in the order of `questions`) with
    `same_typed_casually` and `same_beside_unrelated`. Leaves UNRELATED out of the library
    again."""
    for q, row, day in zip(questions, rows, as_of, strict=True):
        casual = qa.ask(typed_casually(str(q["question"])), as_of=day)
        row["same_typed_casually"] = decision(casual) == decision(row)
    added = qa.ingest_articles([UNRELATED])
    if any(r.status == "failed" for r in added):
        raise RuntimeError(f"the unrelated article was not ingested: {added[0].reason}")
    try:
        for q, row, day in zip(questions, rows, as_of, strict=True):
            again = qa.ask(str(q["question"]), as_of=day)
            row["same_beside_unrelated"] = decision(again) == decision(row)
    finally:
        qa.delete(UNRELATED.doc_id)
