"""First-class fakes shared by the tests: a deterministic embedder that needs no model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag of hashed words, unit length: equal texts embed equally, shared words score higher.

    Good enough to exercise the store, chunking and retrieval paths without loading a model.
    """

    name = "hash (test)"
    dim = 64
    max_tokens = 254

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v + 1.0 / np.sqrt(self.dim)

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [(m.start(), m.end()) for m in _WORD.finditer(text)]

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec(text)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim))

    def embed_chunks(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        sent = [
            np.stack([self._vec(c[s:e]) for s, e in spans]) if spans else np.zeros((0, self.dim))
            for c, spans in zip(chunks, sentence_spans, strict=True)
        ]
        return self.embed_texts(chunks), sent
