"""A running `qa serve` follows what other processes commit to its library (issue 13): articles
added, replaced and deleted by `qa ingest` and `qa delete` in processes of their own are seen
at the server's next request, with the embedded store and with a Chroma server, and no request
fails meanwhile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from tests.support.browser import ARMENIA_Q, SEED_ID, TOPICS
from tests.support.chroma_server import chroma_server
from tests.support.paths import SEED
from tests.support.qa_server import QAServer, qa_env, qa_serve, run_qa

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
]

LIMA, LIMA_Q = TOPICS[0]
OSLO, OSLO_Q = TOPICS[1]
OLD_WORDS = "cap irrigation withdrawals"
NEW_TEXT = LIMA.text.replace(OLD_WORDS, "ban new dams and cap mining withdrawals").replace(
    "Leaders from six", "Ministers from seven"
)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")  # the ONNX export is made once for the module


@pytest.fixture(params=["embedded", "chroma-server"])
def library(
    request: pytest.FixtureRequest, tmp_path: Path, model_cache: Path
) -> Iterator[tuple[dict, QAServer]]:
    def start(url: str | None) -> Iterator[tuple[dict, QAServer]]:
        env = qa_env(tmp_path / "home", url, QA_MODEL_CACHE=str(model_cache))
        got = run_qa(env, "ingest", "-q", str(SEED))
        assert got.returncode == 0, got.stderr
        with qa_serve(env, tmp_path / "serve.log") as server:
            yield env, server

    if request.param == "embedded":
        yield from start(None)
    else:
        with chroma_server(tmp_path / "chroma-server") as chroma:
            yield from start(chroma.url)


def _jsonl(path: Path, *articles: Any) -> Path:
    path.write_text("".join(json.dumps(a.model_dump(exclude={"content_hash", "n_sentences"})) + "\n"
                            for a in articles))
    return path


def test_a_running_server_follows_other_writers(library: tuple[dict, QAServer], tmp_path: Path) -> None:
    env, server = library
    client = Client(server.url, verbose=False)

    def ask(question: str) -> dict:
        return client.predict(question=question, api_name="/ask")

    def listed() -> set[str]:
        return {r["doc_id"] for r in client.predict(api_name="/articles")}

    def cites(answer: dict, doc_id: str) -> bool:
        return not answer["abstained"] and answer["citations"][0]["doc_id"] == doc_id

    assert cites(ask(ARMENIA_Q), SEED_ID)
    assert listed() == {SEED_ID}
    for round_ in range(2):
        # Added by another process: answered from, listed.
        got = run_qa(env, "ingest", "-q", str(_jsonl(tmp_path / f"add-{round_}.jsonl", LIMA, OSLO)))
        assert got.returncode == 0 and "2 added" in got.stdout, got.stderr
        assert cites(ask(LIMA_Q), "lima-water") and cites(ask(OSLO_Q), "oslo-ferries")
        assert listed() == {SEED_ID, "lima-water", "oslo-ferries"}

        # Replaced by another process: the new text is cited, never the old one.
        changed = LIMA.model_copy(update={"text": NEW_TEXT})
        got = run_qa(env, "ingest", "-q", str(_jsonl(tmp_path / f"replace-{round_}.jsonl", changed)))
        assert got.returncode == 0 and "1 replaced" in got.stdout, got.stderr
        answer = ask("What would the Andean treaty ban and cap?")
        assert cites(answer, "lima-water")
        assert all(OLD_WORDS not in c["text"] for c in answer["citations"])
        assert any("mining withdrawals" in c["text"] for c in answer["citations"])
        summary = client.predict(doc_ids=["lima-water"], api_name="/summarize")
        assert summary["sentences"] and all(s in NEW_TEXT for s in summary["sentences"])
        assert not any("Leaders from six" in s for s in summary["sentences"])

        # Deleted by another process: gone from answers and the list; the rest still answers.
        for doc_id in ("lima-water", "oslo-ferries"):
            got = run_qa(env, "delete", doc_id)
            assert got.returncode == 0, got.stderr
        assert not any(c["doc_id"] == "lima-water" for c in ask(LIMA_Q)["citations"])
        assert listed() == {SEED_ID}
        assert cites(ask(ARMENIA_Q), SEED_ID)
        with pytest.raises(Exception, match="No article"):
            client.predict(doc_ids=["oslo-ferries"], api_name="/summarize")
    assert "Traceback" not in server.log()
