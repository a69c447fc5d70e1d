"""In-topic unanswerable questions, made from a question set the way issue 14 describes.

Off-topic questions are easy to abstain on; the hard case is a library that holds articles on the
same topic but not the answer. From a set's answerable questions (of one split), half are chosen
by a hash of their qid; their gold and silver documents are removed from the corpus. Each chosen
question whose gold answer no longer appears anywhere in what is left becomes unanswerable
(`doc_ids` empty, `type` "in_topic_null": the right output is an abstention); the other half stay
answerable when none of their own documents was removed. The rest are dropped: a removed
question whose answer still appears somewhere may still be answerable, and an answerable one
whose article went with the other half no longer is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InTopicSet", "in_topic_set"]


@dataclass
class InTopicSet:
    docs: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    removed_docs: int = 0
    dropped: int = 0

    @property
    def unanswerable(self) -> int:
        return sum(1 for q in self.questions if not q.get("doc_ids"))

    @property
    def answerable(self) -> int:
        return len(self.questions) - self.unanswerable


def _chosen(qid: str, salt: str) -> bool:
    return hashlib.sha1(f"{salt}:{qid}".encode()).digest()[0] % 2 == 0


def _answer_pattern(answer: str) -> re.Pattern[str] | None:
    words = answer.strip()
    if not words:
        return None
    return re.compile(r"(?<!\w)" + re.escape(words.lower()) + r"(?!\w)")


def _own_docs(q: Mapping[str, Any]) -> set[str]:
    return {str(d) for d in [*(q.get("doc_ids") or []), *(q.get("silver_doc_ids") or [])]}


def in_topic_set(
    docs: Iterable[Mapping[str, Any]],
    questions: Sequence[Mapping[str, Any]],
    *,
    split: str | None = None,
    salt: str = "in-topic",
) -> InTopicSet:
    """The in-topic set of `questions` (only those of `split`, if given) over `docs`."""
    rows = [q for q in questions if q.get("doc_ids") and (split is None or q.get("split") == split)]
    removed_q = [q for q in rows if _chosen(str(q["qid"]), salt)]
    kept_q = [q for q in rows if not _chosen(str(q["qid"]), salt)]
    removed: set[str] = set().union(*(_own_docs(q) for q in removed_q)) if removed_q else set()
    all_docs = [dict(d) for d in docs]
    left = [d for d in all_docs if str(d["doc_id"]) not in removed]
    corpus = "\n".join(f"{d.get('title', '')}\n{d.get('text', '')}" for d in left).lower()
    out = InTopicSet(docs=left, removed_docs=len(all_docs) - len(left))
    for q in removed_q:
        pattern = _answer_pattern(str(q.get("gold_answer") or ""))
        if pattern is None or pattern.search(corpus):
            out.dropped += 1
            continue
        out.questions.append({**q, "doc_ids": [], "silver_doc_ids": [], "gold_evidence": [],
                              "silver_evidence": [], "type": "in_topic_null"})
    for q in kept_q:
        if _own_docs(q) & removed:
            out.dropped += 1
        else:
            out.questions.append(dict(q))
    return out
