"""The `qa` command end to end with the real model: ingest, ask --json, summarize, list, delete,
eval run; exit codes and messages."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from tests.support.paths import SEED

pytestmark = pytest.mark.integration

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def home(tmp_path: Path, embedder) -> str:  # noqa: ANN001 - embedder: load the model once
    return str(tmp_path / "home")


def test_ingest_ask_summarize_list_delete(home: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00")
    code, out, err = run("ingest", "--home", home, "-q", str(SEED), str(bad))
    assert code == 1, "a failed file makes the exit code say so"
    assert "added: 000_796d416b0a81cd49 (13 sentences)" in out
    assert f"failed: {bad}" in err

    code, out, _ = run("ingest", "--home", home, "-q", str(SEED))
    assert code == 0 and "unchanged: 000_796d416b0a81cd49" in out

    code, out, _ = run("ask", "--home", home, "--json", "How many peacekeepers did Russia deploy?")
    assert code == 0
    got = json.loads(out)
    assert set(got) >= {
        "question",
        "answer",
        "abstained",
        "citations",
        "retrieved_doc_ids",
        "mode",
        "timings_ms",
    }
    assert got["mode"] == "extractive" and not got["abstained"]
    c = got["citations"][0]
    assert set(c) >= {"n", "doc_id", "title", "source", "published_at", "sentence_id", "start", "end", "text"}
    assert "2,000 peacekeepers" in " ".join(x["text"] for x in got["citations"])

    code, out, _ = run("ask", "--home", home, "Who won the 2022 FIFA World Cup final?")
    assert code == 0 and out.startswith("The articles do not answer this.")

    code, out, _ = run("summarize", "--home", home, "--json", "000_796d416b0a81cd49")
    assert code == 0 and json.loads(out)["citations"]

    code, out, _ = run("list", "--home", home, "--json")
    assert [r["doc_id"] for r in json.loads(out)] == ["000_796d416b0a81cd49"]

    code, out, _ = run("delete", "--home", home, "000_796d416b0a81cd49")
    assert code == 0
    code, _, err = run("delete", "--home", home, "000_796d416b0a81cd49")
    assert code == 2 and "No article with id '000_796d416b0a81cd49'" in err


def test_bad_question_and_dates_are_clear_errors(home: str) -> None:
    code, _, err = run("ask", "--home", home, "   ")
    assert code == 2 and "question is empty" in err
    code, _, err = run("ask", "--home", home, "x" * 5000)
    assert code == 2 and "limit is 4,000" in err
    code, _, err = run("ask", "--home", home, "--since", "yesterday", "hi")
    assert code == 2 and "--since must be a date" in err


def test_eval_run_writes_one_line_per_question(home: str, tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"doc_id": "s1", "title": "Seed", "source": "AFP", "text": SEED.read_text()}) + "\n"
    )
    qs = tmp_path / "q.jsonl"
    qs.write_text(
        json.dumps({"qid": "q1", "question": "How many peacekeepers did Russia deploy?"})
        + "\n"
        + json.dumps({"qid": "q2", "question": "Who won the 2022 FIFA World Cup final?"})
        + "\n"
    )
    out = tmp_path / "pred.jsonl"
    code, _, _ = run("eval", "run", "--docs", str(docs), "--questions", str(qs), "--out", str(out))
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["qid"], r["abstained"]) for r in rows] == [("q1", False), ("q2", True)]
    assert rows[0]["citations"][0]["doc_id"] == "s1"
    assert rows[0]["retrieved_doc_ids"] == ["s1"]
