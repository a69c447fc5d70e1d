"""The encoder in processes of its own (qa.embed.processes), with the real bundled model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.embed.processes import EncoderProcess, encoder_processes
from qa.errors import EmbedderError
from qa.text import sentences as segmenter
from tests.support.paths import SEED

pytestmark = pytest.mark.integration


def _chunks() -> tuple[list[str], list[list[tuple[int, int]]]]:
    text = SEED.read_text(encoding="utf-8")
    sents = segmenter.split(text)
    chunks, spans = [], []
    for i in range(0, len(sents), 4):
        group = sents[i : i + 4]
        base = group[0][0]
        chunks.append(text[base : group[-1][1]])
        spans.append([(s - base, e - base) for s, e in group])
    return chunks, spans


def test_processes_give_the_vectors_of_the_model_in_this_process(embedder: Any) -> None:
    chunks, spans = _chunks()
    want_chunks, want_sents = embedder.embed_chunks(chunks, spans)
    with encoder_processes(embedder, processes=2) as encode:
        futures = [encode(chunks, spans) for _ in range(3)]  # to each process in turn
        got = [f.result(timeout=120) for f in futures]
    for got_chunks, got_sents in got:
        # The same batches as here: equal up to the order of float sums (threads differ).
        np.testing.assert_allclose(got_chunks, want_chunks, atol=2e-4)
        assert len(got_sents) == len(want_sents)
        for g, w in zip(got_sents, want_sents, strict=True):
            np.testing.assert_allclose(g, w, atol=2e-4)


def test_a_bad_request_fails_that_call_only(embedder: Any) -> None:
    chunks, spans = _chunks()
    with EncoderProcess(embedder) as proc:
        bad = proc.submit(chunks[:2], [[("x", "y")], []])  # spans that are not offsets
        good = proc.submit(chunks[:2], spans[:2])
        with pytest.raises(EmbedderError, match="encoder process failed"):
            bad.result(timeout=120)
        vectors, _ = good.result(timeout=120)
    assert vectors.shape == (2, embedder.dim)


def test_a_worker_that_dies_fails_waiting_and_later_calls_with_a_clear_error(embedder: Any) -> None:
    chunks, spans = _chunks()
    proc = EncoderProcess(embedder)
    try:
        proc._proc.kill()
        proc._proc.wait()
        with pytest.raises(EmbedderError, match="encoder process stopped"):
            proc.submit(chunks, spans).result(timeout=60)
    finally:
        proc.close()


def test_a_big_ingest_encodes_in_processes_and_stores_what_a_thread_would(
    embedder: Any, make_qa: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import qa.embed.processes as ep
    import qa.ingest.indexing as indexing

    started: list[int] = []
    real_init = ep.EncoderProcess.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        started.append(self._proc.pid)

    monkeypatch.setattr(ep.EncoderProcess, "__init__", counting_init)
    # The seed article alone is far below the threshold; lower it instead of ingesting megabytes.
    monkeypatch.setattr(indexing, "ENCODER_PROCESS_CHARS", 1)
    in_processes = make_qa(embedder, embed_batch_size=2)  # groups of 8 chunks: several groups
    results = in_processes.ingest([SEED])
    assert [r.status for r in results] == ["added"] and started

    monkeypatch.setattr(indexing, "ENCODER_PROCESS_CHARS", 10**12)
    started.clear()
    in_thread = make_qa(embedder, embed_batch_size=2)
    in_thread.ingest([SEED])
    assert not started

    doc_id = results[0].doc_id
    a, va = in_processes.store.get_sentences(doc_id, with_vectors=True)
    b, vb = in_thread.store.get_sentences(doc_id, with_vectors=True)
    assert [s.text for s in a] == [s.text for s in b]
    assert va is not None and vb is not None
    np.testing.assert_allclose(va, vb, atol=2e-4)  # the same groups, so the same batches
    question = "Why is Armenia drifting from Moscow?"
    assert in_processes.ask(question).citations == in_thread.ask(question).citations
