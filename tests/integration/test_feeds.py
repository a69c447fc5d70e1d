"""Feeds against a real HTTP server on loopback: RSS and Atom with relative links, 304s on the
next refresh, the same article in two feeds, malformed and failing feeds, the scheduler, and
the `qa feeds` / `qa ingest URL` commands as real processes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.errors import InputError, NotFoundError
from qa.ingest.feeds import start_feed_scheduler
from qa.ingest.web import doc_id_for_url
from tests.integration.test_fetch import HARBOUR, LIBRARIES, VOLCANO, loopback
from tests.support.fakes import HashEmbedder
from tests.support.news_server import ATOM_TYPE, RSS_TYPE, NewsServer, Reply, atom, http_date, page, rss
from tests.support.qa_server import qa_env, qa_serve, run_qa

pytestmark = pytest.mark.integration

MODIFIED = http_date(1_709_251_200)  # 2024-03-01


@pytest.fixture
def site() -> Iterator[NewsServer]:
    with NewsServer() as s:
        s.route("/robots.txt", Reply("User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
        # A page with its own date keeps it; the two without one take their feed item's date.
        s.route("/news/libraries", Reply(page("Libraries get more money", LIBRARIES, published="2024-02-03")))
        s.route("/news/harbour", Reply(page("Storm damages Port Ellis harbour", HARBOUR)))
        s.route("/world/volcano", Reply(page("Kestra volcano alert raised", VOLCANO)))
        s.route("/rss.xml", Reply(rss("Loopback Times", [
            ("Libraries get more money", "/news/libraries", "Sat, 03 Feb 2024 09:00:00 GMT"),
            ("Storm damages harbour", "news/harbour", "Sat, 10 Feb 2024 09:00:00 GMT"),
            ("Secret memo", "/private/memo", None),
        ]), content_type=RSS_TYPE, etag='"rss-1"', last_modified=MODIFIED))
        s.route("/atom/feed", Reply(atom("Loopback World", [
            ("Kestra volcano alert raised", "../world/volcano", "2024-02-20T08:00:00Z"),
            ("Storm damages harbour", s.url("/news/harbour"), "2024-02-10T09:00:00Z"),
        ]), content_type=ATOM_TYPE, last_modified=MODIFIED))
        yield s


def test_rss_and_atom_items_are_ingested_once_then_a_refresh_costs_one_304(site: NewsServer, make_qa) -> None:
    qa = make_qa(HashEmbedder(), **loopback())
    qa.feeds_add(site.url("/rss.xml"), name="times")
    qa.feeds_add(site.url("/atom/feed"), name="world")
    reports = {r.feed.name: r for r in qa.feeds_refresh()}

    times = reports["times"]
    assert times.status == "refreshed" and times.feed.title == "Loopback Times"
    got = {r.path: r for r in times.items}
    # Relative links resolved against the feed's URL.
    assert set(got) == {site.url("/news/libraries"), site.url("/news/harbour"), site.url("/private/memo")}
    assert got[site.url("/news/libraries")].status == "added"
    assert got[site.url("/news/harbour")].status == "added"
    assert (got[site.url("/private/memo")].status, got[site.url("/private/memo")].reason) == (
        "failed", "disallowed by robots.txt")
    assert (times.feed.last_new, times.feed.last_failed, times.feed.items) == (2, 1, 2)

    world = reports["world"]
    w = {r.path: r for r in world.items}
    assert w[site.url("/world/volcano")].status == "added", "an Atom link relative to the feed's URL"
    # The harbour article is in both feeds: fetched and stored once.
    assert (w[site.url("/news/harbour")].status, w[site.url("/news/harbour")].reason) == (
        "unchanged", "already ingested from the feed times")
    assert len(site.hits("/news/harbour")) == 1

    def day(path: str) -> str | None:
        return qa.get(doc_id_for_url(site.url(path))).published_at

    assert day("/news/libraries") == "2024-02-03", "the page's own date"
    assert day("/news/harbour") == "2024-02-10", "no date in the page: its feed item's"
    assert day("/world/volcano") == "2024-02-20"
    assert len(qa.list()) == 3

    # Nothing changed: each feed answers 304 to its validators, and no page is fetched again.
    before = len(site.requests)
    again = qa.feeds_refresh()
    assert [(r.feed.name, r.status, r.items) for r in again] == [("times", "unchanged", []),
                                                                ("world", "unchanged", [])]
    seen = site.requests[before:]
    assert sorted(s.path for s in seen) == ["/atom/feed", "/rss.xml"]
    rss_request = next(s for s in seen if s.path == "/rss.xml")
    assert rss_request.headers["if-none-match"] == '"rss-1"'
    assert rss_request.headers["if-modified-since"] == MODIFIED
    atom_request = next(s for s in seen if s.path == "/atom/feed")
    assert atom_request.headers["if-modified-since"] == MODIFIED
    listed = {f.name: f for f in qa.feeds_list()}
    assert listed["times"].last_status == "unchanged" and listed["times"].last_refresh

    # A third feed that lists an article already stored skips it without fetching it.
    site.route("/more.xml", Reply(rss("More", [("Harbour again", "/news/harbour", None)]),
                                  content_type=RSS_TYPE))
    qa.feeds_add(site.url("/more.xml"))
    [more] = qa.feeds_refresh(site.url("/more.xml"))
    assert [(r.status, r.reason) for r in more.items] == [
        ("unchanged", "already ingested from the feed times")]
    assert len(site.hits("/news/harbour")) == 1


def test_a_changed_feed_brings_only_its_new_items(site: NewsServer, make_qa) -> None:
    qa = make_qa(HashEmbedder(), **loopback())
    qa.feeds_add(site.url("/atom/feed"), name="world")
    [first] = qa.feeds_refresh()
    assert first.feed.last_new == 2
    site.route("/news/libraries2", Reply(page("Libraries, part two", LIBRARIES[::-1])))
    site.route("/atom/feed", Reply(atom("Loopback World", [
        ("Libraries, part two", "/news/libraries2", None),
        ("Kestra volcano alert raised", "../world/volcano", "2024-02-20T08:00:00Z"),
    ]), content_type=ATOM_TYPE, last_modified=http_date(1_709_337_600)))
    [second] = qa.feeds_refresh("world")
    assert [(r.path, r.status) for r in second.items] == [(site.url("/news/libraries2"), "added")]
    assert len(site.hits("/world/volcano")) == 1


def test_broken_feeds_and_items_are_reported_and_nothing_stored_is_lost(site: NewsServer, make_qa) -> None:
    qa = make_qa(HashEmbedder(), **loopback(fetch_timeout=0.5))
    qa.feeds_add(site.url("/rss.xml"), name="times")
    qa.feeds_refresh()
    stored = {a.doc_id for a in qa.list()}
    assert len(stored) == 2

    site.route("/bad.xml", Reply("<rss version='2.0'><channel><title>Broken</title><item><title>Volcano"
                                 "</title><link>/world/volcano</link></item><item><title>cut he",
                                 content_type=RSS_TYPE))
    site.route("/gone.xml", Reply("gone", status=404, content_type="text/plain"))
    site.route("/page-not-feed", Reply(page("Not a feed", HARBOUR)))
    site.route("/slow.xml", Reply(rss("Slow", []), content_type=RSS_TYPE, delay=3))
    site.route("/garbage.xml", Reply(b"\x00\x01 this is not xml at all {", content_type="application/xml"))
    site.route("/items.xml", Reply(rss("Items", [
        ("Missing", "/news/missing", None),
        ("Picture", "/pics/cat.png", None),
        ("Fine", "/world/volcano", None),
    ]), content_type=RSS_TYPE))
    site.route("/pics/cat.png", Reply(b"\x89PNG", content_type="image/png"))
    for name in ("bad", "gone", "page-not-feed", "slow", "garbage", "items"):
        path = f"/{name}.xml" if name != "page-not-feed" else "/page-not-feed"
        qa.feeds_add(site.url(path), name=name)
    reports = {r.feed.name: r for r in qa.feeds_refresh()}

    assert reports["times"].status == "unchanged"
    assert reports["gone"].reason == "HTTP 404 Not Found"
    assert reports["page-not-feed"].reason == "not a feed (text/html)"
    assert reports["slow"].reason == "timed out after 0.5 s"
    assert reports["garbage"].status == "failed"
    assert reports["garbage"].reason.startswith("not a feed feedparser can read (malformed")
    # A truncated feed is read as far as it goes: its complete item is taken (the article is
    # the one the "items" feed brings too, stored once).
    assert reports["bad"].status == "refreshed"
    assert [r.path for r in reports["bad"].items] == [site.url("/world/volcano")]
    assert len(site.hits("/world/volcano")) == 1
    items = {r.path: r for r in reports["items"].items}
    assert items[site.url("/news/missing")].reason == "HTTP 404 Not Found"
    assert items[site.url("/pics/cat.png")].reason == "not a web page (image/png)"
    assert reports["bad"].items[0].status == "added", "feeds are refreshed in the order of their names"
    assert (items[site.url("/world/volcano")].status, items[site.url("/world/volcano")].reason) == (
        "unchanged", "already ingested from the feed bad")
    listed = {f.name: f for f in qa.feeds_list()}
    assert (listed["items"].last_new, listed["items"].last_failed, listed["items"].items) == (0, 2, 1)
    assert listed["gone"].last_error == "HTTP 404 Not Found"

    # The articles stored before are all there, and answer.
    assert stored < {a.doc_id for a in qa.list()}
    hits = qa.retrieve("How much money does the plan add for public libraries?").evidence
    assert hits[0].sentence.doc_id == doc_id_for_url(site.url("/news/libraries"))


def test_the_registry(site: NewsServer, make_qa) -> None:
    qa = make_qa(HashEmbedder(), **loopback())
    a = qa.feeds_add(site.url("/rss.xml"))
    b = qa.feeds_add(site.url("/atom/feed"))
    assert (a.name, b.name) == ("127.0.0.1", "127.0.0.1-2")
    with pytest.raises(InputError, match="already registered"):
        qa.feeds_add(site.url("/rss.xml"))
    with pytest.raises(InputError, match="already named"):
        qa.feeds_add(site.url("/other.xml"), name="127.0.0.1")
    with pytest.raises(InputError, match="only http and https"):
        qa.feeds_add("file:///etc/passwd")
    assert qa.feeds_remove("127.0.0.1-2").url == site.url("/atom/feed")
    assert qa.feeds_remove(site.url("/rss.xml")).name == "127.0.0.1"
    assert qa.feeds_list() == []
    with pytest.raises(NotFoundError):
        qa.feeds_remove("nothing")


def test_the_scheduler_refreshes_feeds_in_the_background(site: NewsServer, make_qa) -> None:
    assert start_feed_scheduler(make_qa(HashEmbedder(), **loopback())) is None, "off by default"
    qa = make_qa(HashEmbedder(), **loopback(feed_refresh_minutes=0.005))
    qa.feeds_add(site.url("/rss.xml"), name="times")
    scheduler = start_feed_scheduler(qa)
    assert scheduler is not None
    try:
        deadline = time.monotonic() + 120
        while scheduler.refreshes < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.stop()
    assert scheduler.refreshes >= 2
    assert len(qa.list()) == 2
    assert qa.feeds_list()[0].last_status == "unchanged", "the second refresh got a 304"


def test_the_library_tab_adds_urls_and_feeds(site: NewsServer, make_qa) -> None:
    from qa.web.library import _Library

    qa = make_qa(HashEmbedder(), **loopback())
    tab = _Library(qa)
    shown, box = tab.add_urls(f"{site.url('/news/libraries')}\n{site.url('/private/memo')}\n")
    assert "1 added, 1 failed" in shown and "disallowed by robots.txt" in shown
    assert not isinstance(box, str), "gr.skip(): the failed URL stays in the box, to fix"
    assert "Paste one or more" in tab.add_urls("  ")[0]
    note, table, _, _ = tab.add_feed(site.url("/atom/feed"), "world")
    assert "Added the feed world" in note and "never" in table
    assert "only http and https" in tab.add_feed("gopher://x/", "")[0]
    report, table = tab.refresh_feeds()
    assert "world: 2 new, 0 failed" in report and site.url("/world/volcano") in report
    assert "refreshed" in table and "<script" not in table
    assert len(qa.list()) == 3
    note, table, _ = tab.remove_feed("world")
    assert "its articles stay" in note and "No feeds yet" in table


# --- the commands, as real processes with the real model ---------------------------------------
def test_qa_serve_refreshes_feeds_on_its_schedule(site: NewsServer, tmp_path: Path) -> None:
    from qa.service import QA
    from qa.settings import Settings

    home = tmp_path / "home"
    QA(Settings(home=home)).feeds_add(site.url("/atom/feed"), name="world")  # no model needed
    env = qa_env(home, QA_ALLOW_PRIVATE_URLS="true", QA_FETCH_HOST_DELAY="0",
                 QA_FEED_REFRESH_MINUTES="0.02")
    with qa_serve(env, tmp_path / "serve.log") as server:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            [feed] = QA(Settings(home=home)).feeds_list()
            if feed.last_status == "unchanged":  # a first refresh, then a second one (a 304)
                break
            time.sleep(0.5)
        log = server.log()
    assert feed.last_status == "unchanged", log
    assert feed.items == 2
    assert "refreshing feeds every 0.02 minutes" in log and "feeds refreshed: 1 feeds, 2 new items" in log
    assert "Traceback" not in log


def test_qa_feeds_and_qa_ingest_urls_commands(site: NewsServer, tmp_path: Path) -> None:
    env = qa_env(tmp_path / "home", QA_ALLOW_PRIVATE_URLS="true", QA_FETCH_HOST_DELAY="0",
                 QA_FETCH_BACKOFF="0")

    def qa(*args: str) -> Any:
        return run_qa(env, *args)

    listing = tmp_path / "urls.txt"
    listing.write_text(f"# today's reading\n{site.url('/news/libraries')}\n\n{site.url('/nowhere')}\n")
    r = qa("ingest", "-q", site.url("/news/harbour"), "--urls-file", str(listing))
    assert r.returncode == 1, r.stderr
    assert f"added: {doc_id_for_url(site.url('/news/harbour'))}" in r.stdout
    assert f"added: {doc_id_for_url(site.url('/news/libraries'))}" in r.stdout
    assert f"failed: {site.url('/nowhere')}: HTTP 404 Not Found" in r.stderr
    assert "Traceback" not in r.stderr

    r = qa("ingest", "-q", site.url("/news/harbour"))
    assert r.returncode == 0 and "unchanged:" in r.stdout

    r = qa("feeds", "add", site.url("/atom/feed"), "--name", "world")
    assert r.returncode == 0 and "added feed world" in r.stdout
    r = qa("feeds", "refresh")
    assert r.returncode == 0, r.stderr
    assert "feed world: 2 new, 0 failed" in r.stdout
    assert f"added: {doc_id_for_url(site.url('/world/volcano'))}" in r.stdout
    # The harbour page, stored undated by `qa ingest`, gets its feed item's date: a new version.
    assert f"replaced: {doc_id_for_url(site.url('/news/harbour'))}" in r.stdout
    r = qa("feeds", "refresh", "world")
    assert r.returncode == 0 and "feed world: unchanged" in r.stdout

    r = qa("feeds", "list", "--json")
    [feed] = json.loads(r.stdout)
    assert (feed["name"], feed["last_status"], feed["last_new"]) == ("world", "unchanged", 0)
    r = qa("feeds", "add", "ftp://example.com/feed")
    assert r.returncode == 2 and "only http and https" in r.stderr
    r = qa("feeds", "remove", "world")
    assert r.returncode == 0 and "removed feed world" in r.stdout
    r = qa("feeds", "remove", "world")
    assert r.returncode == 2 and "No feed" in r.stderr

    r = qa("list", "--json")
    assert len(json.loads(r.stdout)) == 3, "removing a feed keeps its articles"
