"""First-class fakes shared by the tests: a deterministic embedder that needs no model, a chat
model that replies from a script and keeps every prompt, and evidence built by hand."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from qa.types import Evidence, Sentence

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


class FakeChatModel(BaseChatModel):
    """A LangChain chat model that replies from a queue and keeps every prompt it was sent.

    >>> model = FakeChatModel().enqueue("Paris is the capital [S1].")
    >>> # ... model.history[0] is the list of messages of the first call
    """

    replies: list[str] = []
    history: list[list[BaseMessage]] = []
    usage: tuple[int, int] | None = (100, 20)  # (prompt, completion) tokens reported per reply

    def enqueue(self, *replies: str) -> FakeChatModel:
        self.replies.extend(replies)
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.history.append(list(messages))
        if not self.replies:
            raise AssertionError("FakeChatModel: no reply left in the queue")
        text = self.replies.pop(0)
        usage = None
        if self.usage:
            p, c = self.usage
            usage = {"input_tokens": p, "output_tokens": c, "total_tokens": p + c}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage))])

    @property
    def _llm_type(self) -> str:
        return "fake"


def evidence(doc: str, index: int, text: str, **meta: Any) -> Evidence:
    """An Evidence built by hand: one sentence of article `doc` (title, source... in `meta`)."""
    sentence = Sentence(
        sentence_id=f"{doc}#{index}", doc_id=doc, index=index, start=0, end=len(text), text=text
    )
    return Evidence(sentence=sentence, **meta)
