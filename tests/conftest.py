"""Shared fixtures: a temp QA_HOME for every test, no network beyond loopback, real and fake
embedders."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.support.fakes import HashEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test gets its own data folder, and no test may use a real key or endpoint.
    monkeypatch.setenv("QA_HOME", str(tmp_path / "qa-home"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL", "QA_MODE"):
        monkeypatch.delenv(var, raising=False)


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6):
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def embedder():  # noqa: ANN201 - the real bundled MiniLM, loaded once per test session
    from qa.embed.local import local_embedder

    return local_embedder()


@pytest.fixture
def make_qa(tmp_path: Path):  # noqa: ANN201
    """Build a QA service over a fresh embedded Chroma in a temp dir."""
    from qa.service import QA
    from qa.settings import Settings

    def make(embedder: object, **settings: object):  # noqa: ANN202
        home = tmp_path / f"home-{len(list(tmp_path.iterdir()))}"
        return QA(Settings(home=home, **settings), embedder=embedder)  # type: ignore[arg-type]

    return make
