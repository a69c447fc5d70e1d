"""A plain embedded Chroma client in a folder of its own, for the yardsticks the evaluation
compares qa against (the LangChain tutorial pipeline keeps its chunks in Chroma too). It lives
here because qa.store is the one package that imports chromadb."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def scratch_client(path: str | Path) -> Any:
    """A chromadb PersistentClient at `path`, telemetry off (the machine may be offline, and
    posthog would only log failures)."""
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
