"""Export a whole library to one JSONL file and import it into another store, embedded or server.

    export_library(qa, "library.jsonl.gz")          # texts, metadata, ids, and the vectors
    import_library(other_qa, "library.jsonl.gz")    # no model needed when vectors are included

The file is JSON Lines (gzip-compressed when the name ends in `.gz`):

- line 1, the header: `{"format": "qa-library", "format_version": 1, "vectors": true, "dim": 384,
  "embedder": "...", "collection": "qa", "exported_at": "...", "articles": N}`;
- one line per article: `doc_id`, `title`, `source`, `published_at`, `url`, `byline`,
  `canonical_url` (a web page's; absent or null otherwise), `text` (the
  cleaned text every offset points into), `content_hash`, `version`, `sentences` as
  `[start, end, chunk]` triples, `chunks` as `[first_sentence, last_sentence, n_tokens]`, and, with
  vectors, `sentence_vectors` and `chunk_vectors`: little-endian float32 rows, base64-encoded;
- last line, the footer `{"end": true, "articles": N}`, so that a truncated file is refused.

Sentence and chunk texts are not stored: they are spans of the article text. An import writes
every article under its exported version, through the same versioned writes as an ingest (the
article record last), so an interrupted import leaves whole articles or none; importing the same
file twice changes nothing (`unchanged`). Vectors are only meaningful with the embedder that made
them: an export whose header names another embedder than the target's is refused, naming both;
`reembed=True` (`qa import --re-embed`, and any export without vectors) embeds the texts again
with the target's embedder instead, through the indexer like an ingest, doc ids kept.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from qa.errors import InputError, PartialIngest, StoreError
from qa.ingest.readers import check_doc_id, check_unicode, content_hash
from qa.store import ArticleWrite, Store
from qa.types import Article, Chunk, IngestResult, IngestStatus, Sentence

if TYPE_CHECKING:
    from qa.service import QA

__all__ = ["FORMAT", "FORMAT_VERSION", "export_library", "import_library"]

logger = logging.getLogger(__name__)

FORMAT = "qa-library"
FORMAT_VERSION = 1
IMPORT_BATCH = 64  # articles written per group of Chroma calls
Progress = Callable[[int, int, str], None]  # (done, total, current doc id)


def _open(path: Path, mode: str, compressed: bool | None = None) -> IO[str]:
    """Text handle on `path`; gzip when writing a `.gz` name, or when reading gzip's magic bytes."""
    if compressed is None:
        with open(path, "rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def _store_of(target: QA | Store) -> Store:
    return target if isinstance(target, Store) else target.store


def _encode(vectors: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode("ascii")


def _decode(data: Any, rows: int, dim: int, what: str) -> np.ndarray:
    if not isinstance(data, str):
        raise InputError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as exc:
        raise InputError(f"{what} is not valid base64") from exc
    if len(raw) != rows * dim * 4:
        raise InputError(f"{what} holds {len(raw) // 4} numbers, expected {rows} x {dim}")
    vectors = np.frombuffer(raw, dtype="<f4").reshape(rows, dim).astype(np.float32)
    if not np.isfinite(vectors).all():
        raise InputError(f"{what} holds NaN or infinite numbers")
    return vectors


def export_library(
    source: QA | Store, path: str | Path, *, vectors: bool = True, progress: Progress | None = None
) -> int:
    """Write every article of the library to `path` (see the module doc); returns how many.

    Holds the store's write lock while reading, so the file is one consistent snapshot, and
    writes a temporary file renamed at the end, so `path` is never half written.
    """
    store = _store_of(source)
    path = Path(path)
    embedder = None if isinstance(source, Store) else _embedder_name(source)
    tmp = path.with_name(path.name + ".part")
    with store.write_lock():
        catalog = store.refresh().articles
        dim = store.dimension() if vectors else None
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "vectors": bool(vectors and dim),
            "dim": dim,
            "embedder": embedder,
            "collection": store.prefix,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "articles": len(catalog),
        }
        try:
            with _open(tmp, "w", compressed=path.suffix == ".gz") as fh:
                fh.write(json.dumps(header) + "\n")
                for n, doc_id in enumerate(sorted(catalog), start=1):
                    record = _export_article(store, doc_id, with_vectors=bool(header["vectors"]))
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    if progress:
                        progress(n, len(catalog), doc_id)
                fh.write(json.dumps({"end": True, "articles": len(catalog)}) + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return len(catalog)


def _embedder_name(qa: QA) -> str:
    s = qa.settings
    loaded = getattr(qa, "_embedder", None)
    if loaded is not None:
        return str(getattr(loaded, "name", type(loaded).__name__))
    return f"{s.openai_embedding_model} (openai)" if s.embedder == "openai" else "all-MiniLM-L6-v2 (local)"


def _export_article(store: Store, doc_id: str, with_vectors: bool) -> dict[str, Any]:
    article = store.get_article(doc_id)
    meta = store.catalog().articles[doc_id]
    sentences, sentence_vectors = store.get_sentences(doc_id, with_vectors=with_vectors)
    chunks, chunk_vectors = store.get_chunks(doc_id, with_vectors=with_vectors)
    chunk_of = [0] * len(sentences)
    for c in chunks:
        for i in range(c.first_sentence, c.last_sentence + 1):
            if i < len(chunk_of):
                chunk_of[i] = c.index
    record: dict[str, Any] = {
        "doc_id": doc_id,
        "title": article.title,
        "source": article.source,
        "published_at": article.published_at,
        "url": article.url,
        "byline": article.byline,
        "canonical_url": article.canonical_url,
        "text": article.text,
        "content_hash": article.content_hash,
        "version": meta.version,
        "sentences": [[s.start, s.end, chunk_of[s.index]] for s in sentences],
        "chunks": [[c.first_sentence, c.last_sentence, c.n_tokens] for c in chunks],
    }
    if with_vectors:
        assert sentence_vectors is not None and chunk_vectors is not None
        record["sentence_vectors"] = _encode(sentence_vectors)
        record["chunk_vectors"] = _encode(chunk_vectors)
    return record


def _read(path: Path) -> tuple[dict[str, Any], Iterator[tuple[int, Any]]]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fh = _open(path, "r")
    try:
        first = fh.readline()
        header = json.loads(first) if first.strip() else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fh.close()
        raise InputError(f"{path}: not a qa library export ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        fh.close()
        raise InputError(f"{path}: not a qa library export (the first line is not its header)")
    if header.get("format_version") != FORMAT_VERSION:
        fh.close()
        raise InputError(
            f"{path}: export format version {header.get('format_version')!r}; "
            f"this qa reads version {FORMAT_VERSION}"
        )

    # A truncated file is refused before anything is written: one quick pass for the end marker.
    last = ""
    try:
        with _open(path, "r") as scan:
            for line in scan:
                if line.strip():
                    last = line
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        fh.close()
        raise InputError(f"{path}: cannot be read to the end ({exc})") from exc
    try:
        end = json.loads(last)
    except ValueError:
        end = None
    if not (isinstance(end, dict) and end.get("end") is True):
        fh.close()
        raise InputError(f"{path}: the file is truncated (no end marker)")

    def lines() -> Iterator[tuple[int, Any]]:
        with fh:
            ended = False
            for lineno, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                if ended:
                    raise InputError(f"{path} line {lineno}: data after the end marker")
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise InputError(f"{path} line {lineno}: not valid JSON ({exc})") from exc
                if isinstance(record, dict) and record.get("end") is True:
                    ended = True
                    continue
                yield lineno, record
            if not ended:
                raise InputError(f"{path}: the file is truncated (no end marker)")

    return header, lines()


def _parse(record: Any, dim: int | None) -> tuple[Article, str, list[Sentence], list[Chunk], list[int],
                                                    np.ndarray | None, np.ndarray | None]:
    if not isinstance(record, dict):
        raise InputError("expected a JSON object")
    doc_id = check_doc_id(record.get("doc_id"))
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError("field 'text' must be a non-empty string")
    fields: dict[str, str | None] = {}
    for key in ("title", "source", "published_at", "url", "byline", "canonical_url", "version",
                "content_hash"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f"field {key!r} must be a string, not {type(value).__name__}")
        fields[key] = value
    article = Article(
        doc_id=doc_id,
        title=fields["title"] or "",
        source=fields["source"] or "",
        published_at=fields["published_at"],
        url=fields["url"],
        byline=fields["byline"],
        canonical_url=fields["canonical_url"],
        text=text,
    )
    check_unicode(article)
    article.content_hash = content_hash(article)
    if fields["content_hash"] not in (None, article.content_hash):
        raise InputError("content_hash does not match the text and metadata (was the file edited?)")
    version = fields["version"] or article.content_hash[:16]
    if not version or any(c in version for c in "@#~"):
        raise InputError(f"field 'version' {version!r} is not usable")
    raw_sents, raw_chunks = record.get("sentences"), record.get("chunks")
    if not isinstance(raw_sents, list) or not raw_sents or not isinstance(raw_chunks, list):
        raise InputError("fields 'sentences' and 'chunks' must be non-empty lists")
    sentences: list[Sentence] = []
    chunk_of: list[int] = []
    last_end = 0
    for i, item in enumerate(raw_sents):
        if not (isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)):
            raise InputError(f"sentence {i} must be [start, end, chunk]")
        start, end, chunk = item
        if not last_end <= start < end <= len(text):
            raise InputError(f"sentence {i} span {start}-{end} is not inside the text, in order")
        last_end = end
        sentences.append(
            Sentence(sentence_id=f"{doc_id}#{i}", doc_id=doc_id, index=i, start=start, end=end,
                     text=text[start:end])
        )
        chunk_of.append(chunk)
    chunks: list[Chunk] = []
    expected_first = 0
    for j, item in enumerate(raw_chunks):
        if not (isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)):
            raise InputError(f"chunk {j} must be [first_sentence, last_sentence, n_tokens]")
        first, last, n_tokens = item
        if first != expected_first or not first <= last < len(sentences):
            raise InputError(f"chunk {j} does not cover the sentences in order")
        if any(chunk_of[i] != j for i in range(first, last + 1)):
            raise InputError(f"chunk {j} disagrees with its sentences' chunk numbers")
        expected_first = last + 1
        chunks.append(
            Chunk(chunk_id=f"{doc_id}~{j}", doc_id=doc_id, index=j, first_sentence=first,
                  last_sentence=last, text=text[sentences[first].start : sentences[last].end],
                  n_tokens=n_tokens)
        )
    if expected_first != len(sentences):
        raise InputError("the chunks do not cover every sentence")
    article.n_sentences = len(sentences)
    sent_vecs = chunk_vecs = None
    if dim:
        sent_vecs = _decode(record.get("sentence_vectors"), len(sentences), dim, "sentence_vectors")
        chunk_vecs = _decode(record.get("chunk_vectors"), len(chunks), dim, "chunk_vectors")
    return article, version, sentences, chunks, chunk_of, sent_vecs, chunk_vecs


def import_library(
    target: QA | Store,
    path: str | Path,
    *,
    reembed: bool = False,
    progress: Progress | None = None,
) -> list[IngestResult]:
    """Re-create the exported library in `target` (a QA service or a bare Store).

    Returns one IngestResult per article: `added`, `replaced` (the target held another version),
    `unchanged` (the same content is already there), or `failed` with the reason (a damaged
    record; the others are still imported). Raises InputError when the file is not an export,
    is truncated, or its vectors do not fit the target store.
    """
    path = Path(path)
    header, records = _read(path)
    store = _store_of(target)
    use_vectors = bool(header.get("vectors")) and not reembed
    dim = header.get("dim") if use_vectors else None
    if use_vectors and (type(dim) is not int or dim <= 0):
        raise InputError(f"{path}: the header says vectors but gives no usable 'dim'")
    if not use_vectors and isinstance(target, Store):
        raise InputError(
            f"{path}: {'re-embedding was asked for' if reembed else 'the export holds no vectors'}; "
            "import into a QA service so that its embedder can embed the texts."
        )
    if use_vectors:
        _check_vectors(target, store, int(dim), header.get("embedder"), path)  # type: ignore[arg-type]
    total = int(header.get("articles") or 0)
    results: list[IngestResult] = []
    where = str(path)
    if not use_vectors:
        assert not isinstance(target, Store)
        articles: list[Article] = []
        for lineno, record in records:
            try:
                articles.append(_parse(record, None)[0])
            except InputError as exc:
                results.append(_failed(f"{where} line {lineno}", record, exc))
        try:
            return results + target.ingest_articles(articles, progress)
        except PartialIngest as exc:
            exc.results = results + exc.results
            raise
    in_batch: list[IngestResult] = []  # the results of the articles not yet written
    with _written_only(results, in_batch), store.write_lock():
        store.refresh()
        batch: list[ArticleWrite] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if batch:
                store.write_articles(batch)  # few Chroma calls for many articles
                done += len(batch)
                if progress:
                    progress(done, total, batch[-1].article.doc_id)
                batch.clear()
                in_batch.clear()

        for lineno, record in records:
            try:
                article, version, sents, chunks, chunk_of, sv, cv = _parse(record, dim)
            except InputError as exc:
                results.append(_failed(f"{where} line {lineno}", record, exc))
                continue
            if any(w.article.doc_id == article.doc_id for w in batch):
                flush()  # a repeated doc id: the later record wins, as in an ingest
            old = store.catalog().articles.get(article.doc_id)  # with the batches written so far
            status: IngestStatus
            if old is not None and old.content_hash == article.content_hash:
                status = "unchanged"
            else:
                assert sv is not None and cv is not None
                batch.append(ArticleWrite(article, version, sents, sv, chunks, cv, chunk_of))
                status = "replaced" if old is not None else "added"
            results.append(
                IngestResult(path=where, doc_id=article.doc_id, status=status, n_sentences=len(sents))
            )
            if status != "unchanged":
                in_batch.append(results[-1])
            if len(batch) >= IMPORT_BATCH:
                flush()
        flush()
    return results


@contextlib.contextmanager
def _written_only(results: list[IngestResult], in_batch: list[IngestResult]) -> Iterator[None]:
    """A store that fails mid-import (server gone, disk full) stops it with PartialIngest
    carrying the results so far, less those of the batch that was not written."""
    try:
        yield
    except StoreError as exc:
        unwritten = {id(r) for r in in_batch}
        raise PartialIngest(exc, [r for r in results if id(r) not in unwritten]) from exc


def _failed(where: str, record: Any, exc: InputError) -> IngestResult:
    doc_id = record.get("doc_id") if isinstance(record, dict) else None
    return IngestResult(path=where, doc_id=doc_id if isinstance(doc_id, str) else None,
                        status="failed", reason=str(exc))


def _check_vectors(target: QA | Store, store: Store, dim: int, embedder: Any, path: Path) -> None:
    """InputError unless the exported vectors fit the target: the same length as its stored ones
    and its embedder's, and made by the embedder it embeds questions with (by name: the loaded
    one, else the one its settings name, so no model is loaded; every backend of the local model,
    onnx-int8, onnx or torch, makes the same all-MiniLM-L6-v2 vectors under one name)."""
    have = store.dimension()
    if have is not None and have != dim:
        raise InputError(
            f"{path}: its vectors have {dim} dimensions but the target store's have {have}.",
            help="Import into an empty library, or pass reembed=True (qa import --re-embed).",
        )
    ours = None if isinstance(target, Store) else _embedder_name(target)
    if isinstance(embedder, str) and embedder and ours and embedder != ours:
        raise InputError(
            f"{path}: its vectors were made by the embedder {embedder}, but this library embeds "
            f"with {ours}: questions would be compared with another model's vectors.",
            help=f"Pass --re-embed (reembed=True) to embed the texts again with {ours}.",
        )
    loaded = None if isinstance(target, Store) else getattr(target, "_embedder", None)
    loaded_dim = getattr(loaded, "dim", None)
    if isinstance(loaded_dim, int) and loaded_dim != dim:
        raise InputError(
            f"{path}: its vectors have {dim} dimensions but this service's embedder "
            f"({getattr(loaded, 'name', '?')}) makes {loaded_dim}.",
            help="Pass reembed=True (qa import --re-embed) to embed the texts again.",
        )
