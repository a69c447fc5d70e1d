"""The ONNX encoder backends against the fp32 sentence-transformers model, on real sentences.

Thresholds come from the whole RealTimeQA corpus (3,034 chunks, 14,081 sentences): int8 chunk
vectors have cosine >= 0.979 with fp32 ones (mean 0.993); contextual sentence vectors mean 0.992,
99% >= 0.984, the lowest (0.949) on two-word fragments such as "CNN —".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.embed.local import ENCODERS, LocalEmbedder, local_embedder
from qa.errors import ConfigError
from qa.text import sentences as segmenter
from tests.support.paths import ROOT, SEED

pytestmark = pytest.mark.integration

FAST = ("onnx", "onnx-int8")
# (lowest chunk cosine, lowest sentence cosine, mean sentence cosine) with the fp32 model.
BOUNDS = {"onnx": (0.9999, 0.9999, 0.9999), "onnx-int8": (0.97, 0.94, 0.985)}


def _chunks() -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Real text in chunks of three sentences, with each sentence's span inside its chunk."""
    texts = [SEED.read_text(encoding="utf-8")]
    with (ROOT / "eval" / "hotpotqa_subset_docs.jsonl").open(encoding="utf-8") as fh:
        texts += [json.loads(line)["text"] for line in fh if line.strip()][:40]
    chunks, spans = [], []
    for text in texts:
        sents = segmenter.split(text)
        for i in range(0, len(sents), 3):
            group = sents[i : i + 3]
            base = group[0][0]
            chunks.append(text[base : group[-1][1]])
            spans.append([(s - base, e - base) for s, e in group])
    return chunks, spans


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoder-cache")


@pytest.fixture(scope="module")
def reference():  # noqa: ANN201 - the fp32 torch model and its vectors of _chunks()
    ref = local_embedder(64, "torch")
    chunks, spans = _chunks()
    return ref, chunks, spans, ref.embed_chunks(chunks, spans)


@pytest.fixture(scope="module")
def fast(cache: Path) -> dict[str, LocalEmbedder]:
    return {enc: LocalEmbedder(encoder=enc, cache_dir=cache) for enc in FAST}


@pytest.mark.parametrize("encoder", FAST)
def test_vectors_are_close_to_fp32(encoder: str, fast: dict, reference) -> None:  # noqa: ANN001
    e = fast[encoder]
    assert e.encoder == encoder  # built, not fallen back to torch
    _, chunks, spans, (ref_chunks, ref_sents) = reference
    got_chunks, got_sents = e.embed_chunks(chunks, spans)

    assert got_chunks.shape == ref_chunks.shape and got_chunks.dtype == np.float32
    assert [s.shape for s in got_sents] == [s.shape for s in ref_sents]
    assert np.allclose(np.linalg.norm(got_chunks, axis=1), 1.0, atol=1e-4)
    chunk_cos = (got_chunks * ref_chunks).sum(axis=1)
    sent_cos = (np.concatenate(got_sents) * np.concatenate(ref_sents)).sum(axis=1)
    lo_chunk, lo_sent, mean_sent = BOUNDS[encoder]
    assert chunk_cos.min() >= lo_chunk, chunk_cos.min()
    assert sent_cos.min() >= lo_sent, sent_cos.min()
    assert sent_cos.mean() >= mean_sent, sent_cos.mean()


@pytest.mark.parametrize("encoder", FAST)
def test_each_sentence_finds_its_fp32_self(encoder: str, fast: dict, reference) -> None:  # noqa: ANN001
    # What retrieval needs: the nearest fp32 sentence vector of every fast one is its own.
    _, chunks, spans, (_, ref_sents) = reference
    got = np.concatenate(fast[encoder].embed_chunks(chunks, spans)[1])
    ref = np.concatenate(ref_sents)
    texts = [c[s:e] for c, sp in zip(chunks, spans, strict=True) for s, e in sp]
    nearest = (got @ ref.T).argmax(axis=1)
    wrong = [(texts[i], texts[j]) for i, j in enumerate(nearest) if texts[i] != texts[j]]
    assert not wrong


