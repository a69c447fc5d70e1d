"""The MCP server through the SDK's own client: `qa mcp` spawned over stdio, and the streamable
HTTP transport mounted at /mcp of a real `qa serve`, over a library holding the seed article
(real model, real Chroma)."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.integration.test_rest_api import NEWS, RIVERTON_Q
from tests.support.paths import SEED
from tests.support.qa_server import qa_env, qa_serve, run_qa

pytestmark = pytest.mark.integration

QUESTION = "Why is Armenia drifting from Moscow?"
READ_TOOLS = {"ask", "search", "summarize", "timeline", "compare", "get_article", "list_articles"}
QA_BIN = str(Path(sys.executable).with_name("qa"))


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QA_HOME holding the seed article, ingested by `qa ingest` with the real model."""
    home = tmp_path_factory.mktemp("mcp") / "home"
    got = run_qa(qa_env(home), "ingest", "--quiet", str(SEED))
    assert got.returncode == 0, got.stderr
    return home


@pytest.fixture(scope="module")
def cli_answer(library: Path) -> dict[str, Any]:
    """What `qa ask --json` answers to the seed question: the citations every face must give."""
    got = run_qa(qa_env(library), "ask", "--json", QUESTION)
    assert got.returncode == 0, got.stderr
    answer = json.loads(got.stdout)
    assert not answer["abstained"] and answer["citations"], answer
    return answer


