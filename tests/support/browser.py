"""Shared by the web app's tests: hand-made articles and an in-process server on a free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qa.types import Article
from tests.support.paths import ROOT

SEED = ROOT / "seeds" / "000_796d416b0a81cd49.txt"
SEED_ID = SEED.stem
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's (`make browser`); Playwright never downloads one
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000
# Every browser test module: `pytestmark = BROWSER_MARKS`.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: `make browser` (apt-get install chromium) adds it",
    ),
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
ARMENIA_Q = "Why is Armenia drifting from Moscow?"

HOSTILE_TEXT = (
    "The mayor of Springfield said <img src=x onerror=alert(1)> the bridge will reopen in May. "
    "<script>alert(1)</script> Officials in Springfield confirmed the bridge repair budget."
)
HOSTILE = Article(
    doc_id="hostile",
    title="<b>x</b>",
    source="<i>evil</i>",
    published_at="2023-09-12",
    text=HOSTILE_TEXT,
)
HOSTILE_Q = "When will the Springfield bridge reopen?"

# (article, a question it alone answers): distinct topics, so a mixed-up answer is visible.
TOPICS: list[tuple[Article, str]] = [
    (
        Article(
            doc_id="lima-water",
            title="Lima summit on water rights",
            source="Andes Wire",
            published_at="2024-03-05",
            text=(
                "Leaders from six Andean countries met in Lima on Tuesday to negotiate shared "
                "water rights for the glacier-fed rivers. The draft treaty would cap irrigation "
                "withdrawals during droughts."
            ),
        ),
        "What would the Andean water treaty cap during droughts?",
    ),
    (
        Article(
            doc_id="oslo-ferries",
            title="Oslo electrifies its ferries",
            source="Nordic Post",
            published_at="2024-01-20",
            text=(
                "Oslo's harbour authority replaced the last diesel ferry with a battery-powered "
                "vessel this winter. The electric ferries recharge in seven minutes at each quay."
            ),
        ),
        "How long do Oslo's electric ferries take to recharge?",
    ),
    (
        Article(
            doc_id="kenya-tea",
            title="Kenyan tea harvest hit by hail",
            source="Nairobi Ledger",
            published_at="2023-11-02",
            text=(
                "A hailstorm destroyed a third of the tea harvest in Kericho county last week. "
                "Farmers asked the government for emergency fertiliser subsidies."
            ),
        ),
        "What destroyed the tea harvest in Kericho?",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    qa: Any  # qa.service.QA


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright (which never downloads a browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serve(qa: Any) -> Iterator[Served]:
    """Run the real app (same queue and launch options as `qa serve`) on a free loopback port."""
    from qa.web.app import build_app, launch_options

    app = build_app(qa)
    port = free_port()
    options = {
        **launch_options(qa),
        "server_name": "127.0.0.1",
        "server_port": port,
        "prevent_thread_lock": True,
        "quiet": True,
    }
    app.launch(**options)
    try:
        yield Served(url=f"http://127.0.0.1:{port}/", qa=qa)
    finally:
        app.close()


@contextmanager
def library_qa(home: Path, embedder: Any, *, seed_only: bool = False, **settings: Any) -> Iterator[Any]:
    """A QA over a fresh store holding the seed article, the hostile one and the TOPICS
    (or the seed alone); `settings` are passed to Settings.

    Built like the `make_qa` fixture, with the answering environment cleared here because the
    server outlives a single test (module scope) and so cannot lean on the autouse fixture.
    """
    from qa.service import QA
    from qa.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL", "QA_MODE", "QA_AUTH"):
            mp.delenv(var, raising=False)
        qa = QA(Settings(home=home, **settings), embedder=embedder)
    results = qa.ingest([SEED])
    if not seed_only:
        results += qa.ingest_articles([HOSTILE] + [a for a, _ in TOPICS])
    assert all(r.status == "added" for r in results), results
    yield qa
