"""The REST API of a real `qa serve` process, driven with httpx over loopback.

Two servers: an open one over the seed article (each route, its errors and their codes, the
schema), and one with an API token, one worker and no queue, answering through the OpenAI stub
(401 without the token, 429 while a slow model call holds the only worker, 502 when the model
provider fails). The 429 is deterministic: the second request is sent only once the stub has
received the first one's model call, so the worker is known to be busy.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client

from tests.support.browser import ARMENIA_Q, SEED_ID
from tests.support.news_server import NewsServer, Reply, page, rss
from tests.support.openai_stub import OpenAIStub, slow, status
from tests.support.qa_server import QAServer, qa_env, qa_serve, run_qa, seeded_env

pytestmark = [pytest.mark.integration]

TOKEN = "t0ken-for-tests"
FILE_LIMIT = 100_000  # bytes per uploaded file on the open server
LIMA = {
    "text": "Leaders from six Andean countries met in Lima on Tuesday to negotiate shared water "
            "rights for the glacier-fed rivers. The draft treaty would cap irrigation withdrawals "
            "during droughts.",
    "title": "Lima summit on water rights",
    "source": "Andes Wire",
    "published_at": "2024-03-05",
}

# A small dated library for the news-aware routes: one story told over three months (timeline,
# "latest" as of a date), and two outlets disagreeing on a number (compare).
RIVERTON_Q = "What is the latest on the Riverton bridge?"
NEWS: list[dict[str, str]] = [
    {"doc_id": "riverton-closed", "title": "Riverton bridge closed for repairs",
     "source": "Valley Courier", "published_at": "2024-01-10",
     "text": "Engineers closed the Riverton bridge over the Mill River on Monday after inspectors "
             "found cracks in two steel girders. The county said repairs on the Riverton bridge "
             "would take at least six weeks. Commuters were told to use the northern ring road."},
    {"doc_id": "riverton-late", "title": "Riverton bridge repairs run late",
     "source": "Valley Courier", "published_at": "2024-02-15",
     "text": "Repairs on the Riverton bridge fell behind schedule after a cold snap halted "
             "welding work. The county now expects the Riverton bridge to reopen in March. Shops "
             "on Bridge Street report a sharp drop in customers."},
    {"doc_id": "riverton-reopens", "title": "Riverton bridge reopens",
     "source": "Mill River Times", "published_at": "2024-03-20",
     "text": "The Riverton bridge reopened to traffic on Wednesday after ten weeks of repairs. "
             "The mayor cut a ribbon at the east end of the Riverton bridge. The repairs cost "
             "the county four million dollars."},
    {"doc_id": "port-ellis-gazette", "title": "Storm floods Port Ellis",
     "source": "Harbor Gazette", "published_at": "2024-04-02",
     "text": "A storm flooded the harbor district of Port Ellis on Tuesday night. The flooding "
             "damaged 120 homes along the waterfront, officials said. Emergency crews pumped "
             "water from the streets until morning."},
    {"doc_id": "port-ellis-herald", "title": "Port Ellis counts the storm damage",
     "source": "Coastal Herald", "published_at": "2024-04-03",
     "text": "A storm flooded the harbor district of Port Ellis on Tuesday night. The flooding "
             "damaged 340 homes along the waterfront, officials said. The governor promised "
             "emergency funds for the repairs."},
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, model_cache: str) -> dict[str, str]:
    home = tmp_path_factory.mktemp("rest") / "home"
    return seeded_env(home, QA_MODEL_CACHE=model_cache, QA_MAX_FILE_BYTES=str(FILE_LIMIT))


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[QAServer]:
    with qa_serve(env, Path(env["QA_HOME"]).parent / "serve.log") as s:
        yield s


@pytest.fixture(scope="module")
def api(server: QAServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "api/v1", timeout=120) as client:
        yield client


def _error(r: httpx.Response, status_code: int, code: str) -> str:
    assert r.status_code == status_code, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert "Traceback" not in r.text
    message: str = body["error"]["message"]
    return message


def _ids(citations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["doc_id"], c["sentence_id"]) for c in citations]


# --- the routes -------------------------------------------------------------------------------


def test_health_and_version(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    version = api.get("/version").json()
    assert version["api"] == "v1" and version["mode"] == "extractive" and version["version"]


def test_ask_gives_the_citations_of_the_cli(api: httpx.Client, env: dict[str, str]) -> None:
    cli = run_qa(env, "ask", "--json", ARMENIA_Q)
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    r = api.post("/ask", json={"question": ARMENIA_Q})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert not answer["abstained"] and "[1]" in answer["answer"]
    assert _ids(answer["citations"]) == _ids(expected["citations"])
    assert answer["citations"][0]["doc_id"] == SEED_ID
    # Each citation's span is its sentence in the stored text the API serves.
    text = api.get(f"/articles/{SEED_ID}").json()["text"]
    for c in answer["citations"]:
        assert text[c["start"]:c["end"]] == c["text"]


def test_ask_options_and_abstention(api: httpx.Client) -> None:
    one = api.post("/ask", json={"question": ARMENIA_Q, "k": 1, "mode": "extractive"}).json()
    assert len(one["citations"]) == 1
    none = api.post("/ask", json={"question": ARMENIA_Q, "sources": ["Nordic Post"]}).json()
    assert none["abstained"] and none["answer"] == "The articles do not answer this."


def test_ask_errors(api: httpx.Client) -> None:
    assert "question is empty" in _error(api.post("/ask", json={"question": "  "}), 400, "bad_input")
    message = _error(api.post("/ask", json={"qustion": ARMENIA_Q}), 422, "invalid_request")
    assert "question" in message and "qustion" in message
    assert "since" in _error(api.post("/ask", json={"question": ARMENIA_Q, "since": "last week"}),
                             422, "invalid_request")
    assert "k" in _error(api.post("/ask", json={"question": ARMENIA_Q, "k": 0}), 422, "invalid_request")
    assert "mode" in _error(api.post("/ask", json={"question": ARMENIA_Q, "mode": "poetry"}),
                            422, "invalid_request")
    assert "LLM mode needs" in _error(api.post("/ask", json={"question": ARMENIA_Q, "mode": "llm"}),
                                      400, "bad_input")
    bad_json = api.post("/ask", content=b"{not json", headers={"content-type": "application/json"})
    _error(bad_json, 422, "invalid_request")
    _error(api.get("/no-such-route"), 404, "route_not_found")


def _sse(r: httpx.Response) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    name = "message"
    for line in r.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.split(":", 1)[1])))
            name = "message"
    return events


def test_ask_stream(api: httpx.Client) -> None:
    with api.stream("POST", "/ask/stream", json={"question": ARMENIA_Q}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _sse(r)
    names = [n for n, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"delta"} and len(names) >= 2
    answer = events[-1][1]
    assert "".join(d["text"] for _, d in events[:-1]) == answer["answer"]
    whole = api.post("/ask", json={"question": ARMENIA_Q}).json()
    assert _ids(answer["citations"]) == _ids(whole["citations"])
    # Bad input is refused with a status before the stream starts.
    _error(api.post("/ask/stream", json={"question": ""}), 400, "bad_input")


def test_summarize(api: httpx.Client) -> None:
    s = api.post("/summarize", json={"doc_ids": [SEED_ID], "max_sentences": 2}).json()
    assert s["doc_ids"] == [SEED_ID] and 1 <= len(s["citations"]) <= 2
    by_query = api.post("/summarize", json={"query": "Armenia"}).json()
    assert SEED_ID in by_query["doc_ids"]
    assert "doc_ids" in _error(api.post("/summarize", json={}), 400, "bad_input")
    assert "no-such" in _error(api.post("/summarize", json={"doc_ids": ["no-such"]}), 404, "not_found")


def test_ingest_list_get_delete(api: httpx.Client, tmp_path: Path) -> None:
    pasted = api.post("/ingest/text", json=LIMA).json()["results"]
    assert [r["status"] for r in pasted] == ["added"]
    lima_id = pasted[0]["doc_id"]
    again = api.post("/ingest/text", json=LIMA).json()["results"]
    assert [r["status"] for r in again] == ["unchanged"]
    assert "Paste" in _error(api.post("/ingest/text", json={"text": " "}), 400, "bad_input")

    note = "Oslo's harbour authority replaced the last diesel ferry with a battery ferry this winter."
    big = ("A sentence about nothing in particular. " * 4000).encode()
    assert len(big) > FILE_LIMIT
    files = [("files", ("oslo-ferries.txt", note.encode(), "text/plain")),
             ("files", ("empty.txt", b"", "text/plain")),
             ("files", ("big.txt", big, "text/plain"))]
    results = api.post("/ingest", files=files).json()["results"]
    by_file = {r["path"]: r for r in results}
    assert by_file["oslo-ferries.txt"]["status"] == "added"
    assert by_file["empty.txt"]["status"] == "failed" and by_file["empty.txt"]["reason"]
    # One file over the limit is refused by name; the others are still added.
    assert by_file["big.txt"]["status"] == "failed" and "limit" in by_file["big.txt"]["reason"]
    assert "big" not in [a["doc_id"] for a in api.get("/articles").json()]
    too_many = [("files", (f"n{i}.txt", b"Note.", "text/plain")) for i in range(51)]
    assert "at most 50" in _error(api.post("/ingest", files=too_many), 400, "bad_input")

    ids = [a["doc_id"] for a in api.get("/articles").json()]
    assert {SEED_ID, lima_id, "oslo-ferries"} <= set(ids)
    assert [a["doc_id"] for a in api.get("/articles", params={"query": "lima"}).json()] == [lima_id]
    assert [a["doc_id"] for a in api.get("/articles", params={"sources": "Andes Wire"}).json()] == [lima_id]
    dated = api.get("/articles", params={"since": "2024-03-01", "until": "2024-03-31"}).json()
    assert [a["doc_id"] for a in dated] == [lima_id]
    _error(api.get("/articles", params={"since": "March"}), 422, "invalid_request")

    article = api.get(f"/articles/{lima_id}").json()
    assert article["title"] == LIMA["title"] and len(article["sentences"]) == 2
    for s in article["sentences"]:
        assert article["text"][s["start"]:s["end"]] == s["text"]

    assert api.delete(f"/articles/{lima_id}").json() == {"doc_id": lima_id, "deleted": True}
    _error(api.get(f"/articles/{lima_id}"), 404, "not_found")
    _error(api.delete(f"/articles/{lima_id}"), 404, "not_found")
    api.delete("/articles/oslo-ferries")


def test_ingest_urls_refuses_what_it_cannot_fetch(api: httpx.Client) -> None:
    r = api.post("/ingest/urls", json={"urls": ["ftp://example.org/a"]})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:  # one result per URL, refused by name
        [result] = r.json()["results"]
        assert result["status"] == "failed" and result["reason"]
    _error(api.post("/ingest/urls", json={"urls": []}), 422, "invalid_request")


def test_check(api: httpx.Client) -> None:
    report = api.get("/check").json()
    assert report["ok"] and report["articles"] >= 1 and report["problems"] == []


def test_openapi_lists_the_routes_with_their_schemas(server: QAServer) -> None:
    spec = httpx.get(server.url + "openapi.json", timeout=30).json()
    paths = spec["paths"]
    for path, method in [("/api/v1/ask", "post"), ("/api/v1/ask/stream", "post"),
                         ("/api/v1/summarize", "post"), ("/api/v1/articles", "get"),
                         ("/api/v1/articles/{doc_id}", "get"), ("/api/v1/articles/{doc_id}", "delete"),
                         ("/api/v1/ingest", "post"), ("/api/v1/ingest/text", "post"),
                         ("/api/v1/check", "get"), ("/api/v1/health", "get"),
                         ("/api/v1/version", "get"), ("/v1/chat/completions", "post"),
                         ("/v1/models", "get")]:
        assert method in paths.get(path, {}), path
    schemas = spec["components"]["schemas"]
    assert {"Answer", "Citation", "Summary", "ArticleInfo", "ArticleDetail", "IngestResult",
            "AskRequest", "ErrorBody", "ChatCompletion"} <= set(schemas)
    ask = paths["/api/v1/ask"]["post"]
    assert ask["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Answer")
    assert ask["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert set(schemas["Answer"]["properties"]) >= {"answer", "abstained", "citations"}
    assert httpx.get(server.url + "docs", timeout=30).status_code == 200


def test_the_web_app_is_on_the_same_port(server: QAServer) -> None:
    r = httpx.get(server.url, timeout=30)
    assert r.status_code == 200 and "gradio" in r.text.lower()
    assert httpx.get(server.url + "config", timeout=30).json()["components"]
    assert "Traceback" not in server.log()


# --- news-aware routes: as_of, timeline, compare, stories, feeds -----------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[NewsServer]:
    with NewsServer() as news:
        news.route("/feed.xml", Reply(rss("Loopback World", [
            ("Harbour ferries go electric", "/news/ferries", "Tue, 05 Mar 2024 09:00:00 GMT"),
        ]), content_type="application/rss+xml"))
        news.route("/news/ferries", Reply(page("Harbour ferries go electric", [
            "The harbour authority of Tromvik replaced its last diesel ferry with a battery "
            "ferry this winter, ending forty years of diesel crossings.",
            "The new ferry charges at the quay in twelve minutes between crossings.",
        ], published="2024-03-05")))
        news.route("/not-a-feed", Reply("plain words, no feed", content_type="text/plain"))
        yield news


@pytest.fixture(scope="module")
def news_api(tmp_path_factory: pytest.TempPathFactory, model_cache: str) -> Iterator[httpx.Client]:
    """A server over the dated NEWS library (written here), allowed to fetch from loopback."""
    root = tmp_path_factory.mktemp("rest-news")
    library = root / "news.jsonl"
    library.write_text("".join(json.dumps(a) + "\n" for a in NEWS))
    env = qa_env(root / "home", QA_MODEL_CACHE=model_cache, QA_ALLOW_PRIVATE_URLS="true",
                 QA_FETCH_HOST_DELAY="0", QA_FETCH_BACKOFF="0")
    ingested = run_qa(env, "ingest", "-q", str(library))
    assert ingested.returncode == 0, ingested.stderr
    with qa_serve(env, root / "serve.log") as s, \
            httpx.Client(base_url=s.url + "api/v1", timeout=120) as client:
        yield client
        assert "Traceback" not in s.log()


def test_as_of_changes_which_report_is_the_latest(news_api: httpx.Client) -> None:
    today = news_api.post("/ask", json={"question": RIVERTON_Q}).json()
    assert not today["abstained"] and today["citations"][0]["doc_id"] == "riverton-reopens"
    then = news_api.post("/ask", json={"question": RIVERTON_Q, "as_of": "2024-02-20"}).json()
    assert not then["abstained"] and then["citations"][0]["doc_id"] == "riverton-late"
    # Nothing published after the as-of day is cited.
    assert "riverton-reopens" not in {c["doc_id"] for c in then["citations"]}
    with news_api.stream("POST", "/ask/stream",
                         json={"question": RIVERTON_Q, "as_of": "2024-02-20"}) as r:
        events = _sse(r)
    assert events[-1][0] == "answer"
    assert _ids(events[-1][1]["citations"]) == _ids(then["citations"])
    assert "as_of" in _error(news_api.post("/ask", json={"question": RIVERTON_Q, "as_of": "soon"}),
                             422, "invalid_request")

    # The same through the other faces on this port: the OpenAI endpoint (as_of in the body,
    # the openai SDK's extra_body) and the web app's named API (as_of its optional last input).
    root = str(news_api.base_url.join("/"))
    chat = httpx.post(root + "v1/chat/completions", timeout=120, json={
        "model": "qa", "messages": [{"role": "user", "content": RIVERTON_Q}], "as_of": "2024-02-20"})
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["citations"][0]["doc_id"] == "riverton-late"
    web = Client(root, verbose=False)
    old_style = web.predict(RIVERTON_Q, api_name="/ask")
    assert old_style["citations"][0]["doc_id"] == "riverton-reopens"
    dated = web.predict(question=RIVERTON_Q, as_of="2024-02-20", api_name="/ask")
    assert _ids(dated["citations"]) == _ids(then["citations"])


def test_timeline_is_in_date_order(news_api: httpx.Client) -> None:
    r = news_api.post("/timeline", json={"query": "Riverton bridge repairs"})
    assert r.status_code == 200, r.text
    t = r.json()
    dates = [e["date"] for e in t["events"]]
    assert len(dates) >= 3 and dates == sorted(dates)
    cited = [c["doc_id"] for e in t["events"] for c in e["citations"]]
    first_seen = list(dict.fromkeys(d for d in cited if d.startswith("riverton")))
    assert first_seen == ["riverton-closed", "riverton-late", "riverton-reopens"]
    for e in t["events"]:
        assert e["citations"] and e["text"] == e["citations"][0]["text"]
    # Up to a day, and with a limit.
    until = news_api.post("/timeline", json={"query": "Riverton bridge repairs",
                                             "until": "2024-02-01", "limit": 2}).json()
    assert 1 <= len(until["events"]) <= 2 and until["until"] == "2024-02-01"
    assert all(e["date"] <= "2024-02-01" for e in until["events"])
    assert "query" in _error(news_api.post("/timeline", json={}), 422, "invalid_request")
    assert "limit" in _error(news_api.post("/timeline", json={"query": "bridge", "limit": 0}),
                             422, "invalid_request")
    _error(news_api.post("/timeline", json={"query": "  "}), 400, "bad_input")


def test_compare_finds_the_conflicting_number(news_api: httpx.Client) -> None:
    ids = ["port-ellis-gazette", "port-ellis-herald"]
    r = news_api.post("/compare", json={"doc_ids": ids})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["doc_ids"] == ids and set(c["sources"]) == {"Harbor Gazette", "Coastal Herald"}
    [conflict] = [x for x in c["conflicts"] if x["kind"] == "number"]
    assert sorted(v for side in conflict["values"] for v in side) == ["120", "340"]
    assert {s["doc_id"] for s in conflict["statements"]} == set(ids)
    assert any(len(f["statements"]) == 2 for f in c["agreed"])  # "A storm flooded ..."
    by_query = news_api.post("/compare", json={"query": "Port Ellis storm flooding homes"}).json()
    assert set(ids) <= set(by_query["doc_ids"]) and by_query["conflicts"]
    assert "query" in _error(news_api.post("/compare", json={}), 400, "bad_input")
    assert "no-such" in _error(news_api.post("/compare", json={"doc_ids": ["no-such", ids[0]]}),
                               404, "not_found")
    assert "two or more" in _error(news_api.post("/compare", json={"doc_ids": [ids[0]]}),
                                   400, "bad_input")


def test_stories(news_api: httpx.Client) -> None:
    stories = news_api.get("/stories").json()
    members = [c["doc_id"] for s in stories for c in s["copies"]]
    assert len(members) == len(set(members))  # each article in one story at most
    assert set(members) <= {a["doc_id"] for a in NEWS}


def test_feeds_add_list_refresh_remove(news_api: httpx.Client, site: NewsServer) -> None:
    assert news_api.get("/feeds").json() == []
    r = news_api.post("/feeds", json={"url": site.url("/feed.xml"), "name": "world"})
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["url"]) == ("world", site.url("/feed.xml"))
    assert "already" in _error(news_api.post("/feeds", json={"url": site.url("/feed.xml")}),
                               400, "bad_input")
    assert "http" in _error(news_api.post("/feeds", json={"url": "ftp://example.com/feed"}),
                            400, "bad_input")
    _error(news_api.post("/feeds", json={"name": "x"}), 422, "invalid_request")
    assert [f["name"] for f in news_api.get("/feeds").json()] == ["world"]

    refreshed = news_api.post("/feeds/refresh", json={"feed": "world"})
    assert refreshed.status_code == 200, refreshed.text
    [report] = refreshed.json()["feeds"]
    assert report["status"] == "refreshed" and report["feed"]["name"] == "world"
    assert [i["status"] for i in report["items"]] == ["added"]
    ferry_id = report["items"][0]["doc_id"]
    assert news_api.get(f"/articles/{ferry_id}").json()["published_at"] == "2024-03-05"
    _error(news_api.post("/feeds/refresh", json={"feed": "nowhere"}), 404, "not_found")

    removed = news_api.delete("/feeds", params={"feed": "world"})
    assert removed.status_code == 200 and removed.json()["name"] == "world"
    assert news_api.get("/feeds").json() == []
    assert "No feed" in _error(news_api.delete("/feeds", params={"feed": "world"}), 404, "not_found")
    _error(news_api.delete("/feeds"), 422, "invalid_request")
    assert news_api.post("/feeds/refresh").json() == {"feeds": []}  # no body: every feed (none)
    # The articles a feed brought stay.
    assert news_api.get(f"/articles/{ferry_id}").status_code == 200


def test_openapi_has_the_news_routes(news_api: httpx.Client) -> None:
    spec = httpx.get(news_api.base_url.join("/openapi.json"), timeout=30).json()
    paths = spec["paths"]
    for path, method, schema in [("/api/v1/timeline", "post", "Timeline"),
                                 ("/api/v1/compare", "post", "Comparison"),
                                 ("/api/v1/feeds/refresh", "post", "FeedRefreshReport"),
                                 ("/api/v1/feeds", "post", "FeedInfo"),
                                 ("/api/v1/feeds", "delete", "FeedInfo")]:
        op = paths[path][method]
        ok = op["responses"]["201" if method == "post" and path == "/api/v1/feeds" else "200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/" + schema), path
    assert "get" in paths["/api/v1/stories"] and "get" in paths["/api/v1/feeds"]
    schemas = spec["components"]["schemas"]
    assert "as_of" in schemas["AskRequest"]["properties"]
    assert {"TimelineRequest", "CompareRequest", "FeedAddRequest", "Story"} <= set(schemas)


# --- token, overload, provider failure --------------------------------------------------------


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as s:
        yield s


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, model_cache: str,
            stub: OpenAIStub) -> Iterator[QAServer]:
    home = tmp_path_factory.mktemp("rest-guarded") / "home"
    env = seeded_env(home, QA_MODEL_CACHE=model_cache, QA_API_TOKEN=TOKEN, QA_API_CONCURRENCY="1",
                     QA_API_QUEUE="0", OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="sk-stub",
                     QA_LLM_MAX_RETRIES="0", QA_CORS_ORIGINS='["https://app.example"]',
                     QA_AUTH="alice:s3cret")
    with qa_serve(env, home.parent / "serve.log") as s:
        yield s


def test_a_token_guards_every_api_route(guarded: QAServer) -> None:
    base = guarded.url
    for method, path in [("GET", "api/v1/health"), ("GET", "api/v1/articles"),
                         ("POST", "api/v1/ask"), ("GET", "v1/models"),
                         ("POST", "v1/chat/completions")]:
        r = httpx.request(method, base + path, json={}, timeout=30)
        assert "needs a token" in _error(r, 401, "unauthorized"), path
        assert r.headers["www-authenticate"] == "Bearer"
        wrong = httpx.request(method, base + path, json={}, timeout=30,
                              headers={"Authorization": "Bearer nope"})
        assert "Wrong API token" in _error(wrong, 401, "unauthorized")
    ok = httpx.get(base + "api/v1/articles", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert ok.status_code == 200 and ok.json()[0]["doc_id"] == SEED_ID
    # The web app keeps its own login (QA_AUTH), and the token is not asked of it.
    with pytest.raises(Exception):  # noqa: B017 - gradio_client refuses in its own words
        Client(base, verbose=False).predict(api_name="/articles")
    web = Client(base, auth=("alice", "s3cret"), verbose=False)
    assert [a["doc_id"] for a in web.predict(api_name="/articles")] == [SEED_ID]


def test_cors_allows_the_configured_origin(guarded: QAServer) -> None:
    preflight = httpx.options(guarded.url + "api/v1/ask", timeout=30, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.options(guarded.url + "api/v1/ask", timeout=30, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers


def test_overload_is_429_with_retry_after(guarded: QAServer, stub: OpenAIStub) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    stub.requests.clear()
    stub.enqueue(slow(3, "The drills [S1]."))
    first: dict[str, httpx.Response] = {}

    def hold() -> None:
        first["r"] = httpx.post(guarded.url + "api/v1/ask", headers=headers, timeout=120,
                                json={"question": ARMENIA_Q, "mode": "llm"})

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.monotonic() + 120
    while not stub.requests:  # the model call has begun: the only worker is taken
        assert time.monotonic() < deadline and holder.is_alive(), first
        time.sleep(0.05)
    for path, body in [("api/v1/ask", {"question": ARMENIA_Q}),
                       ("v1/chat/completions", {"model": "qa", "messages": [
                           {"role": "user", "content": ARMENIA_Q}]})]:
        r = httpx.post(guarded.url + path, headers=headers, json=body, timeout=30)
        assert "QA_API_CONCURRENCY=1" in _error(r, 429, "overloaded")
        assert int(r.headers["retry-after"]) >= 1
    # Routes that do no work still answer.
    assert httpx.get(guarded.url + "api/v1/health", headers=headers, timeout=30).status_code == 200
    holder.join(120)
    assert first["r"].status_code == 200, first["r"].text
    # Once the worker is free again, the API answers.
    again = httpx.post(guarded.url + "api/v1/ask", headers=headers, timeout=120,
                       json={"question": ARMENIA_Q, "mode": "extractive"})
    assert again.status_code == 200, again.text


def test_a_failing_model_provider_is_502(guarded: QAServer, stub: OpenAIStub) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    stub.enqueue(status(401))
    r = httpx.post(guarded.url + "api/v1/ask", headers=headers, timeout=120,
                   json={"question": ARMENIA_Q, "mode": "llm"})
    message = _error(r, 502, "model_provider_error")
    assert "401" in message or "key" in message.lower()
    assert "Traceback" not in guarded.log()


def test_the_load_bench_drives_both_api_faces(server: QAServer) -> None:
    """bench/load.py's REST and OpenAI clients, a small run against this server: no errors."""
    import importlib.util

    from tests.support.paths import ROOT

    spec = importlib.util.spec_from_file_location("load_bench", ROOT / "bench" / "load.py")
    assert spec and spec.loader
    load = importlib.util.module_from_spec(spec)
    sys.modules["load_bench"] = load  # its dataclasses look their module up there
    spec.loader.exec_module(load)
    for face in ("rest", "openai"):
        results = load.Results()
        load.run_clients(server.url, None, 2, 3, time.monotonic() + 300, results, face=face)
        assert results.errors == [] and len(results.latencies) == 6, (face, results.errors)
        assert results.answered >= 1
