"""Web page extraction (qa.ingest.web): main text without page furniture, metadata, the feed's
date as a fallback, refusals naming the page, and stable doc ids from URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import InputError
from qa.ingest.readers import finish, read_file
from qa.ingest.transfer import export_library, import_library
from qa.ingest.web import doc_id_for_url, extract_page, normalize_url
from qa.types import Article

pytestmark = pytest.mark.unit

PARAGRAPHS = [
    "The harbour council approved the new ferry budget on Monday after a debate that lasted "
    "most of the afternoon and drew a crowd of residents to the town hall.",
    "The budget pays for two electric ferries, a new pier at the north landing and longer "
    "evening timetables, councillors said, and it will be reviewed again in the spring.",
    "Opponents argued that the money should have gone to road repairs first, but the vote "
    "passed by nine to four with two abstentions, the clerk announced.",
    "The first of the new ferries is expected to enter service in the autumn of next year, "
    "according to the port authority, which will run both vessels.",
]


def news_page(
    *,
    head_extra: str = "",
    date_meta: bool = True,
    byline: bool = True,
    article_extra: str = "",
) -> str:
    """A realistic news page: site menu, related links, an article, reader comments, a footer."""
    date = (
        '<meta property="article:published_time" content="2024-03-05T09:30:00+01:00">'
        if date_meta
        else ""
    )
    author = '<meta name="author" content="Maria Lindqvist">' if byline else ""
    body = "\n".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"""<!doctype html><html lang="en"><head>
<title>Council approves ferry budget | Harbour Gazette</title>
<meta property="og:site_name" content="Harbour Gazette">
<meta property="og:title" content="Council approves ferry budget">
<link rel="canonical" href="https://www.harbour-gazette.example/news/ferry-budget">
{date}{author}{head_extra}
</head><body>
<header class="site-header"><a href="/">Harbour Gazette</a>
  <ul class="menu"><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li>
  <li><a href="/weather">Weather</a></li></ul></header>
<nav class="main-nav"><a href="/politics">Politics</a> <a href="/business">Business</a></nav>
<main><article>
<h1>Council approves ferry budget</h1>
{body}
{article_extra}
</article>
<aside class="related"><h3>Related stories</h3><ul>
  <li><a href="/a">Bridge repairs delayed again</a></li>
  <li><a href="/b">Lighthouse to reopen for visitors</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments</h3>
  <div class="comment"><p>MEANWHILE the roads are full of potholes, typical council nonsense!!</p></div>
  <div class="comment"><p>Great news for commuters, finally something sensible from them.</p></div>