@pytest.mark.parametrize("encoder", FAST)
def test_sentence_pooling_is_the_mean_of_its_tokens(encoder: str, fast: dict) -> None:
    e = fast[encoder]
    chunk = "Scott Derrickson is an American director. He lives in Los Angeles, California."
    spans = [(0, 41), (42, len(chunk))]
    _, sents = e.embed_chunks([chunk], [spans])
    tokens, mask, offsets = e.token_vectors([chunk])
    for j, (s, t) in enumerate(spans):
        sel = mask[0] & (offsets[0, :, 1] > offsets[0, :, 0])
        sel &= (offsets[0, :, 0] >= s) & (offsets[0, :, 1] <= t)
        want = tokens[0][sel].mean(axis=0)
        assert float(sents[0][j] @ (want / np.linalg.norm(want))) > 0.9999
    # "He" is pooled from tokens that saw "Scott Derrickson": the contextual vector differs
    # from the sentence embedded alone.
    alone = e.embed_query(chunk[42:])
    assert float(sents[0][1] @ alone) < 0.999


@pytest.mark.parametrize("encoder", FAST)
def test_padding_barely_changes_a_vector(encoder: str, fast: dict) -> None:
    # int8 quantizes activations with one scale per batch, so batch-mates matter a little.
    e = fast[encoder]
    text = "Armenia and the United States began joint military exercises on Monday."
    alone = e.embed_texts([text])[0]
    batch = e.embed_texts(["Short.", text, "A much longer sentence " * 12])
    assert float(alone @ batch[1]) > (0.9999 if encoder == "onnx" else 0.99)


def test_tokenizer_matches_sentence_transformers(reference) -> None:  # noqa: ANN001
    ref, chunks, _, _ = reference
    hf = ref._forward._model.tokenizer
    e = local_embedder(64, "torch")
    for text in chunks[:30] + ["", "naïve café — 12,000 km²", "x" * 3000]:
        want = hf(text, add_special_tokens=False, return_offsets_mapping=True)
        assert e.count_tokens(text) == len(want["input_ids"])
        assert e.token_offsets(text) == [tuple(o) for o in want["offset_mapping"]]
    ids, mask, _ = e._tokenizer.batch(chunks[:8] + ["word " * 400])
    enc = hf(chunks[:8] + ["word " * 400], padding=True, truncation=True, max_length=256)
    assert ids.tolist() == enc["input_ids"] and mask.tolist() == enc["attention_mask"]


def test_export_is_cached_and_queries_need_no_torch(cache: Path, fast: dict) -> None:
    files = sorted((cache / "encoder").glob("*.onnx"))
    assert len(files) == len(FAST)
    before = [f.stat().st_mtime_ns for f in files]
    LocalEmbedder(encoder="onnx-int8", cache_dir=cache)
    assert [f.stat().st_mtime_ns for f in files] == before
    code = (
        "import sys; from pathlib import Path; from qa.embed.local import LocalEmbedder;"
        f"e = LocalEmbedder(encoder='onnx-int8', cache_dir=Path({str(cache)!r}));"
        "v = e.embed_query('Why is Armenia drifting from Moscow?');"
        "print(v.shape[0], 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["384", "False", "False"]


def test_unknown_encoder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="onnx-int8"):
        LocalEmbedder(encoder="tpu")
    assert "torch" in ENCODERS


def test_qa_encoder_is_read_through_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.embed.local import DEFAULT_ENCODER, configured_encoder
    from qa.settings import Settings

    assert configured_encoder() == Settings().encoder == DEFAULT_ENCODER == "onnx-int8"
    monkeypatch.setenv("QA_ENCODER", "torch")
    assert configured_encoder() == Settings().encoder == "torch"
    assert Settings(encoder="onnx").encoder == "onnx"
    from qa.service import QA

    assert QA(Settings(home=tmp_path, encoder="torch")).embedder.encoder == "torch"
    monkeypatch.setenv("QA_ENCODER", "tpu")
    with pytest.raises(ConfigError, match="onnx-int8"):
        configured_encoder()
    with pytest.raises(ConfigError, match="onnx-int8"):
        LocalEmbedder()


def test_the_encoder_cache_follows_the_settings_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QA(Settings(home=X)) keeps its model files under X, whatever QA_HOME says.
    from qa.service import QA
    from qa.settings import Settings

    monkeypatch.setenv("QA_HOME", str(tmp_path / "from-env"))
    qa = QA(Settings(home=tmp_path / "mine", encoder="torch"))
    assert qa.embedder.cache_dir == tmp_path / "mine" / "cache"  # type: ignore[attr-defined]
    other = QA(Settings(home=tmp_path / "mine", model_cache=tmp_path / "models", encoder="torch"))
    assert other.embedder.cache_dir == tmp_path / "models"  # type: ignore[attr-defined]
