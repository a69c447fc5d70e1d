"""The Timeline tab and the chat's "As of" box in a real Chromium (Debian's /usr/bin/chromium,
driven by Playwright), over the dated articles of tests/integration/test_time_questions.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_time_questions import ARTICLES
from tests.support.browser import (
    ARTIFACTS,
    BROWSER_MARKS,
    TIMEOUT_MS,
    Served,
    chromium,
    serve,
)

pytestmark = BROWSER_MARKS

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def served(embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:  # noqa: ANN001
    from qa.service import QA
    from qa.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL", "QA_MODE", "QA_AUTH"):
            mp.delenv(var, raising=False)
        qa = QA(Settings(home=tmp_path_factory.mktemp("ui-time")), embedder=embedder)
    assert all(r.status == "added" for r in qa.ingest_articles(ARTICLES))
    with serve(qa) as s:
        yield s
    qa.close()


@pytest.fixture(scope="module")
def page(served: Served) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(served.url)
        yield pg


def test_timeline_tab(page: Any) -> None:
    page.get_by_role("tab", name="Timeline").click()
    page.locator("#qa-tl-query textarea, #qa-tl-query input").first.fill("Harbor Bridge")
    page.locator("#qa-tl-as-of textarea, #qa-tl-as-of input").first.fill("2024-05-15")
    page.locator("#qa-timeline").click()
    out = page.locator("#qa-timeline-out")
    expect(out.locator(".qa-tl-event").first).to_be_visible()
    text = out.inner_text()
    assert "reported by Daily Post, Evening Star" in text
    assert text.index("2024-03-05") < text.index("2024-05-08")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "timeline.png"), full_page=True)


def test_chat_as_of(page: Any) -> None:
    page.get_by_role("tab", name="Chat").click()
    page.locator("#qa-as-of textarea, #qa-as-of input").first.fill("2024-04-30")
    page.locator("#qa-question textarea").fill("What is the latest on the Harbor Bridge?")
    page.locator("#qa-ask").click()
    transcript = page.locator("#qa-transcript")
    expect(transcript).to_contain_text("reopened to traffic", timeout=TIMEOUT_MS)
    expect(transcript).not_to_contain_text("new lights")
