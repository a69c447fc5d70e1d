"""LLM mode through the service and the CLI, against the loopback OpenAI-compatible server,
with the real model and a real Chroma: ask, stream, summarize, follow-ups, eval run --mode llm."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.answer.conversation import Conversation
from qa.cli import app
from qa.errors import LLMError
from qa.types import Answer
from tests.support.openai_stub import OpenAIStub, status
from tests.support.paths import SEED

pytestmark = pytest.mark.integration


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture
def llm_qa(stub: OpenAIStub, make_qa, embedder):  # noqa: ANN001, ANN201
    qa = make_qa(embedder, openai_base_url=stub.base_url, llm_max_retries=0, llm_timeout=5)
    qa.ingest([SEED])
    return qa


def _sid(prompt: str, needle: str) -> str:
    """The [S#] id the prompt gave the sentence containing `needle`."""
    for line in prompt.splitlines():
        if needle in line and line.lstrip().startswith("[S"):
            return line.strip().split("]")[0] + "]"
    raise AssertionError(f"{needle!r} not numbered in the prompt:\n{prompt}")


def test_auto_mode_uses_the_llm_and_verifies_citations(llm_qa, stub: OpenAIStub) -> None:  # noqa: ANN001
    stub.enqueue(
        "Russia deployed 2,000 peacekeepers to the Lachin corridor [S1]. "
        "It also landed troops on the Moon [S99]."
    )
    a = llm_qa.ask("How many peacekeepers did Russia deploy to the Lachin corridor?")
    assert a.mode == "llm"
    body = stub.requests[0]
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0
    assert a.dropped_citations == 1, "[S99] names no provided sentence"
    assert "[S99]" not in a.answer
    assert a.claims is not None and a.claims[-1].support == "unsupported"
    for c in a.citations:  # every surviving citation is a stored sentence at its stored span
        assert llm_qa.get(c.doc_id).text[c.start : c.end] == c.text
    assert a.retrieved_doc_ids == [SEED.stem]


def test_stream_equals_non_stream(llm_qa, stub: OpenAIStub) -> None:  # noqa: ANN001
    reply = "Armenia held drills with the US [S1]. Moscow summoned the ambassador [S2]."
    stub.enqueue(reply, reply)
    q = "Why is Armenia drifting from Moscow?"
    plain = llm_qa.ask(q)
    pieces = list(llm_qa.ask_stream(q))
    final = pieces[-1]
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in pieces[:-1])
    assert len(pieces) > 2, "tokens arrive in several pieces"
    assert [c.sentence_id for c in final.citations] == [c.sentence_id for c in plain.citations]
    assert stub.requests[1]["stream"] is True


def test_no_valid_citation_falls_back_to_extractive(llm_qa, stub: OpenAIStub) -> None:  # noqa: ANN001
    stub.enqueue("Peskov said it needed analysis.")  # no markers at all
    a = llm_qa.ask("What did Kremlin spokesman Dmitry Peskov say about Armenia's decision?")
    assert a.fallback and a.fallback.startswith("extractive")
    assert a.citations and not a.abstained


def test_unanswerable_question_never_reaches_the_model(llm_qa, stub: OpenAIStub) -> None:  # noqa: ANN001
    a = llm_qa.ask("Who won the 2022 FIFA World Cup final?")
    assert a.abstained and stub.requests == []


def test_server_error_is_a_clear_error_and_service_keeps_working(llm_qa, stub: OpenAIStub) -> None:  # noqa: ANN001
    stub.enqueue(status(500, repeat=True))
    with pytest.raises(LLMError):
        llm_qa.ask("How many peacekeepers did Russia deploy?")
    offline = llm_qa.ask("How many peacekeepers did Russia deploy?", mode="extractive")
    assert offline.mode == "extractive" and offline.citations


def test_llm_summary_is_cited(llm_qa, stub: OpenAIStub) -> None:  # noqa: ANN001
    stub.enqueue(
        "Armenia and the US began joint drills [S1]. Russia sent 2,000 peacekeepers [S10].",
        "Armenia and the US began joint drills [S1]. Russia sent 2,000 peacekeepers [S10].",
    )
    s = llm_qa.summarize([SEED.stem], mode="llm")
    assert s.mode == "llm" and s.citations
    text = llm_qa.get(SEED.stem).text
    assert all(text[c.start : c.end] == c.text for c in s.citations)


def test_follow_up_is_condensed_offline_and_keeps_its_own_citations(make_qa, embedder) -> None:  # noqa: ANN001
    qa = make_qa(embedder)
    qa.ingest([SEED])
    conv = Conversation()
    first = qa.chat(conv, "What did Pashinyan say about the Lachin corridor?")
    second = qa.chat(conv, "What else did he claim about Russia?")
    assert len(conv.turns) == 2
    assert "Pashinyan" in conv.turns[1].standalone, "the pronoun is resolved from the last turn"
    assert any("strategic mistake" in c.text for c in second.citations)
    assert [c.sentence_id for c in conv.turns[0].answer.citations] == [c.sentence_id for c in first.citations]


def test_cli_ask_mode_llm_and_eval_run(
    stub: OpenAIStub,
    tmp_path: Path,
    embedder,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("QA_LLM_MAX_RETRIES", "0")
    home = str(tmp_path / "h")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "--home", home, "-q", str(SEED)]).exit_code == 0
    stub.enqueue("Russia deployed 2,000 peacekeepers [S1].")
    r = runner.invoke(
        app, ["ask", "--home", home, "--json", "--mode", "llm", "How many peacekeepers did Russia deploy?"]
    )
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["mode"] == "llm" and "claims" in got and got["tokens"]["prompt"] > 0

    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"doc_id": "s1", "text": SEED.read_text()}) + "\n")
    qs = tmp_path / "q.jsonl"
    qs.write_text(json.dumps({"qid": "q1", "question": "How many peacekeepers did Russia deploy?"}) + "\n")
    stub.enqueue("Russia deployed 2,000 peacekeepers [S1].")
    out = tmp_path / "p.jsonl"
    r = runner.invoke(
        app, ["eval", "run", "--docs", str(docs), "--questions", str(qs), "--out", str(out), "--mode", "llm"]
    )
    assert r.exit_code == 0, r.stderr
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["qid"] == "q1" and row["mode"] == "llm" and row["citations"][0]["doc_id"] == "s1"
    assert stub.requests[-1]["model"] == "gpt-4o-mini"

    stub.enqueue(status(401))
    r = runner.invoke(app, ["ask", "--home", home, "--mode", "llm", "How many peacekeepers?"])
    assert r.exit_code == 2 and "OPENAI_API_KEY" in r.stderr
