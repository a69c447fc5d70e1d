"""The consistency check: does every committed article have exactly its records, and true spans?

Writes are versioned so that a crash never shows half an article; this check is how that promise
is verified (`qa check`, the crash tests) rather than assumed. It reads every record and changes
nothing; what it counts as orphans, `Store.repair` removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Page = dict[str, Any]  # a Chroma get() result: ids, metadatas, documents
Committed = dict[str, tuple[dict[str, Any], str]]  # doc_id -> (article metadata, article text)


@dataclass
class Health:
    """What `Store.check` found: record counts, leftovers of interrupted writes, and problems.

    `problems` names committed articles whose records are incomplete or inconsistent; it must be
    empty. `orphans` are records of no committed version: invisible to readers, removed by `repair`.
    """

    articles: int = 0
    sentences: int = 0
    chunks: int = 0
    orphans: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.orphans


def check(articles: Iterable[Page], sentences: Iterable[Page], chunks: Iterable[Page]) -> Health:
    """Check pages of the three collections, read in this order (see `Health`).

    A committed article must have exactly its `n_sentences` sentence records and `n_chunks`
    chunk records, numbered from 0, each sentence's text equal to its span of the article text
    and each chunk's text to the span from its first to its last sentence.
    """
    committed: Committed = {}
    for got in articles:
        for doc_id, m, text in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
            committed[doc_id] = (m, text)
    health = Health(articles=len(committed))
    spans: dict[str, dict[int, tuple[int, int]]] = {d: {} for d in committed}
    for doc_id, m, text in _records(sentences):
        health.sentences += 1
        if _orphan(doc_id, m, committed, health):
            continue
        start, end = int(m["start"]), int(m["end"])
        spans[doc_id][int(m["index"])] = (start, end)
        if committed[doc_id][1][start:end] != text:
            health.problems.append(f"{doc_id}: sentence {m['index']} is not its span of the text")
    parts: dict[str, dict[int, tuple[int, int, str]]] = {d: {} for d in committed}
    for doc_id, m, text in _records(chunks):
        health.chunks += 1
        if _orphan(doc_id, m, committed, health):
            continue
        parts[doc_id][int(m["index"])] = (int(m["first"]), int(m["last"]), text)
    for doc_id, (m, text) in sorted(committed.items()):
        health.problems.extend(_article_problems(doc_id, m, text, spans[doc_id], parts[doc_id]))
    return health


def _records(pages: Iterable[Page]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(doc_id, metadata, text) of each sentence or chunk record."""
    for got in pages:
        for text, m in zip(got["documents"], got["metadatas"], strict=True):
            yield str(m.get("doc_id")), m, text


def _orphan(doc_id: str, m: dict[str, Any], committed: Committed, health: Health) -> bool:
    """Whether a record is of no committed version; counted in `health` if so."""
    if doc_id in committed and committed[doc_id][0].get("version") == m.get("version"):
        return False
    health.orphans += 1
    return True


def _article_problems(
    doc_id: str,
    m: dict[str, Any],
    text: str,
    spans: dict[int, tuple[int, int]],
    chunks: dict[int, tuple[int, int, str]],
) -> list[str]:
    """What is wrong with the records of one committed article: the first that applies of a
    wrong number of sentences, a wrong number of chunks, or chunks that are not their spans."""
    n_sent, n_chunks = int(m.get("n_sentences", -1)), int(m.get("n_chunks", -1))
    if sorted(spans) != list(range(n_sent)):
        return [f"{doc_id}: {len(spans)} sentence records, metadata says {n_sent}"]
    if sorted(chunks) != list(range(n_chunks)):
        return [f"{doc_id}: {len(chunks)} chunk records, metadata says {n_chunks}"]
    problems = []
    for index, (first, last, chunk_text) in chunks.items():
        ok = 0 <= first <= last < n_sent
        if not ok or text[spans[first][0] : spans[last][1]] != chunk_text:
            problems.append(f"{doc_id}: chunk {index} is not its span of the text")
    return problems
