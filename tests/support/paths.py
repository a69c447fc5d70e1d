"""Where the tests find the repository, the seed article and the shared dev sets."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_EVAL = ROOT.parent / "shared" / "eval"
SEED = ROOT / "seeds" / "000_796d416b0a81cd49.txt"


def shared_eval(name: str) -> Path:
    """A file of ../shared/eval, or skip: those sets may not be copied into the project."""
    path = SHARED_EVAL / name
    if not path.exists():
        pytest.skip(f"{path} is missing (the dev sets are read from ../shared/eval)")
    return path