</section></main>
<footer><p>Copyright 2024 Harbour Gazette. All rights reserved.</p>
<a href="/privacy">Privacy policy</a></footer>
</body></html>"""


def test_main_text_without_menus_comments_or_related_links() -> None:
    a = extract_page(news_page(), url="https://www.harbour-gazette.example/news/ferry-budget?utm_source=rss")
    for p in PARAGRAPHS:
        assert p in a.text
    for junk in ("Sport", "Weather", "Politics", "Related stories", "Bridge repairs", "Lighthouse",
                 "potholes", "Great news for commuters", "Copyright", "Privacy policy"):
        assert junk not in a.text, junk
    # one paragraph per block, and the headline is the title, not the first paragraph
    assert a.text.split("\n\n") == PARAGRAPHS
    # the page's comments are real comments to an extractor: trafilatura's defaults keep them
    import trafilatura

    assert "potholes" in (trafilatura.extract(news_page()) or "")


def test_metadata_title_author_date_site_and_canonical() -> None:
    url = "https://www.harbour-gazette.example/news/ferry-budget?utm_source=rss#top"
    a = extract_page(news_page(), url=url)
    assert a.title == "Council approves ferry budget"
    assert a.byline == "Maria Lindqvist"
    assert a.source == "Harbour Gazette"
    assert a.published_at == "2024-03-05T09:30:00+01:00"  # the time is kept when the page states it
    assert a.url == url
    assert a.canonical_url == "https://www.harbour-gazette.example/news/ferry-budget"
    # the id comes from the canonical URL, so the feed's tracking link and the page agree
    assert a.doc_id == doc_id_for_url("https://www.harbour-gazette.example/news/ferry-budget")
    stored = finish(a)
    assert stored.published_at == "2024-03-05T09:30:00+01:00" and stored.content_hash


def test_relative_canonical_is_made_absolute_and_source_falls_back_to_host() -> None:
    page = news_page().replace('href="https://www.harbour-gazette.example/news/ferry-budget"',
                               'href="/news/ferry-budget"')
    page = page.replace('<meta property="og:site_name" content="Harbour Gazette">', "")
    page = page.replace(" | Harbour Gazette</title>", "</title>")
    a = extract_page(page, url="http://News.Example.org/story?id=7")
    assert a.canonical_url == "http://News.Example.org/news/ferry-budget"
    assert a.source in ("news.example.org", "News.Example.org")


def test_tables_and_lists_in_the_article_are_kept_one_row_or_item_a_paragraph() -> None:
    table = ("<table><tr><th>Route</th><th>Crossings a day</th></tr>"
             "<tr><td>North landing</td><td>14</td></tr><tr><td>Old harbour</td><td>9</td></tr></table>"
             "<ul><li>Two electric ferries</li><li>A new pier</li></ul>")
    a = extract_page(news_page(article_extra=table))
    paragraphs = a.text.split("\n\n")
    assert "North landing | 14" in paragraphs and "Old harbour | 9" in paragraphs
    assert "Two electric ferries" in paragraphs and "A new pier" in paragraphs
    assert not any(p.startswith(("|", "- ")) for p in paragraphs)


def test_date_found_in_the_text_when_no_meta_tag() -> None:
    page = news_page(date_meta=False, article_extra="<p class='date'>Published 12 February 2024</p>")
    a = extract_page(page)
    assert a.published_at == "2024-02-12"


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [
        ("2024-01-31", "2024-01-31"),
        ("Wed, 31 Jan 2024 08:15:00 GMT", "2024-01-31T08:15:00+00:00"),  # RSS's RFC 822
        ("2024-01-31T08:15:00Z", "2024-01-31T08:15:00+00:00"),
    ],
)
def test_feed_date_is_used_when_the_page_has_none(fallback: str, expected: str) -> None:
    page = news_page(date_meta=False)
    assert extract_page(page, fallback_date=fallback).published_at == expected
    assert extract_page(page).published_at is None
    # a page's own date wins over the feed's
    assert extract_page(news_page(), fallback_date=fallback).published_at.startswith("2024-03-05")


def test_a_page_without_article_text_is_refused_naming_it() -> None:
    empty = """<html><head><title>Loading</title><script>render()</script></head>
    <body><nav><a href="/">Home</a></nav><div id="app"></div><noscript>Enable JavaScript</noscript>
    </body></html>"""
    url = "https://spa.example/article/42"
    with pytest.raises(InputError, match=r"https://spa\.example/article/42: no article text"):
        extract_page(empty, url=url)
    with pytest.raises(InputError, match="my-page: "):
        extract_page(empty, doc_id="my-page")
    with pytest.raises(InputError, match="empty page"):
        extract_page("   ", url=url)


def test_bytes_are_decoded_by_the_declared_charset() -> None:
    text = "Le café crème coûte 3 € depuis lundi, a déclaré le propriétaire du café de la gare. " * 4
    page = (f'<html><head><meta charset="windows-1252"><title>Prix</title></head>'
            f"<body><article><p>{text}</p></article></body></html>")
    a = extract_page(page.encode("cp1252"), doc_id="prix")
    assert "café crème coûte 3 €" in a.text


def test_doc_id_for_url_normalises_spellings() -> None:
    base = doc_id_for_url("https://example.com/news/story-1?page=2")
    for same in (
        "HTTPS://EXAMPLE.COM/news/story-1?page=2",
        "https://example.com:443/news/story-1?page=2",
        "https://example.com/news/story-1?page=2#comments",
        "https://example.com/news/story-1?utm_source=rss&utm_medium=feed&page=2",
        "https://example.com/news/story-1?page=2&fbclid=abc&gclid=xyz",
        "  https://example.com/news/story-1?page=2  ",
    ):
        assert doc_id_for_url(same) == base, same
    # the path is case-sensitive and other parameters name other pages
    assert doc_id_for_url("https://example.com/News/story-1?page=2") != base
    assert doc_id_for_url("https://example.com/news/story-1?page=3") != base
    assert doc_id_for_url("http://example.com/news/story-1?page=2") != base
    assert base.startswith("example.com-")
    assert normalize_url("HTTP://Example.com") == "http://example.com/"
    with pytest.raises(InputError):
        doc_id_for_url("  ")


def test_saved_html_file_goes_through_the_extractor(tmp_path: Path) -> None:
    path = tmp_path / "ferry budget.html"
    path.write_text(news_page(), encoding="utf-8")
    (a,) = list(read_file(path, 1_000_000))
    assert isinstance(a, Article), a
    assert a.doc_id == "ferry_budget"  # a saved file keeps its name as its id
    assert a.text.split("\n\n") == PARAGRAPHS
    assert a.canonical_url == "https://www.harbour-gazette.example/news/ferry-budget"
    assert a.url == a.canonical_url and a.byline == "Maria Lindqvist"
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><nav>Home</nav></body></html>", encoding="utf-8")
    (failure,) = list(read_file(empty, 1_000_000))
    assert not isinstance(failure, Article)
    assert failure.path == str(empty) and failure.reason.startswith("no article text found")


def test_url_byline_and_canonical_are_stored_read_back_and_exported(
    make_qa, fake_embedder, tmp_path: Path
) -> None:
    page = tmp_path / "ferry.html"
    page.write_text(news_page(), encoding="utf-8")
    qa = make_qa(fake_embedder)
    (result,) = qa.ingest([page])
    assert result.status == "added", result
    got = qa.get("ferry")
    assert got.canonical_url == "https://www.harbour-gazette.example/news/ferry-budget"
    assert got.url == got.canonical_url and got.byline == "Maria Lindqvist"
    assert qa.ingest([page])[0].status == "unchanged"

    path = tmp_path / "library.jsonl"
    assert export_library(qa, path) == 1
    other = make_qa(fake_embedder)
    assert [r.status for r in import_library(other, path)] == ["added"]
    back = other.get("ferry")
    assert (back.url, back.byline, back.canonical_url, back.published_at) == (
        got.url, got.byline, got.canonical_url, got.published_at)
