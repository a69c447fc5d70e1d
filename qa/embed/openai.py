"""OpenAI (or compatible) embeddings, chosen with QA_EMBEDDER=openai."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.embed.base import Span, unit
from qa.errors import ConfigError


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
        from qa.text.tokens import count_tokens

        self._count = count_tokens

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def embed_query(self, text: str) -> np.ndarray:
        return unit(np.asarray(self._client.embed_query(text), dtype=np.float32))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return unit(np.asarray(self._client.embed_documents(list(texts)), dtype=np.float32))

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
