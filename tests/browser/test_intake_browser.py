"""Adding articles from the web and comparing outlets, in a real Chromium (Debian's
/usr/bin/chromium, driven by Playwright): the Library tab's add-URL and feed controls against a
loopback news server (tests/support/news_server.py), and the Compare tab over two outlets that
report one story with different numbers. The screenshot goes to tests/artifacts/compare.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qa.ingest.web import doc_id_for_url
from qa.types import Article
from tests.support.browser import (
    ARTIFACTS,
    BROWSER_MARKS,
    TIMEOUT_MS,
    Served,
    chromium,
    serve,
)
from tests.support.news_server import RSS_TYPE, NewsServer, Reply, page, rss

pytestmark = BROWSER_MARKS

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

# Fetching and embedding several pages can take longer than a click's default wait.
SLOW_MS = 2 * TIMEOUT_MS

TRAMS = [
    "The city of Brenholt opened its first tram line on Monday after four years of construction.",
    "The line runs eleven kilometres from the railway station to the university campus.",
    "Transport officials expect twenty thousand passengers a day within the first year.",
]
ORCHARD = [
    "Apple growers in the Lune valley lost much of their blossom to a late frost last week.",
    "The growers' association said yields could fall by a third compared with last season.",
    "Farmers lit fires between the rows overnight in an attempt to keep the buds warm.",
]
BEES = [
    "A survey of beekeepers in the Lune valley found that hives survived the winter in good health.",
    "Beekeepers credited a mild autumn and new treatments against the varroa mite.",
    "Honey prices at the valley's markets are expected to stay steady this summer.",
]

# One story, two outlets, one number apart: the Compare tab must show that conflict.
FLOOD_A = Article(
    doc_id="flood-herald",
    title="Floods sweep through the Tarn valley",
    source="Valley Herald",
    published_at="2024-04-08",
    text=(
        "Flash floods in the Tarn valley destroyed 120 homes on Sunday, the regional fire service said. "
        "Rescue teams evacuated the village of Marren overnight as the river burst its banks. "
        "The regional governor promised emergency aid for families who lost their houses."
    ),
)
FLOOD_B = Article(
    doc_id="flood-times",
    title="Tarn valley floods leave families homeless",
    source="Coastal Times",
    published_at="2024-04-08",
    text=(
        "Flash floods in the Tarn valley destroyed 340 homes on Sunday, the regional fire service said. "
        "Rescue teams evacuated the village of Marren overnight as the river burst its banks. "
        "Volunteers from nearby towns brought blankets and food to the school gymnasium."
    ),
)


@pytest.fixture(scope="module")
def site() -> Iterator[NewsServer]:
    with NewsServer() as s:
        s.route("/robots.txt", Reply("User-agent: *\nAllow: /\n", content_type="text/plain"))
        trams = page("Brenholt opens its first tram line", TRAMS, published="2024-03-04")
        s.route("/local/trams", Reply(trams))
        s.route("/valley/orchard", Reply(page("Late frost hits Lune valley orchards", ORCHARD)))
        s.route("/valley/bees", Reply(page("Lune valley hives come through winter", BEES)))
        s.route(
            "/valley.rss",
            Reply(
                rss(
                    "Valley Gazette",
                    [
                        ("Late frost hits orchards", "/valley/orchard", "Mon, 15 Apr 2024 09:00:00 GMT"),
                        ("Hives come through winter", "/valley/bees", "Tue, 16 Apr 2024 09:00:00 GMT"),
                    ],
                ),
                content_type=RSS_TYPE,
            ),
        )
        yield s


@pytest.fixture(scope="module")
def served(embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from qa.service import QA
    from qa.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QA_CHROMA_URL", "QA_MODE", "QA_AUTH"):
            mp.delenv(var, raising=False)
        # The news server is on 127.0.0.1: the fetcher refuses private addresses unless told.
        qa = QA(
            Settings(
                home=tmp_path_factory.mktemp("ui-intake"),
                allow_private_urls=True,
                fetch_host_delay=0,
                fetch_backoff=0.01,
            ),
            embedder=embedder,
        )
    assert all(r.status == "added" for r in qa.ingest_articles([FLOOD_A, FLOOD_B]))
    with serve(qa) as s:
        yield s
    qa.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def tab(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh page on the app; fails the test if any dialog opens."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", dismiss)
    pg.goto(served.url)
    expect(pg.locator("#qa-transcript .qa-empty")).to_be_visible()
    yield pg
    context.close()
    assert dialogs == []


def _open(pg: Any, accordion: str) -> None:
    pg.get_by_role("button", name=accordion).click()


def _field(pg: Any, elem_id: str) -> Any:
    return pg.locator(f"#{elem_id} textarea, #{elem_id} input").first


def test_add_a_page_by_url_and_a_404(tab: Any, served: Served, site: NewsServer) -> None:
    pg = tab
    pg.get_by_role("tab", name="Library").click()
    library = pg.locator("#qa-library")
    expect(library).to_contain_text(FLOOD_A.title)
    expect(library).not_to_contain_text("Brenholt")

    _open(pg, "Add web pages by URL")
    good, missing = site.url("/local/trams"), site.url("/local/gone")
    _field(pg, "qa-urls").fill(f"{good}\n{missing}")
    pg.locator("#qa-add-urls").click()

    results = pg.locator("#qa-ingest-results")
    expect(results.locator(".qa-lib-count")).to_have_text("1 added, 1 failed", timeout=SLOW_MS)
    added = results.locator("li.qa-st-added")
    expect(added.locator(".qa-file")).to_have_text(good)
    expect(added.locator(".qa-why")).to_contain_text(doc_id_for_url(good))
    failed = results.locator("li.qa-st-failed")
    expect(failed.locator(".qa-file")).to_have_text(missing)
    expect(failed.locator(".qa-why")).to_contain_text("404")
    # A failure keeps the box as typed, so the user can fix the bad line and retry.
    expect(_field(pg, "qa-urls")).to_have_value(f"{good}\n{missing}")

    # The library table is redrawn with the fetched article; the rest is still there.
    row = library.locator("tr", has_text="Brenholt opens its first tram line")
    expect(row).to_be_visible()
    expect(library).to_contain_text(FLOOD_B.title)
    row.locator("button.qa-link").click()
    expect(pg.locator("#qa-reader .qa-article-body")).to_contain_text(TRAMS[1])
    assert served.qa.get(doc_id_for_url(good)).published_at == "2024-03-04"
    assert len(site.hits("/local/gone")) == 1
    pg.screenshot(path=str(_artifact("intake-urls.png")), full_page=True)


def test_add_a_feed_and_refresh_it(tab: Any, served: Served, site: NewsServer) -> None:
    pg = tab
    pg.get_by_role("tab", name="Library").click()
    _open(pg, "Feeds (RSS and Atom)")
    feeds = pg.locator("#qa-feeds")
    expect(feeds).to_contain_text("No feeds yet")

    _field(pg, "qa-feed-url").fill(site.url("/valley.rss"))
    _field(pg, "qa-feed-name").fill("gazette")
    pg.locator("#qa-add-feed").click()
    results = pg.locator("#qa-ingest-results")
    expect(results).to_contain_text("Added the feed gazette")
    row = feeds.locator("tbody tr", has_text="gazette")
    expect(row).to_contain_text(site.url("/valley.rss"))
    expect(row.locator("td").nth(1)).to_have_text("never")
    expect(_field(pg, "qa-feed-url")).to_have_value("")

    pg.locator("#qa-refresh-feeds").click()
    expect(results).to_contain_text("gazette: 2 new, 0 failed", timeout=SLOW_MS)
    expect(results.locator("li.qa-st-added")).to_have_count(2)
    cells = row.locator("td")
    expect(cells.nth(1)).not_to_contain_text("never")
    expect(cells.nth(1)).to_contain_text("refreshed")
    expect(cells.nth(2)).to_have_text("2")  # new
    expect(cells.nth(3)).to_have_text("0")  # failed
    expect(cells.nth(4)).to_have_text("2")  # articles from this feed
    # The counts are on screen, not cut off by the narrow column the table sits in.
    row.scroll_into_view_if_needed()
    for cell in (cells.nth(2), cells.nth(3), cells.nth(4)):
        _within(cell, feeds)

    library = pg.locator("#qa-library")
    expect(library.locator("tr", has_text="Late frost hits Lune valley orchards")).to_be_visible()
    expect(library.locator("tr", has_text="Lune valley hives come through winter")).to_be_visible()
    # The page had no date of its own: it takes its feed item's.
    assert served.qa.get(doc_id_for_url(site.url("/valley/bees"))).published_at == "2024-04-16"

    # A second refresh finds nothing new and says so; the table follows.
    pg.locator("#qa-refresh-feeds").click()
    expect(results).to_contain_text("gazette: 0 new, 0 failed", timeout=SLOW_MS)
    expect(cells.nth(2)).to_have_text("0")
    expect(cells.nth(4)).to_have_text("2")
    pg.screenshot(path=str(_artifact("intake-feeds.png")), full_page=True)


def test_compare_shows_the_conflicting_number(tab: Any) -> None:
    pg = tab
    pg.get_by_role("tab", name="Compare").click()
    _field(pg, "qa-c-docs").fill(f"{FLOOD_A.doc_id}, {FLOOD_B.doc_id}")
    pg.locator("#qa-compare").click()

    out = pg.locator("#qa-compare-out")
    expect(out.locator(".qa-compare")).to_be_visible(timeout=SLOW_MS)
    expect(out.locator(".qa-lib-count")).to_contain_text("Comparing 2 articles")
    conflicts = out.locator(".qa-compare > ul").first
    conflict = conflicts.locator(":scope > li", has_text="120").filter(has_text="340")
    expect(conflict).to_have_count(1)
    sides = conflict.locator("ul > li")
    a_sentence = FLOOD_A.text.split(". ")[0] + "."
    b_sentence = FLOOD_B.text.split(". ")[0] + "."
    expect(sides.filter(has_text="Valley Herald")).to_contain_text(a_sentence)
    expect(sides.filter(has_text="Coastal Times")).to_contain_text(b_sentence)
    # The shared evacuation sentence is agreed, not a conflict.
    expect(out.locator("h4", has_text="Agreed")).not_to_have_text("Agreed (0)")
    expect(out).to_contain_text("Rescue teams evacuated the village of Marren")
    pg.screenshot(path=str(_artifact("compare.png")), full_page=True)

    # Nothing typed: told what to type, in the page.
    _field(pg, "qa-c-docs").fill("")
    pg.locator("#qa-compare").click()
    expect(out.locator(".qa-error")).to_contain_text("Type a story or topic")
    # A typed story finds the same two articles.
    _field(pg, "qa-c-query").fill("floods in the Tarn valley")
    pg.locator("#qa-compare").click()
    expect(out.locator(".qa-lib-count")).to_contain_text("Coastal Times")
    expect(out.locator(".qa-lib-count")).to_contain_text("Valley Herald")


def _artifact(name: str) -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def _within(inner: Any, outer: Any) -> None:
    """`inner` is drawn wholly inside `outer` (to_be_visible passes for a clipped cell)."""
    a, b = inner.bounding_box(), outer.bounding_box()
    assert a and b, (a, b)
    assert b["x"] - 1 <= a["x"] and a["x"] + a["width"] <= b["x"] + b["width"] + 1, (a, b)
