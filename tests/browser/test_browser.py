"""The web app in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Screenshots go to tests/artifacts/ (gitignored); the chat with its source panel open is also
saved to docs/screenshot.png for the README.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    ARMENIA_Q,
    ARTIFACTS,
    BROWSER_MARKS,
    HOSTILE,
    HOSTILE_Q,
    ROOT,
    SEED_ID,
    TIMEOUT_MS,
    Served,
    chromium,
    library_qa,
    serve,
)

pytestmark = BROWSER_MARKS

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def served(embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with library_qa(tmp_path_factory.mktemp("ui-browser"), embedder) as qa, serve(qa) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


class Page:
    """A fresh page on the app that records every dialog (alert/confirm/prompt) it opens."""

    def __init__(self, browser: Any, served: Served) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.goto(served.url)
        expect(self.page.locator("#qa-transcript .qa-empty")).to_be_visible()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def ask(self, question: str, turn: int) -> Any:
        """Ask in the chat box; returns the locator of that turn once its answer is final."""
        self.page.locator("#qa-question textarea").fill(question)
        self.page.locator("#qa-ask").click()
        answered = self.page.locator(f"#qa-transcript .qa-turn[data-turn='{turn}']")
        expect(answered.locator(".qa-meta")).to_be_visible()
        return answered

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def app(browser: Any, served: Served) -> Iterator[Page]:
    page = Page(browser, served)
    yield page
    page.context.close()


def _injected(page: Any) -> dict[str, int]:
    """Elements an article could have smuggled in, across the whole page."""
    return {
        "img[src=x]": page.locator("img[src='x']").count(),
        "[onerror]": page.locator("[onerror]").count(),
        "our <b>/<i>": page.locator(
            ", ".join(f"#{i} b, #{i} i" for i in ("qa-transcript", "qa-source", "qa-library"))
        ).count(),
        "our <script>": page.locator("#qa-transcript script, #qa-source script, #qa-library script").count(),
    }


def test_ask_stream_and_open_the_cited_sentence(app: Page, served: Served) -> None:
    expected = served.qa.ask(ARMENIA_Q)
    assert not expected.abstained and expected.citations[0].doc_id == SEED_ID

    turn = app.ask(ARMENIA_Q, 0)
    text = turn.locator(".qa-answer-text")
    expect(text).to_contain_text(expected.citations[0].text)
    expect(turn.locator(".qa-sources")).to_contain_text("Sources")

    turn.locator(".qa-answer-text button.qa-chip[data-n='1']").click()
    mark = app.page.locator("#qa-source mark.qa-active")
    expect(mark).to_have_text(expected.citations[0].text)
    expect(app.page.locator("#qa-source .qa-article-title")).to_have_text(served.qa.get(SEED_ID).title)
    # Every sentence this answer cites from the article is highlighted, the clicked one active.
    expect(app.page.locator("#qa-source mark.qa-hl")).to_have_count(len(expected.citations))

    # The last citation sits at the end of the article: its mark is scrolled into view.
    last = expected.citations[-1]
    turn.locator(f".qa-answer-text button.qa-chip[data-n='{last.n}']").click()
    expect(mark).to_have_text(last.text)
    expect(mark).to_be_in_viewport()
    body = app.page.locator("#qa-source .qa-article-body").bounding_box()
    box = mark.bounding_box()
    assert body and box and body["y"] - 1 <= box["y"] <= body["y"] + body["height"]

    turn.locator(".qa-answer-text button.qa-chip[data-n='1']").click()
    expect(mark).to_have_text(expected.citations[0].text)
    shot = app.shot("chat-source.png")
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")
    assert app.dialogs == []


def test_follow_up_keeps_each_turns_citations_and_exports(app: Page, served: Served, tmp_path: Path) -> None:
    first = served.qa.ask(ARMENIA_Q)
    app.ask(ARMENIA_Q, 0)
    second = app.ask("What did Peskov say?", 1)  # short: condensed with the first question
    expect(second.locator(".qa-searched")).to_contain_text("searched as: What did Peskov say?")
    expect(second.locator(".qa-answer-text")).to_contain_text("Peskov")
    expect(app.page.locator("#qa-transcript .qa-turn")).to_have_count(2)

    # A chip of the first turn still opens the first answer's sentence.
    first_turn = app.page.locator("#qa-transcript .qa-turn[data-turn='0']")
    first_turn.locator(".qa-answer-text button.qa-chip[data-n='2']").click()
    expect(app.page.locator("#qa-source mark.qa-active")).to_have_text(first.citations[1].text)

    with app.page.expect_download() as info:
        app.page.locator("#qa-export").click()
    saved = tmp_path / "conversation.md"
    info.value.save_as(saved)
    md = saved.read_text(encoding="utf-8")
    assert md.index("## 1. " + ARMENIA_Q) < md.index("## 2. What did Peskov say?")
    assert first.citations[1].text in md and "Sources:" in md

    app.page.locator("#qa-new").click()
    expect(app.page.locator("#qa-transcript .qa-empty")).to_be_visible()
    expect(app.page.locator("#qa-source .qa-panel-empty")).to_be_visible()
    assert app.dialogs == []


def test_hostile_article_shows_as_text(app: Page, served: Served) -> None:
    turn = app.ask(HOSTILE_Q, 0)
    expect(turn.locator(".qa-answer-text")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(turn.locator(".qa-src-title")).to_have_text(HOSTILE.title)
    turn.locator(".qa-answer-text button.qa-chip[data-n='1']").click()
    source = app.page.locator("#qa-source")
    expect(source.locator(".qa-article-title")).to_have_text("<b>x</b>")
    expect(source.locator(".qa-article-meta")).to_contain_text("<i>evil</i>")
    expect(source.locator(".qa-article-body")).to_have_text(served.qa.get("hostile").text)
    expect(source.locator("mark.qa-active")).to_contain_text("<img src=x onerror=alert(1)>")
    app.shot("hostile-chat.png")

    app.page.get_by_role("tab", name="Library").click()
    row = app.page.locator("#qa-library tr", has_text="hostile")
    expect(row.locator("button.qa-link")).to_have_text("<b>x</b>")
    expect(row).to_contain_text("<i>evil</i>")
    row.locator("button.qa-link").click()
    expect(app.page.locator("#qa-reader .qa-article-body")).to_contain_text("<script>alert(1)</script>")
    app.shot("hostile-library.png")
    app.page.wait_for_timeout(500)  # give any smuggled handler its chance to fire
    assert _injected(app.page) == dict.fromkeys(_injected(app.page), 0)
    assert app.dialogs == []


def test_upload_files_then_delete_from_library(app: Page, served: Served, tmp_path: Path) -> None:
    good = tmp_path / "Reykjavik geothermal.txt"
    good.write_text(
        "Reykjavik expands geothermal heating\n\nThe city will pipe hot water from a new well "
        "field to twelve thousand homes by next winter. Engineers expect bills to fall.",
        encoding="utf-8",
    )
    # Gradio itself drops < > from uploaded names; entities and quotes reach us and must stay
    # text: shown unescaped, this name would read "<img src=x ...> tom & jerry's.txt".
    shown_name = "&lt;img src=x onerror=alert(1)&gt; tom & jerry's.txt"
    hostile_name = tmp_path / shown_name
    hostile_name.write_text("Harbour cranes were repainted in Gdansk this spring.", "utf-8")
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))

    app.page.get_by_role("tab", name="Library").click()
    expect(app.page.locator("#qa-library .qa-table")).to_be_visible()
    app.page.locator("#qa-files input[type=file]").set_input_files([good, hostile_name, bad])
    app.page.locator("#qa-upload").click()
    results = app.page.locator("#qa-ingest-results")
    expect(results).to_contain_text("2 added")
    expect(results.locator("li", has_text="Reykjavik geothermal.txt")).to_contain_text("added")
    expect(results.locator("li", has_text="photo.png")).to_contain_text("failed")
    expect(results).to_contain_text(shown_name)
    row = app.page.locator("#qa-library tr", has_text="Reykjavik expands geothermal heating")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Reykjavik_geothermal")
    app.shot("library-upload.png")

    # The library filter narrows the table.
    app.page.locator("#qa-filter :is(textarea, input)").fill("geothermal")
    expect(app.page.locator("#qa-library tbody tr")).to_have_count(1)

    row.locator("button.qa-del").click()
    expect(app.page.locator(".qa-confirm")).to_contain_text("Reykjavik expands geothermal")
    app.page.locator("#qa-confirm-delete").click()
    expect(app.page.locator("#qa-library")).to_contain_text("No article matches")
    assert "Reykjavik_geothermal" not in {a.doc_id for a in served.qa.list()}
    for a in served.qa.list():
        if a.title.startswith("Harbour cranes"):
            served.qa.delete(a.doc_id)
    app.page.wait_for_timeout(300)
    assert _injected(app.page) == dict.fromkeys(_injected(app.page), 0)
    assert app.dialogs == []


def test_summary_of_a_query_with_its_source_panel(app: Page) -> None:
    app.page.get_by_role("tab", name="Summaries").click()
    app.page.locator("#qa-s-query textarea").fill("Oslo electric ferries")
    app.page.locator("#qa-summarize").click()
    chip = app.page.locator("#qa-summary .qa-answer-text button.qa-chip").first
    expect(chip).to_be_visible()
    chip.click()
    panel = app.page.locator("#qa-summary-source")
    expect(panel.locator("mark.qa-active")).to_be_visible()
    expect(panel.locator(".qa-article-title")).to_have_text("Oslo electrifies its ferries")
    app.shot("summary.png")
    assert app.dialogs == []


@pytest.fixture(scope="module")
def llm_served(embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Any]]:
    """The app in LLM mode, its model a scripted OpenAI-compatible server on loopback."""
    from tests.support.openai_stub import OpenAIStub

    with (
        OpenAIStub() as stub,
        library_qa(
            tmp_path_factory.mktemp("ui-llm"),
            embedder,
            seed_only=True,
            openai_base_url=stub.base_url,
            llm_max_retries=0,
            llm_timeout=10,
        ) as qa,
        serve(qa) as s,
    ):
        yield s, stub


def test_llm_answer_marks_unsupported_claims_and_shows_cost(
    browser: Any, llm_served: tuple[Served, Any]
) -> None:
    served, stub = llm_served
    stub.enqueue(
        "Armenia and the United States began joint military exercises [S1]. "
        "Armenian troops also landed on the Moon [S1]."
    )
    page = Page(browser, served)
    try:
        expect(page.page.locator("#qa-about")).to_contain_text("gpt-4o-mini (LLM configured)")
        turn = page.ask(ARMENIA_Q, 0)
        unsupported = turn.locator(".qa-claim.qa-unsupported")
        expect(unsupported).to_have_count(1)
        expect(unsupported).to_contain_text("landed on the Moon")
        expect(unsupported.locator(".qa-claim-tag")).to_have_text("unsupported")
        meta = turn.locator(".qa-meta")
        expect(meta).to_contain_text("llm")
        expect(meta).to_contain_text("tokens")
        expect(meta).to_contain_text("≈ $")
        turn.locator(".qa-answer-text button.qa-chip[data-n='1']").first.click()
        expect(page.page.locator("#qa-source mark.qa-active")).to_be_visible()
        page.shot("llm-claims.png")
        assert page.dialogs == []
    finally:
        page.context.close()
