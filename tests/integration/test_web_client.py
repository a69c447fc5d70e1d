"""The web app driven through its named API endpoints with gradio_client, in-process."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.support.browser import (
    ARMENIA_Q,
    SEED_ID,
    TOPICS,
    Served,
    library_qa,
    serve,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),  # inside gradio's queue
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def served(embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with library_qa(tmp_path_factory.mktemp("ui-client"), embedder) as qa, serve(qa) as s:
        yield s


@pytest.fixture(scope="module")
def client(served: Served) -> Client:
    return Client(served.url, verbose=False)


def _check_citations(served: Served, citations: list[dict]) -> None:
    """Every citation points at its exact sentence in the stored article text."""
    assert citations
    for c in citations:
        text = served.qa.get(c["doc_id"]).text
        assert text[c["start"] : c["end"]] == c["text"]


def test_named_endpoints(client: Client) -> None:
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/ask", "/ask_stream", "/summarize", "/ingest", "/ingest_text", "/articles"} <= names
    # The UI's own events (chat, clicks, deletes) are not part of the public API.
    assert not any("chat" in n or "delete" in n for n in names)


def test_ask(served: Served, client: Client) -> None:
    answer = client.predict(question=ARMENIA_Q, api_name="/ask")
    assert not answer["abstained"]
    assert "[1]" in answer["answer"]
    assert answer["citations"][0]["doc_id"] == SEED_ID
    _check_citations(served, answer["citations"])


def test_ask_with_filters_and_k(client: Client) -> None:
    answer = client.predict(question=ARMENIA_Q, k=1, api_name="/ask")
    assert len(answer["citations"]) == 1
    # The seed has no source and no date: a source filter leaves nothing to cite.
    filtered = client.predict(question=ARMENIA_Q, sources=["Nordic Post"], api_name="/ask")
    assert all(c["doc_id"] != SEED_ID for c in filtered["citations"])


def test_ask_errors_are_messages(client: Client) -> None:
    with pytest.raises(Exception, match="question is empty"):
        client.predict(question="   ", api_name="/ask")
    with pytest.raises(Exception, match="date like"):
        client.predict(question=ARMENIA_Q, since="last week", api_name="/ask")
    with pytest.raises(Exception, match="LLM mode needs"):
        client.predict(question=ARMENIA_Q, mode="llm", api_name="/ask")
    with pytest.raises(Exception, match="(?i)unknown mode"):
        client.predict(question=ARMENIA_Q, mode="poetry", api_name="/ask")
    for k in (0, -1):  # 0 is not "the default", -1 not "all"
        message = rf"k \(sentences cited\) must be a whole number from 1 to 50, not {k}"
        with pytest.raises(Exception, match=message):
            client.predict(question=ARMENIA_Q, k=k, api_name="/ask")
        with pytest.raises(Exception, match="must be a whole number from 1 to 50"):
            client.submit(question=ARMENIA_Q, k=k, api_name="/ask_stream").result()


def test_ask_stream(served: Served, client: Client) -> None:
    job = client.submit(question=ARMENIA_Q, api_name="/ask_stream")
    updates = list(job)
    final = job.result()
    assert final["done"] and final["answer"]["citations"]
    partial = [u for u in updates if not u["done"]]
    assert len(partial) >= 2, updates
    for u in partial:
        assert final["text"].startswith(u["text"])
    assert [len(u["text"]) for u in partial] == sorted(len(u["text"]) for u in partial)
    _check_citations(served, final["answer"]["citations"])


def test_summarize(served: Served, client: Client) -> None:
    if importlib.util.find_spec("qa.summarize.extractive") is None:
        pytest.skip("qa.summarize (the summarizer module) is not in the tree yet")
    summary = client.predict(doc_ids=[SEED_ID], api_name="/summarize")
    assert summary["summary"].strip()
    assert "[1]" in summary["summary"]
    _check_citations(served, summary["citations"])
    by_query = client.predict(query="Oslo ferries", api_name="/summarize")
    assert any(c["doc_id"] == "oslo-ferries" for c in by_query["citations"])


def test_ingest_files(served: Served, client: Client, tmp_path: Path) -> None:
    good = tmp_path / "Quito cable car (draft).txt"
    good.write_text(
        "Quito opened a cable car line linking two hillside districts on Friday. "
        "The line carries four thousand riders an hour.",
        encoding="utf-8",
    )
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4 not an article")
    results = client.predict(files=[handle_file(good), handle_file(bad)], api_name="/ingest")
    by_file = {r["file"]: r for r in results}
    assert by_file["Quito cable car (draft).txt"]["status"] == "added"
    assert by_file["Quito cable car (draft).txt"]["doc_id"] == "Quito_cable_car_draft"
    assert by_file["scan.pdf"]["status"] == "failed" and by_file["scan.pdf"]["reason"]

    again = client.predict(files=[handle_file(good)], api_name="/ingest")
    assert [r["status"] for r in again] == ["unchanged"]
    ids = {a["doc_id"] for a in client.predict(api_name="/articles")}
    assert "Quito_cable_car_draft" in ids

    answer = client.predict(question="How many riders does the Quito cable car carry?", api_name="/ask")
    assert answer["citations"][0]["doc_id"] == "Quito_cable_car_draft"
    served.qa.delete("Quito_cable_car_draft")


def test_ingest_text(served: Served, client: Client) -> None:
    results = client.predict(
        text="Tallinn's tram network will run all night on weekends from June.",
        title="Tallinn night trams",
        source="Baltic Daily",
        published_at="2024-05-02",
        api_name="/ingest_text",
    )
    assert results[0]["status"] == "added"
    article = served.qa.get(results[0]["doc_id"])
    assert (article.title, article.source, article.published_at[:10]) == (
        "Tallinn night trams",
        "Baltic Daily",
        "2024-05-02",
    )
    with pytest.raises(Exception, match="date like"):
        client.predict(text="Some text here.", published_at="May 2nd", api_name="/ingest_text")
    served.qa.delete(results[0]["doc_id"])


def test_twenty_concurrent_askers(served: Served) -> None:
    """20 users at once (own client each), four questions: every one gets its own answer."""
    questions = [(ARMENIA_Q, SEED_ID)] + [(q, a.doc_id) for a, q in TOPICS]

    def one_user(i: int) -> tuple[str, str | None]:
        question, expected = questions[i % len(questions)]
        c = Client(served.url, verbose=False)
        answer = c.predict(question=question, api_name="/ask")
        top = answer["citations"][0]["doc_id"] if answer["citations"] else None
        return expected, top

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one_user, range(20)))
    assert len(outcomes) == 20
    assert all(expected == top for expected, top in outcomes), outcomes


def test_upload_limits_are_clear_messages(make_qa, fake_embedder, tmp_path: Path) -> None:
    """Too many files, or one too large, are refused with a message saying what the limit is."""
    from qa.web.uploads import MAX_FILES

    qa = make_qa(fake_embedder, max_file_bytes=300)
    files = []
    for i in range(MAX_FILES + 1):
        f = tmp_path / f"note{i}.txt"
        f.write_text(f"Short note number {i}.", encoding="utf-8")
        files.append(f)
    big = tmp_path / "big.txt"
    big.write_text("A long sentence about nothing in particular. " * 20, encoding="utf-8")
    with serve(qa) as served:
        c = Client(served.url, verbose=False)
        with pytest.raises(Exception, match=f"at most {MAX_FILES} can be added at once"):
            c.predict(files=[handle_file(f) for f in files], api_name="/ingest")
        with pytest.raises(Exception, match=r"(?i)too large|exceeds|size") as info:
            c.predict(files=[handle_file(big)], api_name="/ingest")
        print("size limit message:", info.value)
        ok = c.predict(files=[handle_file(files[0])], api_name="/ingest")
        assert [r["status"] for r in ok] == ["added"]
    assert qa.list()[0].doc_id == "note0"


def test_auth_turns_on_the_login(make_qa, fake_embedder) -> None:
    qa = make_qa(fake_embedder, auth="alice:s3cret")
    with serve(qa) as served:
        with pytest.raises(Exception):  # noqa: B017 - the client refuses in its own words
            Client(served.url, verbose=False).predict(api_name="/articles")
        with pytest.raises(Exception):  # noqa: B017
            Client(served.url, auth=("alice", "wrong"), verbose=False)
        client = Client(served.url, auth=("alice", "s3cret"), verbose=False)
        assert client.predict(api_name="/articles") == []
