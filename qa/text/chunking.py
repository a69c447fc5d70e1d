"""Article -> sentences with offsets -> chunks of whole sentences that fit the embedder's window."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qa.text import sentences as segmenter
from qa.types import Article, Chunk, Sentence

TITLE_TOKENS = 32  # the title is prepended to every chunk it embeds; at most this many pieces


def sentences_of(
    article: Article,
    count_tokens: Callable[[str], int],
    token_offsets: Callable[[str], list[tuple[int, int]]] | None,
    max_tokens: int,
) -> tuple[list[Sentence], list[int]]:
    """The article's sentences and their word-piece counts.

    A "sentence" longer than `max_tokens` (a 200k-character line with no punctuation, a table)
    is cut at word-piece boundaries so that every chunk can hold it whole.
    """
    text = article.text
    out: list[Sentence] = []
    counts: list[int] = []
    for start, end in segmenter.split(text):
        piece = text[start:end]
        n = count_tokens(piece)
        spans = [(start, end, n)]
        if n > max_tokens and token_offsets is not None:
            spans = _cut(piece, start, token_offsets(piece), max_tokens)
        for s, e, k in spans:
            out.append(
                Sentence(
                    sentence_id=f"{article.doc_id}#{len(out)}",
                    doc_id=article.doc_id,
                    index=len(out),
                    start=s,
                    end=e,
                    text=text[s:e],
                )
            )
            counts.append(k)
    return out, counts


def _cut(
    piece: str, base: int, offsets: list[tuple[int, int]], max_tokens: int
) -> list[tuple[int, int, int]]:
    spans = []
    for i in range(0, len(offsets), max_tokens):
        group = offsets[i : i + max_tokens]
        s, e = group[0][0], group[-1][1]
        spans.append((base + s, base + e, len(group)))
    return spans


def chunk(
    doc_id: str, text: str, sentences: Sequence[Sentence], counts: Sequence[int], budget: int
) -> tuple[list[Chunk], list[int]]:
    """Greedy packing of consecutive sentences up to `budget` word pieces per chunk.

    Word-piece counts add up across a space, so the sum of sentence counts is the chunk's count.
    Returns the chunks and, for every sentence, the index of its chunk.
    """
    chunks: list[Chunk] = []
    chunk_of: list[int] = []
    first = 0
    total = 0
    for i, n in enumerate(counts):
        if i > first and total + n > budget:
            chunks.append(_make(doc_id, text, sentences, first, i - 1, total, len(chunks)))
            first, total = i, 0
        total += n
        chunk_of.append(len(chunks))
    if sentences:
        chunks.append(_make(doc_id, text, sentences, first, len(sentences) - 1, total, len(chunks)))
    return chunks, chunk_of


def _make(
    doc_id: str, text: str, sentences: Sequence[Sentence], first: int, last: int, n: int, idx: int
) -> Chunk:
    return Chunk(
        chunk_id=f"{doc_id}~{idx}",
        doc_id=doc_id,
        index=idx,
        first_sentence=first,
        last_sentence=last,
        text=text[sentences[first].start : sentences[last].end],
        n_tokens=n,
    )
