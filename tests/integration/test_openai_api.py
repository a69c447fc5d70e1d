"""The OpenAI-compatible API of a real `qa serve` process, driven with the official `openai`
client and LangChain's `ChatOpenAI`: answers, streams, citations carried as `url_citation`
annotations, abstention, the token, and a model it does not serve.

The server has an API token and a chat model (the OpenAI stub), so `qa-llm` is served too; the
seed question is asked offline (`qa-extractive`) and must cite what `qa ask --json` cites.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from qa.types import ABSTAIN_PHRASE
from tests.support.browser import ARMENIA_Q, SEED_ID
from tests.support.openai_stub import OpenAIStub
from tests.support.qa_server import QAServer, qa_serve, run_qa, seeded_env

pytestmark = [pytest.mark.integration]

TOKEN = "sk-qa-test-token"
UNANSWERABLE = "What is the boiling point of mercury in kelvin?"


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as s:
        yield s


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStub) -> dict[str, str]:
    home = tmp_path_factory.mktemp("openai-api") / "home"
    return seeded_env(home, QA_MODEL_CACHE=str(tmp_path_factory.mktemp("model-cache")),
                      QA_API_TOKEN=TOKEN, OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="sk-stub",
                      QA_LLM_MAX_RETRIES="0")


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[QAServer]:
    from pathlib import Path

    with qa_serve(env, Path(env["QA_HOME"]).parent / "serve.log") as s:
        yield s


@pytest.fixture(scope="module")
def client(server: QAServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "v1", api_key=TOKEN, max_retries=0, timeout=120)


def _ask(client: openai.OpenAI, question: str, model: str = "qa-extractive", **kw: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], **kw)


def _check_annotations(message: Any) -> None:
    """Every annotation marks a marker [n] of the content and links the n-th citation."""
    citations = {c["n"]: c for c in message.citations}
    assert message.annotations
    for a in message.annotations:
        u = a.url_citation
        marker = message.content[u.start_index:u.end_index]
        assert a.type == "url_citation" and marker.startswith("[") and marker.endswith("]")
        cited = citations[int(marker[1:-1])]
        assert u.url == cited["url"] and u.title == cited["title"]
    assert {int(message.content[a.url_citation.start_index + 1:a.url_citation.end_index - 1])
            for a in message.annotations} == set(citations)


def test_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["qa", "qa-extractive", "qa-llm"]
    assert client.models.retrieve("qa-extractive").id == "qa-extractive"


def test_the_seed_question_cites_what_the_cli_cites(
    client: openai.OpenAI, server: QAServer, env: dict[str, str]
) -> None:
    cli = run_qa(env, "ask", "--json", "--mode", "extractive", ARMENIA_Q)
    assert cli.returncode == 0, cli.stderr
    expected = [(c["doc_id"], c["sentence_id"]) for c in json.loads(cli.stdout)["citations"]]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    rest = httpx.post(server.url + "api/v1/ask", headers=headers, timeout=120,
                      json={"question": ARMENIA_Q, "mode": "extractive"}).json()
    assert [(c["doc_id"], c["sentence_id"]) for c in rest["citations"]] == expected

    reply = _ask(client, ARMENIA_Q)
    message = reply.choices[0].message
    assert reply.model == "qa-extractive" and reply.choices[0].finish_reason == "stop"
    assert message.content == rest["answer"]
    assert [(c["doc_id"], c["sentence_id"]) for c in message.citations] == expected
    assert message.citations[0]["doc_id"] == SEED_ID
    _check_annotations(message)
    # The seed has no URL: the link is the sentence in this API, and it resolves there.
    first = message.citations[0]
    link = httpx.URL(first["url"])
    assert link.path == f"/api/v1/articles/{SEED_ID}"
    assert link.fragment == "s" + first["sentence_id"].split("#")[1]
    article = httpx.get(str(link.copy_with(fragment=None)), headers=headers, timeout=30).json()
    assert article["text"][first["start"]:first["end"]] == first["text"]


def test_streaming_joins_into_the_same_cited_answer(client: openai.OpenAI, server: QAServer) -> None:
    whole = _ask(client, ARMENIA_Q).choices[0].message
    chunks = list(_ask(client, ARMENIA_Q, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.content and len(chunks) >= 3
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop"
    extra = last.delta.model_extra or {}
    assert extra["citations"] == whole.citations
    assert [a["url_citation"] for a in extra["annotations"]] == [
        a.url_citation.model_dump() for a in whole.annotations]
    # On the wire, the stream ends with [DONE].
    with httpx.stream("POST", server.url + "v1/chat/completions", timeout=120,
                      headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"model": "qa-extractive", "stream": True, "messages": [
                          {"role": "user", "content": ARMENIA_Q}], "extra": "ignored"}) as r:
        data = [line for line in r.iter_lines() if line.startswith("data:")]
    assert data[-1] == "data: [DONE]"


def test_llm_answers_stream_the_checked_content(client: openai.OpenAI, stub: OpenAIStub) -> None:
    reply = "Armenians are frustrated by Russia's lack of support [S1]. See also [S99]."
    stub.enqueue(reply, reply)
    whole = _ask(client, ARMENIA_Q, model="qa-llm").choices[0].message
    chunks = list(_ask(client, ARMENIA_Q, model="qa-llm", stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    # The model's own [S#] markers never reach the client: the invented one is gone and the
    # real one is renumbered, in the stream as in the whole reply.
    assert "[S" not in text and "[S" not in whole.content
    assert text == whole.content and "[1]" in text
    _check_annotations(whole)


def test_abstention_is_the_fixed_phrase(client: openai.OpenAI) -> None:
    message = _ask(client, UNANSWERABLE).choices[0].message
    assert message.content == ABSTAIN_PHRASE
    assert message.annotations == [] and message.citations == []
    streamed = "".join(c.choices[0].delta.content or "" for c in _ask(client, UNANSWERABLE, stream=True))
    assert streamed == ABSTAIN_PHRASE


def test_earlier_turns_are_the_conversation(client: openai.OpenAI) -> None:
    first = _ask(client, ARMENIA_Q).choices[0].message.content
    reply = client.chat.completions.create(model="qa-extractive", messages=[
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": ARMENIA_Q},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "What did Pashinyan say about it?"},
    ])
    message: Any = reply.choices[0].message
    assert message.citations and "Pashinyan" in message.content
    _check_annotations(message)


def test_errors_are_the_clients_own_exceptions(server: QAServer, client: openai.OpenAI) -> None:
    bad = openai.OpenAI(base_url=server.url + "v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        _ask(bad, ARMENIA_Q)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        _ask(client, ARMENIA_Q, model="gpt-4o")
    assert missing.value.code == "model_not_found" and "gpt-4o" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad_turns:
        client.chat.completions.create(model="qa", messages=[{"role": "assistant", "content": "hi"}])
    assert "last message" in bad_turns.value.message


def test_langchain_chat_openai(server: QAServer, client: openai.OpenAI) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=server.url + "v1", api_key=TOKEN, model="qa-extractive",  # type: ignore[arg-type]
                     max_retries=0)
    expected = _ask(client, ARMENIA_Q).choices[0].message.content
    assert llm.invoke(ARMENIA_Q).content == expected
    streamed = "".join(str(chunk.content) for chunk in llm.stream(ARMENIA_Q))
    assert streamed == expected
    assert llm.invoke(UNANSWERABLE).content == ABSTAIN_PHRASE
