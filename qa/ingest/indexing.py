"""Indexing: clean articles in, stored versions out. Splits each article into sentences and
chunks, encodes the chunks (in worker processes for a large ingest), and writes each group of
articles to the store in one batched write while the next group is encoded."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from qa.embed.base import Embedder, Encode, Encoded, Span
from qa.errors import InputError, PartialIngest, StoreError
from qa.settings import Settings
from qa.store import ArticleMeta, ArticleWrite, Store
from qa.stories.grouping import StoryIndex
from qa.text.chunking import TITLE_TOKENS, chunk, sentences_of
from qa.types import Article, Chunk, IngestResult, Sentence

Progress = Callable[[int, int, str], None]  # (done, total, current name)
_Split = tuple[str, Article, list[Sentence], list[Chunk], list[int]]  # path, article, its parts
# Text an ingest must hold before the local encoder gets processes of its own (qa.embed.processes):
# about 4 s of encoding, against about a second to start them and load the model.
ENCODER_PROCESS_CHARS = 200_000
ENCODE_AHEAD = 2  # groups handed to the encoder beyond the one being written
logger = logging.getLogger(__name__)


class Indexer:
    """Writes articles into a store: each new or changed article as a new version, unchanged
    ones reported as such.

    >>> Indexer(store, lambda: embedder, settings).run([("a.txt", article)])  # doctest: +SKIP
    [IngestResult(path='a.txt', doc_id='a', status='added', ...)]

    `embedder` is called only when something must be encoded: loading a model costs seconds,
    and re-ingesting unchanged files needs none.
    """

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder],
        settings: Settings,
        stories: StoryIndex | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.settings = settings
        self.stories = stories  # each written article joins or opens a story (qa.stories)

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    def run(
        self, articles: list[tuple[str, Article]], progress: Progress | None = None
    ) -> list[IngestResult]:
        """Ingest (path, article) pairs; one result per article. Later duplicates of a doc_id
        win, as if ingested one after the other.

        A store that fails (its server died, its disk is full) stops the ingest with
        PartialIngest, which carries the results up to the failure: the articles stored before
        it, each whole, are reported; those of the group being written are whole or absent."""
        results: list[IngestResult] = []
        if not articles:
            return results
        try:
            self._run(articles, progress, results)
        except StoreError as exc:
            raise PartialIngest(exc, results) from exc
        return results

    def _run(
        self, articles: list[tuple[str, Article]], progress: Progress | None, results: list[IngestResult]
    ) -> None:
        last: dict[str, int] = {a.doc_id: i for i, (_, a) in enumerate(articles)}
        with self.store.write_lock():
            catalog = self.store.refresh().articles
            self._reconcile_stories(catalog)
            todo: list[tuple[str, Article]] = []
            for i, (path, a) in enumerate(articles):
                if last[a.doc_id] != i:
                    continue
                old = catalog.get(a.doc_id)
                if old is not None and old.content_hash == a.content_hash:
                    results.append(
                        IngestResult(
                            path=path, doc_id=a.doc_id, status="unchanged", n_sentences=old.n_sentences
                        )
                    )
                else:
                    todo.append((path, a))
            total = len(todo)
            done = 0
            # Groups wait at the encoder while the oldest is written, so that the encoder never
            # waits for a write; at most ENCODE_AHEAD + 1 groups of vectors are held.
            queue: deque[tuple[list[_Split], list[IngestResult], Future[Encoded] | None]] = deque()

            def write_oldest() -> None:
                nonlocal done
                group, failed, encoding = queue.popleft()
                results.extend(failed)  # as if reported when met, before their group
                if encoding is None:
                    return
                writes, written = self._writes(group, encoding.result(), catalog)
                # One batched write per group: each Chroma upsert costs a commit besides its
                # records; the article records, the commit points, still go last.
                self.store.write_articles(writes)
                self._group_stories(writes)
                results.extend(written)
                done += len(written)
                if progress:
                    progress(done, total, written[-1].doc_id or "")

            with self._encoder(todo) as encode:
                for group, failed in self._split_groups(todo):
                    queue.append((group, failed, encode(*self._inputs(group)) if group else None))
                    if len(queue) > ENCODE_AHEAD:
                        write_oldest()
                while queue:
                    write_oldest()

    def _reconcile_stories(self, catalog: dict[str, ArticleMeta]) -> None:
        """Bring the story file in line with the library before writing (it may be new, or miss
        what a crash or another QA_HOME left out): it is a rebuildable cache."""
        if self.stories is None:
            return
        try:
            self.stories.reconcile({d: m.content_hash for d, m in catalog.items()},
                                   self.store.get_article)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("could not update the story file %s: %s", self.stories.path, exc)

    def _group_stories(self, writes: list[ArticleWrite]) -> None:
        """Each written article joins the story it copies or opens its own. A failure here
        loses no article: the next ingest's reconcile places what this one could not."""
        if self.stories is None:
            return
        try:
            self.stories.add(w.article for w in writes)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("could not update the story file %s: %s", self.stories.path, exc)

    def _split_groups(
        self, todo: list[tuple[str, Article]]
    ) -> Iterator[tuple[list[_Split], list[IngestResult]]]:
        """The articles split, in groups of about four encoder batches of chunks (so that the
        encoder sees full batches), each with the failures met while it was gathered."""
        group: list[_Split] = []
        failed: list[IngestResult] = []
        n_chunks = 0
        for path, a in todo:
            try:
                sents, chunks, chunk_of = self.split(a)
            except InputError as exc:
                failed.append(IngestResult(path=path, doc_id=a.doc_id, status="failed", reason=str(exc)))
                continue
            group.append((path, a, sents, chunks, chunk_of))
            n_chunks += len(chunks)
            if n_chunks >= 4 * self.settings.embed_batch_size:
                yield group, failed
                group, failed, n_chunks = [], [], 0
        if group or failed:
            yield group, failed

    def split(self, a: Article) -> tuple[list[Sentence], list[Chunk], list[int]]:
        """An article's sentences, its chunks (whole sentences within the model's window, its
        title counted), and the chunk of each sentence."""
        e = self.embedder
        offsets = getattr(e, "token_offsets", None)
        title_tokens = min(TITLE_TOKENS, e.count_tokens(a.title)) + 1 if a.title else 0
        budget = min(self.settings.chunk_max_tokens, e.max_tokens - title_tokens)
        sents, counts = sentences_of(a, e.count_tokens, offsets, budget)
        if not sents:
            raise InputError("no sentences found in the text")
        a.n_sentences = len(sents)
        chunks, chunk_of = chunk(a.doc_id, a.text, sents, counts, budget)
        return sents, chunks, chunk_of

    @contextlib.contextmanager
    def _encoder(self, todo: list[tuple[str, Article]]) -> Iterator[Encode]:
        """Where an ingest's chunks are encoded while it splits and writes: processes of their
        own for the local ONNX model when there is enough text to repay starting them (about a
        second), else a thread (enough for a remote model, which waits on the network)."""
        from qa.embed.local import LocalEmbedder

        size = sum(len(a.text) for _, a in todo)
        e = self.embedder if todo else None
        if isinstance(e, LocalEmbedder) and e.encoder != "torch" and size >= ENCODER_PROCESS_CHARS:
            from qa.embed.processes import encoder_processes

            with encoder_processes(e) as submit:
                yield submit
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-encode") as pool:
            yield lambda chunks, spans: pool.submit(self.embedder.embed_chunks, chunks, spans)

    def _inputs(self, group: list[_Split]) -> tuple[list[str], list[list[Span]]]:
        """What the encoder gets for a group: each chunk with its article's title before it, and
        the spans of the chunk's sentences in that text."""
        inputs: list[str] = []
        spans: list[list[Span]] = []
        for _, a, sents, chunks, _ in group:
            prefix = title_prefix(a.title, self.embedder)
            for c in chunks:
                base = sents[c.first_sentence].start
                inputs.append(prefix + c.text)
                spans.append(
                    [
                        (len(prefix) + s.start - base, len(prefix) + s.end - base)
                        for s in sents[c.first_sentence : c.last_sentence + 1]
                    ]
                )
        return inputs, spans

    def _writes(
        self, group: list[_Split], encoded: Encoded, catalog: dict[str, ArticleMeta]
    ) -> tuple[list[ArticleWrite], list[IngestResult]]:
        """A group's article versions to write, with their vectors, and the result of each."""
        chunk_vecs, sent_vecs = encoded
        writes: list[ArticleWrite] = []
        results: list[IngestResult] = []
        at = 0
        for path, a, sents, chunks, chunk_of in group:
            cv = chunk_vecs[at : at + len(chunks)]
            sv = np.concatenate(sent_vecs[at : at + len(chunks)], axis=0)
            at += len(chunks)
            writes.append(ArticleWrite(a, a.content_hash[:16], sents, sv, chunks, cv, chunk_of))
            results.append(
                IngestResult(
                    path=path,
                    doc_id=a.doc_id,
                    status="replaced" if a.doc_id in catalog else "added",
                    n_sentences=len(sents),
                )
            )
        return writes, results


def title_prefix(title: str, embedder: Embedder) -> str:
    """The title line put before each chunk of an article when it is encoded, cut to
    TITLE_TOKENS word pieces."""
    if not title:
        return ""
    offsets = getattr(embedder, "token_offsets", None)
    if offsets is not None:
        spans = offsets(title)
        if len(spans) > TITLE_TOKENS:
            title = title[: spans[TITLE_TOKENS - 1][1]]
    return title + "\n"
