"""The web app's HTML and Markdown, uploads' names and launch options (no model, no server)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from qa.answer.conversation import Turn
from qa.errors import ConfigError
from qa.types import Answer, Article, ArticleInfo, Citation, Claim, IngestResult, Summary
from qa.web.app import launch_options
from qa.web.render import (
    article_html,
    conversation_markdown,
    ingest_results_html,
    library_html,
    summary_html,
    transcript_html,
)
from qa.web.uploads import safe_upload_name

pytestmark = pytest.mark.unit

EVIL = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
TEXT = f"First sentence about the {EVIL} bridge. {SCRIPT} Second sentence about the budget."


def _article() -> Article:
    return Article(
        doc_id='evil"id',
        title="<b>x</b>",
        source="<i>src</i>",
        published_at="2023-09-12T08:00:00",
        byline=SCRIPT,
        url="javascript:alert(1)",
        text=TEXT,
        n_sentences=2,
    )


def _cite(n: int, sentence: str, text: str = TEXT, doc_id: str = 'evil"id') -> Citation:
    start = text.index(sentence)
    return Citation(
        n=n,
        doc_id=doc_id,
        title="<b>x</b>",
        source="<i>src</i>",
        published_at="2023-09-12",
        sentence_id=f"{doc_id}#{n - 1}",
        start=start,
        end=start + len(sentence),
        text=sentence,
    )


S1 = f"First sentence about the {EVIL} bridge."
S2 = "Second sentence about the budget."


def _no_markup(out: str) -> None:
    """The hostile strings never appear unescaped, and no tag but ours was produced."""
    assert EVIL not in out and SCRIPT not in out and "<b>x</b>" not in out
    tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", out))
    assert tags <= {
        "div",
        "span",
        "button",
        "mark",
        "h3",
        "ol",
        "li",
        "ul",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "a",
    }, tags


def test_article_is_escaped_and_cited_spans_are_marked() -> None:
    out = article_html(_article(), [_cite(1, S1), _cite(2, S2)], active=2, heading="Source [2]")
    _no_markup(out)
    marks = re.findall(r'<mark class="([^"]+)"[^>]*>(.*?)</mark>', out, re.S)
    assert [(cls, html.unescape(body)) for cls, body in marks] == [
        ("qa-hl", S1),
        ("qa-hl qa-active", S2),
    ]
    assert html.escape(SCRIPT) in out  # the rest of the text is there, as text
    assert "href" not in out  # a javascript: URL is not made a link
    assert 'data-doc="evil&quot;id"' in out


def test_article_text_round_trips_exactly() -> None:
    out = article_html(_article(), [_cite(1, S2)], active=1)
    body = out.split('<div class="qa-article-body">', 1)[1].rsplit("</div></div>", 1)[0]
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == TEXT


def test_stale_citation_is_found_again_or_reported() -> None:
    moved = _cite(1, S2).model_copy(update={"start": 0, "end": 5})
    out = article_html(_article(), [moved], active=1)
    assert html.escape(S2) in re.findall(r"<mark[^>]*>(.*?)</mark>", out)[0]
    gone = _cite(1, S2).model_copy(update={"text": "A sentence that was edited away."})
    out = article_html(_article(), [gone], active=1)
    assert "<mark" not in out and "no longer in this article" in out


def test_http_links_only() -> None:
    ok = _article().model_copy(update={"url": "https://example.org/a?b=1&c=2"})
    assert 'href="https://example.org/a?b=1&amp;c=2"' in article_html(ok)
    assert "href" not in article_html(_article())


def test_transcript_chips_sources_and_abstention() -> None:
    answer = Answer(
        question="q",
        answer=f"{S1} [1] {S2} [2] In [2020] nothing.",
        abstained=False,
        citations=[_cite(1, S1), _cite(2, S2)],
    )
    abstained = Answer(
        question="q2",
        answer="The articles do not answer this.",
        abstained=True,
        related=[_cite(1, S2)],
    )
    turns = [Turn("q <b>", "q <b>", answer), Turn("q2", "q2 standalone", abstained)]
    out = transcript_html(turns, pending=("next <i>", None, f"so far {EVIL}"))
    _no_markup(out)
    assert "q &lt;b&gt;" in out and "next &lt;i&gt;" in out
    chips = re.findall(r'data-kind="(\w+)" data-turn="(\d+)" data-n="(\d+)"', out)
    assert ("answer", "0", "1") in chips and ("answer", "0", "2") in chips
    assert ("related", "1", "1") in chips
    assert "[2020]" in out  # a bracketed year is not a citation
    assert "Not found in the articles" in out and "searched as: q2 standalone" in out


def test_unsupported_claims_are_marked_inline() -> None:
    answer = Answer(
        question="q",
        answer="The bridge reopens in May [1]. The mayor resigned [2].",
        abstained=False,
        mode="llm",
        citations=[_cite(1, S1), _cite(2, S2)],
        claims=[
            Claim(text="The bridge reopens in May.", citations=[1], support="supported", score=0.9),
            Claim(text="The mayor resigned.", citations=[2], support="unsupported", score=0.1),
        ],
        tokens={"prompt": 900, "completion": 40, "total": 940},
        cost_usd=0.00042,
    )
    out = transcript_html([Turn("q", "q", answer)])
    marked = re.findall(r'<span class="qa-claim qa-unsupported"[^>]*>(.*?)<span class="qa-claim-tag"', out)
    assert len(marked) == 1 and marked[0].startswith("The mayor resigned")
    assert "qa-claim qa-supported" not in out
    assert "940 tokens" in out and "$0.0004" in out


def test_summary_chips_use_their_own_kind() -> None:
    s = Summary(doc_ids=['evil"id'], summary=f"{S1} [1]", citations=[_cite(1, S1)])
    out = summary_html(s)
    _no_markup(out)
    assert 'data-kind="summary"' in out


def test_library_and_ingest_results_are_escaped() -> None:
    row = ArticleInfo(doc_id="a\"'<>", title=EVIL, source=SCRIPT, published_at=None, n_sentences=3)
    out = library_html([row], 1)
    _no_markup(out)
    assert 'data-doc="a&quot;&#x27;&lt;&gt;"' in out
    assert "empty" in library_html([], 0) and "No article matches" in library_html([], 4)
    res = ingest_results_html([IngestResult(path=f"{EVIL}.txt", status="failed", reason=SCRIPT)], note="n")
    _no_markup(res)
    assert "1 failed" in res


def test_ingest_results_show_warnings_escaped() -> None:
    warning = f"published_at {SCRIPT!r} is not an ISO 8601 date or datetime"
    r = IngestResult(path="a.jsonl", doc_id="a1", status="added", n_sentences=2, warnings=[warning])
    out = ingest_results_html([r])
    _no_markup(out)
    assert f'<div class="qa-warn">warning: {html.escape(warning)}</div>' in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.txt", "notes.txt"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("<img src=x onerror=alert(1)>.html", "img_src_x_onerror_alert_1.html"),
        ("My Report (final).MD", "My_Report_final.md"),
        (".hidden", "hidden"),
        ("....", "upload"),
        ("weird.<x>", "weird._x"),
        ("a" * 300 + ".jsonl", "a" * 120 + ".jsonl"),
    ],
)
def test_safe_upload_name(name: str, expected: str) -> None:
    assert safe_upload_name(name, set()) == expected


def test_safe_upload_names_never_collide() -> None:
    taken: set[str] = set()
    names = [safe_upload_name(n, taken) for n in ("a b.txt", "a_b.txt", "A B.txt", "dir/a b.txt")]
    assert names == ["a_b.txt", "a_b-2.txt", "A_B-3.txt", "a_b-4.txt"]
    assert all("/" not in n and not n.startswith(".") for n in names)


def test_markdown_export_keeps_citations_per_turn() -> None:
    a1 = Answer(question="q1", answer=f"{S1} [1]", abstained=False, citations=[_cite(1, S1)])
    a2 = Answer(
        question="q2", answer="The articles do not answer this.", abstained=True, related=[_cite(1, S2)]
    )
    md = conversation_markdown([Turn("q1", "q1", a1), Turn("and q2?", "q2 about x", a2)])
    s1 = "First sentence about the &lt;img src=x onerror=alert\\(1\\)&gt; bridge."  # escaped, see below
    assert md.index("## 1. q1") < md.index(s1) < md.index("## 2. and q2?")
    assert f"[1] “{s1}” — &lt;b&gt;x&lt;/b&gt;, &lt;i&gt;src&lt;/i&gt;, 2023-09-12" in md
    assert "_Searched as: q2 about x_" in md and "Closest sentences:" in md


HOSTILE_MD = {
    "script": "<script>alert(1)</script>",
    "image handler": "<img src=x onerror=alert(1)>",
    "javascript link": "[click](javascript:alert(1))",
    "image": "![x](https://evil.example/p.png)",
    "code": "`rm -rf /`",
    "heading": "# Not a heading",
    "list": "1. not a list",
    "reference": "[1]: javascript:alert(1)",
}


@pytest.mark.parametrize("name", list(HOSTILE_MD))
def test_markdown_export_escapes_outside_text(name: str) -> None:
    # Titles, sources, doc ids, sentences, questions and answers are article or user text: the
    # Markdown export must show them, never render them as HTML, links, images or blocks.
    evil = HOSTILE_MD[name]
    sentence = f"Before {evil} after."
    cite = Citation(n=1, doc_id=f"id{evil}", title=evil, source=evil, published_at=None,
                    sentence_id="x#0", start=0, end=len(sentence), text=sentence)
    answer = Answer(question=evil, answer=f"{evil}\n\n{sentence} [1]", abstained=False,
                    citations=[cite],
                    claims=[Claim(text=evil, citations=[1], support="unsupported", score=0.1)])
    md = conversation_markdown([Turn(evil, f"{evil} standalone", answer)])
    # Viewers differ (some follow javascript: links): no link, image or definition syntax is left.
    assert "](" not in md and "<" not in md and not re.search(r"^\s*\[[^\]]*\]:", md, re.M)
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(md)
    tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", rendered))
    assert tags <= {"h1", "h2", "p", "ul", "li", "em"}, tags  # no script, img, a, code, ol, h1 of theirs
    assert rendered.count("<h1>") == 1 and rendered.count("<h2>") == 1 and rendered.count("<li>") == 2
    shown = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    assert f"Before {evil} after." in shown and f"1. {evil}" in shown  # read as written


class _FakeSettings:
    host = "127.0.0.1"
    port = 7861
    max_file_bytes = 1000
    auth: str | None = None
    api_token: str | None = None
    feed_refresh_minutes = 0.0


class _FakeQA:
    settings = _FakeSettings()


def test_launch_options_auth() -> None:
    qa = _FakeQA()
    qa.settings = _FakeSettings()
    opts = launch_options(qa)  # type: ignore[arg-type]
    assert opts["server_name"] == "127.0.0.1" and "auth" not in opts
    assert opts["max_file_size"] == 1000
    qa.settings.auth = "alice:s3:cret"
    assert launch_options(qa)["auth"] == ("alice", "s3:cret")  # type: ignore[arg-type]
    for bad in ("alice", ":pw", "alice:"):
        qa.settings.auth = bad
        with pytest.raises(ConfigError):
            launch_options(qa)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "auth", "token", "warned"),
    [
        ("0.0.0.0", None, "t", True),
        ("0.0.0.0", "u:p", None, True),  # the web app has a login, the APIs no token
        ("0.0.0.0", "u:p", "t", False),
        ("127.0.0.1", None, None, False),
        ("localhost", None, None, False),
        ("::1", None, None, False),
    ],
)
def test_serve_warns_when_exposed_without_login(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    auth: str | None,
    token: str | None,
    warned: bool,
) -> None:
    import uvicorn

    import qa.api.server as server

    ran: dict = {}
    monkeypatch.setattr(server, "build_server", lambda qa: "app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(kw, app=app))
    qa = _FakeQA()
    qa.settings = _FakeSettings()
    qa.settings.host, qa.settings.auth = host, auth
    qa.settings.api_token = token
    server.serve(qa)  # type: ignore[arg-type]
    assert ran["host"] == host and ran["app"] == "app"
    assert ("warning" in capsys.readouterr().err) is warned


def test_module_documents_its_queue() -> None:
    import qa.web.app as ui

    doc = ui.__doc__ or ""
    assert "ANSWER_CONCURRENCY = 8" in doc and ui.ANSWER_CONCURRENCY == 8
    assert Path(ui.__file__).name == "app.py"