def cited(citations: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    return [(c["doc_id"], c["sentence_id"], c["start"], c["end"]) for c in citations]


def over_stdio(home: Path, body: Callable[[Client], Awaitable[None]], errlog: TextIO,
               *args: str, **env: str) -> None:
    """Spawn `qa mcp ARGS` over `home` and run `body` with a connected client."""
    params = StdioServerParameters(command=QA_BIN, args=["mcp", *args], env=qa_env(home, **env))

    async def main() -> None:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            await body(client)

    anyio.run(main)


@pytest.fixture
def errlog(tmp_path: Path):  # noqa: ANN201 - the spawned server's stderr, shown on failure
    path = tmp_path / "mcp-stderr.log"
    with open(path, "w") as f:
        yield f
    print(path.read_text()[-3000:])


def error_text(result: Any) -> str:
    assert result.is_error, result
    return " ".join(c.text for c in result.content if getattr(c, "text", None))


async def check_read_tools(client: Client, cli_answer: dict[str, Any]) -> None:
    """List the tools and call each one, with good and with bad arguments."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == READ_TOOLS  # read-only by default: no ingest tool
    for tool in listed.values():
        assert tool.output_schema, f"{tool.name} has no typed result"
        assert tool.annotations and tool.annotations.read_only_hint

    # ask: the same citations, in the same order, as `qa ask --json`
    r = await client.call_tool("ask", {"question": QUESTION})
    assert not r.is_error, r.content
    ask = r.structured_content
    assert ask["answer"] == cli_answer["answer"]
    assert cited(ask["citations"]) == cited(cli_answer["citations"])
    assert all(c["text"] and c["title"] for c in ask["citations"])
    doc_id = ask["citations"][0]["doc_id"]

    # search: the evidence an answer cites, scored, without an answer
    r = await client.call_tool("search", {"question": QUESTION})
    assert not r.is_error, r.content
    search = r.structured_content
    assert {c["sentence_id"] for c in search["evidence"]} == {
        c["sentence_id"] for c in cli_answer["citations"]}
    scores = [c["score"] for c in search["evidence"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert "answer" not in search

    r = await client.call_tool("search", {"question": QUESTION, "k": 1})
    assert len(r.structured_content["evidence"]) == 1

    # summarize: cited sentences of the article
    r = await client.call_tool("summarize", {"doc_ids": [doc_id]})
    assert not r.is_error, r.content
    summary = r.structured_content
    assert summary["doc_ids"] == [doc_id] and summary["citations"]
    assert all(c["doc_id"] == doc_id for c in summary["citations"])

    # get_article: its sentences' spans point into its text
    r = await client.call_tool("get_article", {"doc_id": doc_id})
    assert not r.is_error, r.content
    article = r.structured_content
    assert article["doc_id"] == doc_id and len(article["sentences"]) > 5
    for s in article["sentences"]:
        assert article["text"][s["start"]:s["end"]] == s["text"]
    for c in ask["citations"]:
        assert article["text"][c["start"]:c["end"]] == c["text"]

    # list_articles: with and without a filter that excludes the seed
    r = await client.call_tool("list_articles", {})
    assert [a["doc_id"] for a in r.structured_content["articles"]] == [doc_id]
    r = await client.call_tool("list_articles", {"since": "2100-01-01"})
    assert r.structured_content == {"total": 0, "articles": []}

    # bad arguments: a tool error naming the argument and the problem, never a traceback
    bad = [
        ("ask", {"question": QUESTION, "k": 0}, ["k", "greater than or equal to 1"]),
        ("ask", {"question": QUESTION, "since": "last week"}, ["since", "date"]),
        ("ask", {"question": "?!"}, ["no words"]),
        ("ask", {"question": QUESTION, "mode": "telepathy"}, ["mode"]),
        ("ask", {}, ["question", "required"]),
        ("search", {"question": ""}, ["question is empty"]),
        ("get_article", {"doc_id": "no-such-article"}, ["No article with id 'no-such-article'"]),
        ("summarize", {}, ["doc_ids", "query"]),
        ("summarize", {"doc_ids": ["no-such-article"]}, ["no-such-article"]),
        ("list_articles", {"limit": 0}, ["limit"]),
        ("ask", {"question": QUESTION, "as_of": "soon"}, ["as_of", "date"]),
        ("timeline", {"query": "Armenia", "limit": 0}, ["limit"]),
        ("timeline", {}, ["query", "required"]),
        ("compare", {}, ["query", "doc_ids"]),
        ("compare", {"doc_ids": [doc_id]}, ["two or more"]),
        ("compare", {"doc_ids": ["no-such-article", doc_id]}, ["no-such-article"]),
        ("ingest_text", {"text": "x"}, ["Unknown tool"]),
    ]
    for name, args, words in bad:
        message = error_text(await client.call_tool(name, args))
        for word in words:
            assert word.lower() in message.lower(), (name, args, message)
        assert "Traceback" not in message


def test_stdio_tools(library: Path, cli_answer: dict[str, Any], errlog: TextIO) -> None:
    over_stdio(library, lambda client: check_read_tools(client, cli_answer), errlog)


@pytest.fixture(scope="module")
def news_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QA_HOME holding the dated NEWS articles (one story over three months, two outlets
    disagreeing on a number), ingested by `qa ingest`."""
    root = tmp_path_factory.mktemp("mcp-news")
    articles = root / "news.jsonl"
    articles.write_text("".join(json.dumps(a) + "\n" for a in NEWS))
    got = run_qa(qa_env(root / "home"), "ingest", "--quiet", str(articles))
    assert got.returncode == 0, got.stderr
    return root / "home"


async def check_news_tools(client: Client) -> None:
    """`timeline` in date order, `compare` finding the planted conflict, `as_of` on ask."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "as_of" in tools["ask"].input_schema["properties"]
    assert {"events", "query"} <= set(tools["timeline"].output_schema["properties"])  # type: ignore[index]

    r = await client.call_tool("timeline", {"query": "Riverton bridge repairs"})
    assert not r.is_error, r.content
    events = r.structured_content["events"]
    dates = [e["date"] for e in events]
    assert len(dates) >= 3 and dates == sorted(dates)
    order = list(dict.fromkeys(c["doc_id"] for e in events for c in e["citations"]
                               if c["doc_id"].startswith("riverton")))
    assert order == ["riverton-closed", "riverton-late", "riverton-reopens"]

    ids = ["port-ellis-gazette", "port-ellis-herald"]
    r = await client.call_tool("compare", {"doc_ids": ids})
    assert not r.is_error, r.content
    [conflict] = [c for c in r.structured_content["conflicts"] if c["kind"] == "number"]
    assert sorted(v for side in conflict["values"] for v in side) == ["120", "340"]
    assert {s["doc_id"] for s in conflict["statements"]} == set(ids)
    r = await client.call_tool("compare", {"query": "Port Ellis storm flooding homes"})
    assert set(ids) <= set(r.structured_content["doc_ids"]) and r.structured_content["conflicts"]

    now = (await client.call_tool("ask", {"question": RIVERTON_Q})).structured_content
    then = (await client.call_tool("ask", {"question": RIVERTON_Q, "as_of": "2024-02-20"}))
    assert not then.is_error, then.content
    assert now["citations"][0]["doc_id"] == "riverton-reopens"
    assert then.structured_content["citations"][0]["doc_id"] == "riverton-late"
    assert "riverton-reopens" not in {c["doc_id"] for c in then.structured_content["citations"]}
    r = await client.call_tool("search", {"question": RIVERTON_Q, "as_of": "2024-02-20"})
    assert r.structured_content["evidence"][0]["doc_id"] == "riverton-late"


def test_stdio_news_tools(news_library: Path, errlog: TextIO) -> None:
    over_stdio(news_library, check_news_tools, errlog)


PAGE = """<html><head><title>Gyumri opens a new rail museum</title>
<meta property="article:published_time" content="2024-03-02"></head><body><article>
<h1>Gyumri opens a new rail museum</h1>
<p>The city of Gyumri opened a museum of the Caucasus railway on Saturday, in the restored
depot beside the old station.</p>
<p>Its curators gathered two steam locomotives, a royal carriage and several hundred
photographs of the line, which once linked Tbilisi with Kars.</p>
<p>The mayor said the museum should bring visitors back to a city still rebuilding decades
after the earthquake of 1988.</p>
</article></body></html>"""


@pytest.fixture
def news_site() -> Iterator[str]:
    """A web server on loopback with one article page at /museum (404 elsewhere)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            found = self.path == "/museum"
            body = (PAGE if found else "not here").encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_stdio_ingest_only_when_allowed(library: Path, tmp_path: Path, errlog: TextIO,
                                        news_site: str) -> None:
    home = tmp_path / "home"
    shutil.copytree(library, home)  # this test writes: keep the shared library as it is
    text = ("Lake Sevan froze over completely in January for the first time in a decade. "
            "Fishermen in Gavar said the ice was thick enough to walk on.")

    async def body(client: Client) -> None:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= READ_TOOLS | {"ingest_text"}
        assert tools["ingest_text"].annotations.read_only_hint is False  # type: ignore[union-attr]
        article = {"text": text, "title": "Lake Sevan freezes", "source": "Test Wire",
                   "published_at": "2024-01-20"}
        r = await client.call_tool("ingest_text", article)
        assert not r.is_error, r.content
        [result] = r.structured_content["results"]
        assert result["status"] == "added" and result["n_sentences"] == 2
        r = await client.call_tool("ingest_text", article)
        assert r.structured_content["results"][0]["status"] == "unchanged"
        r = await client.call_tool("list_articles", {"sources": ["Test Wire"]})
        assert [a["title"] for a in r.structured_content["articles"]] == ["Lake Sevan freezes"]
        r = await client.call_tool("ask", {"question": "When did Lake Sevan freeze over?",
                                           "sources": ["Test Wire"]})
        assert r.structured_content["citations"][0]["doc_id"] == result["doc_id"]
        assert "text is empty" in error_text(await client.call_tool("ingest_text", {"text": "   "}))

        # URLs: one page stored, one missing page reported, in the same call
        r = await client.call_tool("ingest_urls", {"urls": [f"{news_site}/museum",
                                                            f"{news_site}/gone"]})
        assert not r.is_error, r.content
        stored, missing = r.structured_content["results"]
        assert stored["status"] == "added", stored
        assert missing["status"] == "failed" and "404" in missing["reason"], missing
        r = await client.call_tool("get_article", {"doc_id": stored["doc_id"]})
        assert r.structured_content["title"] == "Gyumri opens a new rail museum"
        assert r.structured_content["url"] == f"{news_site}/museum"
        assert "urls" in error_text(await client.call_tool("ingest_urls", {"urls": []}))

    # the fetcher refuses loopback addresses unless told otherwise: the test site is on one
    over_stdio(home, body, errlog, QA_MCP_ALLOW_INGEST="1", QA_ALLOW_PRIVATE_URLS="1")


def test_cli_flag_overrides_setting(library: Path, errlog: TextIO) -> None:
    async def body(client: Client) -> None:
        assert {t.name for t in (await client.list_tools()).tools} == READ_TOOLS

    over_stdio(library, body, errlog, "--read-only", QA_MCP_ALLOW_INGEST="1")


# --- HTTP: the transport mounted on `qa serve` ---------------------------------------------------
def over_http(url: str, body: Callable[[Client], Awaitable[None]], token: str | None = None) -> None:
    import httpx2

    async def main() -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            await body(client)

    anyio.run(main)


def test_http_tools_on_qa_serve(library: Path, cli_answer: dict[str, Any], tmp_path: Path) -> None:
    with qa_serve(qa_env(library), tmp_path / "serve.log") as server:
        over_http(server.url + "mcp", lambda client: check_read_tools(client, cli_answer))


def test_http_news_tools_on_qa_serve(news_library: Path, tmp_path: Path) -> None:
    with qa_serve(qa_env(news_library), tmp_path / "serve.log") as server:
        over_http(server.url + "mcp", check_news_tools)


def test_http_token_and_ingest_setting(library: Path, tmp_path: Path) -> None:
    import httpx

    home = tmp_path / "home"
    shutil.copytree(library, home)
    env = qa_env(home, QA_API_TOKEN="s3cret-token", QA_MCP_ALLOW_INGEST="true")
    with qa_serve(env, tmp_path / "serve.log") as server:
        url = server.url + "mcp"
        listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = httpx.post(url, json=listing, headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["WWW-Authenticate"] == "Bearer"

        async def body(client: Client) -> None:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == READ_TOOLS | {"ingest_text"} or names == READ_TOOLS | {
                "ingest_text", "ingest_urls"}
            r = await client.call_tool("ingest_text", {"text": "Yerevan hosted a chess final.",
                                                       "title": "Chess in Yerevan"})
            assert r.structured_content["results"][0]["status"] == "added"
            r = await client.call_tool("get_article", {"doc_id": "missing"})
            assert "No article with id 'missing'" in error_text(r)

        over_http(url, body, token="s3cret-token")
        # the web app is not behind the API token
        assert httpx.get(server.url).status_code == 200


# --- HTTP plumbing, in process: the admission limit and the standalone app -------------------------
def in_process(app: Any, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run `app`'s lifespan and `body(http)` with an httpx2 client wired to it (no socket)."""
    import httpx2

    async def main() -> None:
        async with app.router.lifespan_context(app), httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:7860",
                timeout=120) as http:
            await body(http)

    anyio.run(main)


def test_http_mount_answers_429_when_the_queue_is_full(library: Path, embedder: Any) -> None:
    from starlette.applications import Starlette

    from qa.api.mcp import mount_http
    from qa.api.server import Limiter
    from qa.service import QA
    from qa.settings import Settings

    qa = QA(Settings(home=library, mode="extractive"), embedder=embedder)
    app = Starlette()
    app.state.limiter = limiter = Limiter(1, 0)  # one at work, none waiting
    mount_http(app, qa)

    async def body(http: Any) -> None:
        async def tools() -> set[str]:
            async with Client(streamable_http_client("http://127.0.0.1:7860/mcp",
                                                     http_client=http)) as client:
                return {t.name for t in (await client.list_tools()).tools}

        assert await tools() == READ_TOOLS
        async with limiter.admit():  # another request holds the only slot
            r = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == "overloaded"
            assert int(r.headers["Retry-After"]) >= 1
        assert await tools() == READ_TOOLS  # the slot is free again

    in_process(app, body)
    qa.close()


def test_standalone_http_app_wants_the_token(library: Path, embedder: Any) -> None:
    from qa.api.mcp import http_app
    from qa.service import QA
    from qa.settings import Settings

    qa = QA(Settings(home=library, mode="extractive", api_token="tok"), embedder=embedder)
    app = http_app(qa, allow_ingest=False)

    async def body(http: Any) -> None:
        r = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        http.headers["Authorization"] = "Bearer tok"
        async with Client(streamable_http_client("http://127.0.0.1:7860/mcp",
                                                 http_client=http)) as client:
            r = await client.call_tool("ask", {"question": QUESTION, "k": 2})
            assert not r.is_error and len(r.structured_content["citations"]) <= 2

    in_process(app, body)
    qa.close()
