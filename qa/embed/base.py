"""The one embedder interface: what the store, the retriever and the indexer need of a model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

import numpy as np

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


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)
