"""Fetching web pages against a real HTTP server on loopback (tests/support/news_server.py):
`QA.ingest_urls` and the Fetcher's limits, each failure with its reason, nothing stored lost;
and the address checks with private addresses refused (the setting off)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from qa.ingest.fetch import Fetcher
from qa.ingest.web import doc_id_for_url
from qa.settings import Settings
from tests.support.fakes import HashEmbedder
from tests.support.news_server import NewsServer, Reply, page, tls_contexts

pytestmark = pytest.mark.integration

LIBRARIES = [
    "The city council of Springfield voted on Tuesday to approve a new budget for public libraries.",
    "The plan adds twelve million dollars over three years, according to the council's finance office.",
    "Opponents argued that the money should go to road repairs instead, citing a survey of residents.",
    "The mayor said the libraries would extend their opening hours on weekends starting in the spring.",
]
HARBOUR = [
    "Fishermen in Port Ellis returned to the harbour on Friday after a storm kept boats ashore for a week.",
    "The harbour master reported damage to two piers and a crane used to unload the morning catch.",
    "Repairs are expected to take a month, and the town has asked the province for emergency funds.",
    "Local restaurants said they had run short of fresh cod and turned to frozen stock in the meantime.",
]
VOLCANO = [
    "Scientists on the island of Kestra raised the alert level for its volcano after a swarm of quakes.",
    "The observatory measured more than four hundred tremors in two days beneath the northern flank.",
    "Villagers living within five kilometres of the crater were told to prepare for a possible evacuation.",
    "No eruption is expected within days, the chief volcanologist said, but gas emissions have doubled.",
]


def loopback(**overrides: Any) -> dict[str, Any]:
    """Settings for fetching from the loopback test server: private addresses allowed (the
    server is on 127.0.0.1), no host delay, short backoff."""
    return {"allow_private_urls": True, "fetch_host_delay": 0, "fetch_backoff": 0.01, **overrides}


@pytest.fixture
def site() -> Iterator[NewsServer]:
    with NewsServer() as s:
        s.route("/robots.txt", Reply("User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
        s.route("/news/libraries", Reply(page("Libraries get more money", LIBRARIES, published="2024-02-03",
                                              author="Ann Reporter")))
        s.route("/news/harbour", Reply(page("Storm damages Port Ellis harbour", HARBOUR,
                                            published="2024-02-10")))
        s.route("/news/volcano", Reply(page("Kestra volcano alert raised", VOLCANO)))
        yield s


def test_a_page_is_stored_with_its_metadata_then_unchanged_then_replaced(site: NewsServer, make_qa) -> None:
    canonical = "https://news.example/world/libraries-budget"
    site.route("/news/libraries", Reply(page("Libraries get more money", LIBRARIES, published="2024-02-03",
                                             canonical=canonical, author="Ann Reporter")))
    qa = make_qa(HashEmbedder(), **loopback())
    url = site.url("/news/libraries")
    [r] = qa.ingest_urls([url])
    assert (r.status, r.path, r.doc_id) == ("added", url, doc_id_for_url(canonical))
    a = qa.get(r.doc_id)
    assert a.title == "Libraries get more money" and a.published_at == "2024-02-03"
    assert a.url == url and a.canonical_url == canonical
    assert "twelve million dollars" in a.text and "Related stories" not in a.text
    assert site.hits("/news/libraries")[0].headers["user-agent"].startswith("qa/")

    # The same page again, and under a tracking parameter: the same article, unchanged.
    site.route("/news/libraries?utm_source=feed", *site.routes["/news/libraries"])
    again = qa.ingest_urls([url, site.url("/news/libraries?utm_source=feed")])
    assert [x.status for x in again] == ["unchanged", "unchanged"]
    assert {x.doc_id for x in again} == {r.doc_id}

    [h] = qa.ingest_urls([site.url("/news/harbour")])
    # The publisher corrects the article: a new version under the same id.
    corrected = [LIBRARIES[0], "The plan adds fifteen million dollars over three years, the council said.",
                 *LIBRARIES[2:]]
    site.route("/news/libraries", Reply(page("Libraries get more money", corrected, published="2024-02-03",
                                             canonical=canonical)))
    [c] = qa.ingest_urls([url])
    assert (c.status, c.doc_id) == ("replaced", r.doc_id)
    text = qa.get(r.doc_id).text
    assert "fifteen million" in text and "twelve million" not in text
    assert sorted(x.doc_id for x in qa.list()) == sorted([r.doc_id, h.doc_id])


def test_every_failure_has_its_reason_and_nothing_stored_is_lost(site: NewsServer, make_qa) -> None:
    site.route("/gone", Reply("gone", status=404, content_type="text/plain"))
    site.route("/broken", Reply("oops", status=500, content_type="text/plain"))
    site.route("/busy", Reply("slow down", status=429, content_type="text/plain",
                              headers={"Retry-After": "0"}))
    site.route("/slow", Reply(page("Slow", HARBOUR), delay=3))
    site.route("/huge", Reply(size=50_000_000))
    site.route("/logo.png", Reply(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, content_type="image/png"))
    site.route("/private/memo", Reply(page("Memo", VOLCANO)))
    site.route("/empty", Reply("<html><body><nav><a href='/'>Home</a></nav></body></html>"))
    for i in range(8):
        site.route(f"/hop/{i}", Reply(status=302, headers={"Location": f"/hop/{i + 1}"}))
    site.route("/loop/a", Reply(status=301, headers={"Location": "/loop/b"}))
    site.route("/loop/b", Reply(status=301, headers={"Location": "/loop/a"}))

    qa = make_qa(HashEmbedder(), **loopback(fetch_timeout=0.5, fetch_max_bytes=1_000_000))
    [first] = qa.ingest_urls([site.url("/news/libraries")])
    assert first.status == "added"

    bad = {
        "/gone": "HTTP 404 Not Found",
        "/broken": "HTTP 500 Internal Server Error (after 3 tries)",
        "/busy": "HTTP 429 Too Many Requests (after 3 tries)",
        "/slow": "timed out after 0.5 s",
        "/huge": "larger than 1 MB (50 MB)",
        "/logo.png": "not a web page (image/png)",
        "/private/memo": "disallowed by robots.txt",
        "/hop/0": "more than 5 redirects",
        "/loop/a": "more than 5 redirects (a redirect loop)",
    }
    urls = [site.url(p) for p in bad] + [site.url("/news/harbour"), site.url("/empty"), "ftp://127.0.0.1/x"]
    results = {r.path: r for r in qa.ingest_urls(urls)}
    assert len(results) == len(urls), "one result per URL"
    for path, reason in bad.items():
        r = results[site.url(path)]
        assert (r.status, r.reason) == ("failed", reason), path
    assert results[site.url("/news/harbour")].status == "added", "the good URL among the bad is stored"
    assert results[site.url("/empty")].status == "failed"
    assert "no article text" in results[site.url("/empty")].reason
    assert results["ftp://127.0.0.1/x"].reason == "refused: only http and https URLs are fetched, not ftp"

    assert len(site.hits("/broken")) == 3 and len(site.hits("/busy")) == 3, "retried, then reported"
    assert len(site.hits("/gone")) == 1, "a 404 is not retried"
    assert site.hits("/private/memo") == [], "robots.txt is read before the page"
    assert site.sent["/huge"] < 25_000_000, "the 50 MB body is not read to its end"

    # What was stored before is still there and still answers.
    ids = {a.doc_id for a in qa.list()}
    assert ids == {first.doc_id, results[site.url("/news/harbour")].doc_id}
    hits = qa.retrieve("How much money does the plan add for public libraries?").evidence
    assert hits and hits[0].sentence.doc_id == first.doc_id


def test_a_body_past_the_cap_is_dropped_while_streaming(site: NewsServer) -> None:
    # No Content-Length: the cap is found while reading, and reading stops there.
    site.route("/stream", Reply(size=50_000_000, content_length=False))
    with Fetcher(Settings(**loopback(fetch_max_bytes=1_000_000))) as f:
        got = f.fetch(site.url("/stream"))
    assert (got.status, got.reason) == ("failed", "larger than 1 MB")
    assert site.sent.get("/stream", 0) < 25_000_000


def test_redirects_are_followed_and_the_final_url_kept(site: NewsServer, make_qa) -> None:
    site.route("/old/harbour", Reply(status=301, headers={"Location": "/moved/harbour"}))
    site.route("/moved/harbour", Reply(status=307, headers={"Location": site.url("/news/harbour")}))
    qa = make_qa(HashEmbedder(), **loopback())
    [r] = qa.ingest_urls([site.url("/old/harbour")])
    assert r.status == "added" and r.path == site.url("/old/harbour")
    assert r.doc_id == doc_id_for_url(site.url("/news/harbour")), "the id of the page it landed on"
    assert qa.get(r.doc_id).url == site.url("/news/harbour")


def test_retries_wait_as_the_server_asks(site: NewsServer) -> None:
    waits: list[float] = []
    site.route("/flaky", Reply("down", status=503, content_type="text/plain"), Reply(page("Back", HARBOUR)))
    site.route("/later", Reply("busy", status=429, content_type="text/plain", headers={"Retry-After": "7"}))
    site.route("/much-later", Reply("busy", status=429, content_type="text/plain",
                                    headers={"Retry-After": "3600"}))
    with Fetcher(Settings(**loopback(fetch_backoff=0.5)), sleep=waits.append) as f:
        assert f.fetch(site.url("/flaky")).ok
        assert waits == [0.5] and len(site.hits("/flaky")) == 2
        waits.clear()
        got = f.fetch(site.url("/later"))
        assert got.reason == "HTTP 429 Too Many Requests (after 3 tries)" and waits == [7.0, 7.0]
        waits.clear()
        got = f.fetch(site.url("/much-later"))
    assert got.reason == ("HTTP 429 Too Many Requests; the server asks to retry after 3600 s, "
                          "longer than the 30 s qa waits")
    assert waits == [] and len(site.hits("/much-later")) == 1


def test_the_per_host_delay_spaces_requests(site: NewsServer) -> None:
    waits: list[float] = []
    with Fetcher(Settings(**loopback(fetch_host_delay=2.0)), sleep=waits.append) as f:
        f.fetch(site.url("/news/harbour"))
        f.fetch(site.url("/news/volcano"))
    # robots.txt, then two pages: the second and third requests each wait for their turn (the
    # sleeps are not slept here, so the third waits for the second's slot too).
    assert len(waits) == 2 and 0 < waits[0] <= 2.0 < waits[1] <= 4.0


def test_conditional_get_and_robots_failures(site: NewsServer) -> None:
    site.route("/feed.xml", Reply("<rss version='2.0'><channel><title>t</title></channel></rss>",
                                  content_type="application/rss+xml", etag='"v1"'))
    with Fetcher(Settings(**loopback())) as f:
        first = f.fetch(site.url("/feed.xml"), "feed")
        assert first.ok and first.etag == '"v1"'
        again = f.fetch(site.url("/feed.xml"), "feed", etag=first.etag)
        assert again.status == "not_modified"
        assert site.hits("/feed.xml")[-1].headers["if-none-match"] == '"v1"'
        assert f.fetch(site.url("/news/harbour"), "feed").reason == "not a feed (text/html)"

    with NewsServer() as down:
        down.route("/robots.txt", Reply("down", status=500, content_type="text/plain"))
        down.route("/a", Reply(page("A", HARBOUR)))
        with Fetcher(Settings(**loopback())) as f:
            got = f.fetch(down.url("/a"))
        assert got.reason.startswith("robots.txt could not be read (HTTP 500 Internal Server Error")
        assert down.hits("/a") == []


# --- addresses --------------------------------------------------------------------------------
def test_private_addresses_are_refused_by_default(site: NewsServer, make_qa) -> None:
    qa = make_qa(HashEmbedder(), fetch_host_delay=0)
    [stored] = make_qa(HashEmbedder(), **loopback()).ingest_urls([site.url("/news/harbour")])
    assert stored.status == "added"
    site.requests.clear()
    with Fetcher(qa.settings) as f:
        reasons = {
            u: f.fetch(u).reason
            for u in (
                site.url("/news/libraries"),
                site.url("/news/libraries", host="localhost"),
                "http://10.0.0.5/admin",
                "http://192.168.1.1/",
                "http://[::1]:80/",
                "http://169.254.169.254/latest/meta-data/",
                "http://0.0.0.0/",
                "file:///etc/passwd",
            )
        }
    assert list(reasons.values()) == [
        "refused: 127.0.0.1 is a loopback address",
        "refused: localhost resolves to a loopback address 127.0.0.1",
        "refused: 10.0.0.5 is a private address",
        "refused: 192.168.1.1 is a private address",
        "refused: ::1 is a loopback address",
        "refused: 169.254.169.254 is the cloud metadata address",
        "refused: 0.0.0.0 is an unspecified address",
        "refused: only http and https URLs are fetched, not file",
    ]
    assert site.requests == [], "no request left for a refused address (not even robots.txt)"
    results = qa.ingest_urls([site.url("/news/libraries"), "http://10.0.0.5/admin"])
    assert [r.status for r in results] == ["failed", "failed"]
    assert qa.list() == [], "nothing was stored in this library"

    # The metadata address stays refused even where private addresses are allowed.
    with Fetcher(Settings(**loopback())) as f:
        reason = f.fetch("http://169.254.169.254/").reason
    assert reason == "refused: 169.254.169.254 is the cloud metadata address"


def test_a_redirect_to_a_private_address_is_refused(site: NewsServer, make_qa) -> None:
    # Only the test server's own address is allowed (as an intranet host would be): the hosts
    # it redirects to are checked like any other.
    site.route("/to-intranet", Reply(status=302, headers={"Location": "http://10.0.0.5/admin"}))
    site.route("/to-localhost", Reply(status=302,
                                      headers={"Location": site.url("/news/harbour", "localhost")}))
    site.route("/to-metadata", Reply(status=302, headers={"Location": "http://169.254.169.254/latest/"}))
    site.route("/to-file", Reply(status=302, headers={"Location": "file:///etc/passwd"}))
    qa = make_qa(HashEmbedder(), fetch_host_delay=0, allow_private_hosts="127.0.0.1")
    results = qa.ingest_urls([site.url(p) for p in ("/to-intranet", "/to-localhost", "/to-metadata",
                                                     "/to-file", "/news/volcano")])
    assert [r.reason for r in results] == [
        "redirected to http://10.0.0.5/admin: refused: 10.0.0.5 is a private address",
        f"redirected to {site.url('/news/harbour', 'localhost')}: refused: localhost resolves to a "
        "loopback address 127.0.0.1",
        "redirected to http://169.254.169.254/latest/: refused: 169.254.169.254 is the cloud "
        "metadata address",
        "redirected to file:///etc/passwd: refused: only http and https URLs are fetched, not file",
        "",
    ]
    assert results[-1].status == "added"
    assert site.hits("/news/harbour") == [], "the redirect to localhost was not followed"


def test_the_connection_goes_to_the_checked_address(
    site: NewsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A DNS answer that changes between lookups (rebinding): the first lookup, the one checked,
    # is the address connected to, and the name stays in the Host header. The resolver is
    # replaced because a test cannot run a DNS server that its resolver would ask.
    real = socket.getaddrinfo
    answers = ["127.0.0.1", "10.0.0.5"]
    asked: list[str] = []

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "news.test":
            asked.append(host)
            ip = answers.pop(0) if len(answers) > 1 else answers[0]
            return real(ip, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings = Settings(fetch_host_delay=0, fetch_robots=False, allow_private_hosts="news.test")
    with Fetcher(settings) as f:
        got = f.fetch(site.url("/news/harbour", host="news.test"))
    assert got.ok, got.reason
    assert asked == ["news.test"], "resolved once, by the check; the connection used that answer"
    assert site.hits("/news/harbour")[0].headers["host"] == f"news.test:{site.port}"

    # A name that resolves to a private address is refused when it is not an allowed host.
    answers[:] = ["10.0.0.5"]
    with Fetcher(Settings(fetch_host_delay=0)) as f:
        reason = f.fetch("http://news.test/").reason
    assert reason == "refused: news.test resolves to a private address 10.0.0.5"


def test_https_to_the_pinned_address_still_checks_the_certificate_of_the_name(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection goes to the checked address, while TLS (SNI and the certificate check)
    # keeps the host name: the right certificate passes, another name's is refused.
    server_tls, client_tls = tls_contexts(tmp_path, "news.test")
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in ("news.test", "other.test") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings = Settings(**loopback(fetch_robots=False))
    with NewsServer(tls=server_tls) as secure:
        secure.route("/news/harbour", Reply(page("Storm damages Port Ellis harbour", HARBOUR)))
        with Fetcher(settings, verify=client_tls) as f:
            good = f.fetch(secure.url("/news/harbour", host="news.test"))
            bad = f.fetch(secure.url("/news/harbour", host="other.test"))
    assert good.ok, good.reason
    assert bad.status == "failed" and bad.reason.startswith("TLS error with other.test")
    assert len(secure.hits("/news/harbour")) == 1


def test_vague_content_types_are_judged_by_the_body(site: NewsServer) -> None:
    site.route("/plain-feed", Reply("<?xml version='1.0'?><rss version='2.0'><channel/></rss>",
                                    content_type="text/plain"))
    site.route("/untyped-page", Reply(page("Untyped", HARBOUR), content_type=None))
    site.route("/notes.txt", Reply("Just some notes, not a page.", content_type="text/plain"))
    site.route("/data.json", Reply('{"a": 1}', content_type="application/json"))
    with Fetcher(Settings(**loopback())) as f:
        assert f.fetch(site.url("/plain-feed"), "feed").ok
        assert f.fetch(site.url("/untyped-page")).ok
        assert f.fetch(site.url("/notes.txt")).reason == "not a web page (text/plain)"
        assert f.fetch(site.url("/notes.txt"), "feed").reason == "not a feed (text/plain)"
        assert f.fetch(site.url("/data.json")).reason == "not a web page (application/json)"


def test_a_host_that_does_not_resolve_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as clock

    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.test":
            clock.sleep(3)
        if host in ("slow.test", "missing.test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with Fetcher(Settings(**loopback(fetch_timeout=0.3))) as f:
        assert f.fetch("http://missing.test/a").reason == "could not resolve the host missing.test"
        assert f.fetch("http://slow.test/a").reason == "timed out resolving the host slow.test after 0.3 s"
