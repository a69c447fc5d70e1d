"""The soak test of issue 13, bounded: `qa serve` answers while another process adds, replaces
and deletes articles in a loop (bench/soak.py; run it longer there). No request may fail, every
answer must be consistent with a version the library held, and the server's memory must stay
flat. The figures are printed (pytest -s) for the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.chroma_server import chroma_server
from tests.support.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = 30


@pytest.mark.parametrize("store", ["embedded", "chroma-server"])
def test_soak(store: str, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", str(SECONDS), "--clients", "3",
           "--json", str(out)]
    if store == "chroma-server":
        with chroma_server(tmp_path / "chroma") as server:
            got = subprocess.run([*cmd, "--chroma-url", server.url], capture_output=True, text=True,
                                 timeout=SECONDS + 400)
    else:
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 400)
    assert out.exists(), got.stdout[-2000:] + got.stderr[-3000:]
    report = json.loads(out.read_text())
    print(json.dumps({k: v for k, v in report.items() if k != "server_log_tail"}, indent=1))
    # The server's own log names the cause of a failed request (the client sees only Gradio's
    # "the upstream app raised an exception").
    assert report["errors"] == 0, (report["error_samples"], report["server_log_tail"])
    assert report["inconsistent"] == 0, report["inconsistent_samples"]
    assert report["writer_exit"] == 0 and report["writer_operations"] >= 20 and report["deletes"] >= 1
    assert report["requests"] >= 100
    assert report["tracebacks_in_server_log"] == 0, report["server_log_tail"]
    assert report["growth_ratio"] < 1.25, "the server's memory grew during the soak"
    assert got.returncode == 0
