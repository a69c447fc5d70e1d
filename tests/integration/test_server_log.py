"""What `qa serve` writes to its log and shows its users when they err: one line per user error
and no traceback (Gradio prints one for every exception a handler raises unless told not to),
and no server path in the page or in the messages.

`qa serve` runs as a real process over a temporary QA_HOME holding the seed article, driven by
gradio_client, and its stdout and stderr are read as an operator would.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from qa.errors import NotFoundError, StoreError
from tests.support.browser import ARMENIA_Q, SEED_ID
from tests.support.paths import SEED
from tests.support.qa_server import QAServer, qa_env, qa_serve, run_qa

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
]

# (endpoint arguments, the message the client gets and the log line carries)
USER_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"question": "   ", "api_name": "/ask"}, "The question is empty."),
    ({"question": "Armenia?", "since": "yesterday", "api_name": "/ask"},
     "'Since' must be a date like 2023-09-11, not 'yesterday'."),
    ({"question": "", "api_name": "/ask_stream"}, "The question is empty."),
    ({"doc_ids": ["no-such-article"], "api_name": "/summarize"}, "No article with id 'no-such-article'."),
    ({"text": "  ", "api_name": "/ingest_text"}, "Paste the article's text first."),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-log") / "home"


@pytest.fixture(scope="module")
def server(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QAServer]:
    env = qa_env(home, QA_MODEL_CACHE=str(tmp_path_factory.mktemp("model-cache")))
    ingested = run_qa(env, "ingest", "-q", str(SEED))
    assert ingested.returncode == 0, ingested.stderr
    with qa_serve(env, home.parent / "serve.log") as s:
        yield s


def test_user_errors_are_one_line_each_in_the_log(server: QAServer) -> None:
    client = Client(server.url, verbose=False)
    assert client.predict(question=ARMENIA_Q, api_name="/ask")["citations"][0]["doc_id"] == SEED_ID
    for kwargs, message in USER_ERRORS:
        with pytest.raises(Exception) as refused:  # gradio_client's AppError
            client.predict(**kwargs)
        assert message in str(refused.value), kwargs
    log = server.log()
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "qa.web.common" in line]
    assert len(lines) == len(USER_ERRORS), log
    for (kwargs, message), line in zip(USER_ERRORS, lines, strict=True):
        assert line.startswith("INFO qa.web.common: " + kwargs["api_name"]) and line.endswith(message), line


def test_the_page_shows_no_server_path(server: QAServer, home: Path) -> None:
    with urllib.request.urlopen(server.url + "config", timeout=30) as r:
        config = r.read().decode()
    assert "Store: embedded Chroma (collection qa)" in config  # the header
    assert str(home) not in config and str(home.parent) not in config


def test_errors_shown_to_web_users_name_settings_not_paths(
    make_qa: Any, fake_embedder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from qa.web.common import api_error, told

    qa = make_qa(fake_embedder)
    home = qa.settings.home
    assert str(home) in qa.describe()["store"]  # the CLI still says where
    assert str(home) not in json.dumps(qa.describe(public=True))
    failure = StoreError(f"Cannot open the Chroma store at {home / 'chroma'}: boom",
                         help=f"Look at {home}.")
    with caplog.at_level(logging.INFO, logger="qa.web.common"):
        shown = told(qa, failure, "listing the library")
        error = api_error(qa, NotFoundError("No article with id 'x'."), "/summarize")
    assert shown == "Cannot open the Chroma store at QA_HOME/chroma: boom\nLook at QA_HOME."
    assert error.message == "No article with id 'x'." and not error.print_exception
    where = home / "chroma"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"listing the library: StoreError: Cannot open the Chroma store at {where}: boom"),
        ("INFO", "/summarize: NotFoundError: No article with id 'x'."),
    ]
