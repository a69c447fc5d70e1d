"""Hostile inputs through the faces: the `qa` command (in process, over the fake embedder) and the
web app's handlers. Each must end in a clear message or a correct result: no traceback, no
markup read from article text, no control character reaching the terminal, no batch aborted."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa import cli
from qa.types import Article, ArticleInfo
from tests.support.fakes import HashEmbedder
from tests.support.hostile import GOOD_SENTENCE

pytestmark = pytest.mark.integration

runner = CliRunner()
K_ERROR = "k (sentences cited) must be a whole number from 1 to 50, not"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """QA_HOME for `qa` commands run in this process, with the fake embedder in the service."""
    from qa.service import QA

    def service(home: Path | None, **overrides: object) -> QA:
        return QA(cli._settings(home, **overrides), embedder=HashEmbedder())

    monkeypatch.setattr(cli, "_service", service)
    for console in (cli.out, cli.err):  # one line per message, however long its paths
        monkeypatch.setattr(console, "_width", 10_000)
    return tmp_path / "home"


def run(home: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(cli.app, [args[0], "--home", str(home), *args[1:]])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception  # no traceback
    return r.exit_code, r.stdout, r.stderr


def _qa(home: Path) -> Any:
    return cli._service(home)


def _no_controls(*outputs: str) -> None:
    for text in outputs:
        assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)


# --- qa ingest -------------------------------------------------------------------------------------


def test_a_bad_record_fails_alone_and_the_batch_is_stored(home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    rows = [{"doc_id": f"bad-{key}", "text": GOOD_SENTENCE, key: "x\ud800"}
            for key in ("source", "url", "published_at", "doc_id", "title", "text")]
    rows.append({"doc_id": "good-line", "text": GOOD_SENTENCE, "published_at": "yesterday"})
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = tmp_path / "other.txt"
    other.write_text("The river rose overnight.")
    code, out, err = run(home, "ingest", "-q", str(docs), str(other))
    assert code == 1
    assert "added: good-line" in out and "added: other" in out
    for key in ("source", "url", "published_at", "doc_id", "title", "text"):
        assert f"field '{key}' is not valid Unicode: a lone surrogate" in err
    assert f"warning: {docs}: good-line: published_at 'yesterday' is not an ISO 8601 date" in err
    assert sorted(a.doc_id for a in _qa(home).list()) == ["good-line", "other"]
    assert _qa(home).get("good-line").published_at is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_reported_not_read(home: Path, tmp_path: Path) -> None:
    # /dev/zero is tested in a memory-capped child (tests/unit/test_ingest.py); a FIFO only waits.
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "y.md")  # met in a folder: reported too, not skipped in silence
    good = tmp_path / "good.txt"
    good.write_text(GOOD_SENTENCE)
    got: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: got.append(run(home, "ingest", "-q", str(fifo), str(folder),
                                                            str(good))), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # waiting for a writer: be one, so that the thread ends, then fail
        for waited_on in (fifo, folder / "y.md"):
            with contextlib.suppress(OSError):
                os.close(os.open(waited_on, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(60)
        pytest.fail("qa ingest waited on a FIFO")
    ((code, out, err),) = got
    assert code == 1 and "added: good" in out
    assert f"failed: {fifo}: not a regular file" in err
    assert f"failed: {folder / 'y.md'}: not a regular file" in err


# --- what the CLI prints of stored and user text ------------------------------------------------------

TITLE = "[/red] broken [bold red]loud[/bold red]"
SENTENCE = "The harbour council approved the [bold]new ferry[/bold] budget [/red] on Monday."


def test_markup_in_stored_text_is_printed_as_written(home: Path) -> None:
    qa = _qa(home)
    qa.ingest_articles([Article(doc_id="[/x]markup", title=TITLE, source="[link=x]AFP",
                                text=SENTENCE)])
    code, out, err = run(home, "list")
    assert code == 0, err
    assert "[/x]markup" in out and "[/red] broken [bold red]loud[/bold red]" in out and "[link=x]AFP" in out
    code, out, err = run(home, "ask", "What did the harbour council approve?")
    assert code == 0, err
    assert out.startswith(f"{SENTENCE} [1]") and TITLE in out
    code, out, err = run(home, "summarize", "[/x]markup")
    assert code == 0 and TITLE in out
    code, out, err = run(home, "delete", "[/x]nope")
    assert code == 2 and "error: No article with id '[/x]nope'" in err
    code, out, err = run(home, "delete", "[/x]markup")
    assert code == 0 and "deleted [/x]markup" in out


def test_control_characters_never_reach_the_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored before ingest cleaned sources, or imported: the printing must hold on its own.
    from qa.service import QA

    rows = [ArticleInfo(doc_id="id\x9b2J", title="Title\x1b[2J", source="\x1b[2JAFP\x07",
                        published_at="2023-09-11", n_sentences=1)]
    monkeypatch.setattr(QA, "list", lambda self, **kw: rows)
    code, out, err = run(home, "list")
    assert code == 0 and "Title\ufffd[2J" in out and "\ufffd[2JAFP\ufffd" in out
    _no_controls(out, err)
    code, out, err = run(home, "delete", "esc\x1b[2Jape")
    assert code == 2 and "No article with id" in err
    _no_controls(out, err)
    code, out, err = run(home, "ingest", "-q", "esc\x1b[2Jape\x9b.txt")
    assert code == 1 and "failed: esc\ufffd[2Jape\ufffd.txt: no such file or folder" in err
    _no_controls(out, err)
    code, out, err = run(home, "ask", "--since", "[/x]\x1b[2J", "Who?")
    assert code == 2 and "--since must be a date" in err and "[/x]" in err
    _no_controls(out, err)


# --- k ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", ["0", "-1", "51"])
def test_a_bad_k_is_a_clear_error_in_the_cli(home: Path, k: str) -> None:
    _qa(home).ingest_articles([Article(doc_id="a", text=GOOD_SENTENCE)])
    code, out, err = run(home, "ask", "--k", k, "What did the council approve?")
    assert code == 2 and f"{K_ERROR} {k}." in err and out == ""


@pytest.mark.parametrize(
    ("k", "shown"), [(0, "0"), (-1, "-1"), ("0", "0"), (2.5, "2.5"), (99, "99"), ("x", "'x'")]
)
def test_a_bad_k_is_a_clear_error_in_the_web_api_and_chat(home: Path, k: Any, shown: str) -> None:
    import gradio as gr

    from qa.answer.conversation import Conversation
    from qa.web.api import _Api
    from qa.web.chat import _Chat

    qa = _qa(home)
    qa.ingest_articles([Article(doc_id="a", text=GOOD_SENTENCE)])
    api = _Api(qa)
    question = "What did the council approve?"
    with pytest.raises(gr.Error, match=re.escape(f"{K_ERROR} {shown}")):
        api.ask(question, k=k)
    with pytest.raises(gr.Error, match=re.escape(f"{K_ERROR} {shown}")):
        list(api.ask_stream(question, k=k))
    *_, (transcript, conv, box, _) = _Chat(qa).chat(question, Conversation(), "", k, None, None, None)
    assert f"{K_ERROR} {shown}" in transcript.replace("&#x27;", "'") and box == question and not conv.turns
    for empty in (None, ""):  # empty still means the default
        assert api.ask(question, k=empty)["citations"][0]["doc_id"] == "a"


# --- web upload ------------------------------------------------------------------------------------


def test_web_upload_reports_bad_records_and_warnings(home: Path, tmp_path: Path) -> None:
    from qa.web.render import ingest_results_html
    from qa.web.uploads import ingest_uploads

    upload = tmp_path / "up.jsonl"
    upload.write_text(json.dumps({"doc_id": "u-bad", "source": "\ud800", "text": GOOD_SENTENCE}) + "\n"
                      + json.dumps({"doc_id": "u-ok", "published_at": "<script>x</script>",
                                    "text": GOOD_SENTENCE}) + "\n")
    other = tmp_path / "other.txt"
    other.write_text("The river rose overnight.")
    results, _ = ingest_uploads(_qa(home), [str(upload), str(other)], None)
    assert [(r.path, r.doc_id, r.status) for r in results] == [
        ("up.jsonl line 1", None, "failed"), ("up.jsonl", "u-ok", "added"), ("other.txt", "other", "added")]
    assert results[1].warnings == ["published_at '<script>x</script>' is not an ISO 8601 date or datetime "
                                   "(such as 2023-09-11 or 2023-09-11T08:30:00+02:00); the article is kept "
                                   "without a date"]
    page = ingest_results_html(results)
    assert "not valid Unicode" in page and "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
