"""The built wheel, installed without the source tree (not editable), answers on the seed: offline,
and in LLM mode against the loopback OpenAI-compatible stub, with its prompts found inside the
installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.openai_stub import OpenAIStub
from tests.support.paths import ROOT, SEED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "How many peacekeepers did Russia deploy?"


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    got = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert got.returncode == 0, f"{cmd} exited {got.returncode}:\n{got.stdout}\n{got.stderr}"
    return got.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding only the wheel of qa; its dependencies are read from the test
    environment's site-packages through a .pth line (installing torch again would take minutes),
    which does not run that environment's editable-install hook: `qa` comes from the wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp / "dist"), str(ROOT)], cwd=tmp)
    wheel = next((tmp / "dist").glob("qa-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    site = Path(_run([str(venv / "bin" / "python"), "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).strip())
    (site / "qa-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q"]
    _run([*pip, "--target", str(site), str(wheel)], cwd=tmp)
    yield venv


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.pop("PYTHONPATH", None)
    return {**env, "QA_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}


def test_the_wheel_ships_its_prompts_and_model(installed: Path, tmp_path: Path) -> None:
    python = str(installed / "bin" / "python")
    out = _run([python, "-c", "import qa, qa.answer.prompts as p, qa.retrieve.evidence_model as m;"
                "print(qa.__file__); print(p.PROMPTS_DIR); print(m.DEFAULT_PATH.exists())"],
               cwd=tmp_path, env=_env(tmp_path / "home"))
    package, prompts, model = out.split()
    assert str(installed) in package and str(ROOT) not in package, "qa came from the source tree"
    assert str(installed) in prompts and Path(prompts, "answer.user.txt").is_file()
    assert model == "True"


def test_the_installed_qa_answers_offline_and_with_the_llm(installed: Path, tmp_path: Path) -> None:
    qa = str(installed / "bin" / "python")
    home = tmp_path / "home"
    _run([qa, "-m", "qa.cli", "ingest", str(SEED)], cwd=tmp_path, env=_env(home))
    offline = json.loads(_run([qa, "-m", "qa.cli", "ask", QUESTION, "--json", "--mode", "extractive"],
                              cwd=tmp_path, env=_env(home)))
    assert not offline["abstained"] and offline["mode"] == "extractive"
    assert any("peacekeepers" in c["text"] for c in offline["citations"])

    with OpenAIStub() as stub:
        stub.enqueue("Russia deployed about 2,000 peacekeepers [S1].")
        env = _env(home, OPENAI_BASE_URL=stub.base_url, QA_LLM_MAX_RETRIES="0")
        llm = json.loads(_run([qa, "-m", "qa.cli", "ask", QUESTION, "--json", "--mode", "llm"],
                              cwd=tmp_path, env=env))
        prompt = stub.prompt_text(0)
    assert llm["mode"] == "llm" and not llm["abstained"], llm
    assert llm["citations"] and llm["citations"][0]["doc_id"] == SEED.stem
    assert "[S1]" in prompt and "peacekeepers" in prompt  # the shipped answer prompt was used
