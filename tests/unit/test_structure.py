"""The shape of the package: no import cycles, one package that knows Chroma, one reader of the
environment, and a wheel that lists every package (prompts included)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.support.paths import ROOT

QA = ROOT / "qa"
pytestmark = pytest.mark.unit


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """Every module of qa that `path` imports, at module level or inside functions (lazy imports
    are dependencies too); imports only for type checkers are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    modules = _modules()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "qa")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
    return {m for m in found if m in modules}


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in QA.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    return {name: _imports(path) - {name} for name, path in _modules().items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    # The check itself can fail: a graph with a loop is reported.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_store_package_imports_chromadb() -> None:
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            if any(n.split(".")[0] == "chromadb" for n in names) and not name.startswith("qa.store"):
                offenders.append(name)
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    readers = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        reads = ("os.environ.get(", "os.getenv(", "os.environ[")
        if any(r in text for r in reads) and name != "qa.settings":
            readers.append(name)
    assert readers == []


def test_faces_never_reach_past_the_service() -> None:
    # The CLI, the web app and the evaluation call QA; they do not import the store.
    for name, deps in _graph().items():
        if name == "qa.cli" or name.startswith("qa.web") or (
            name.startswith("qa.evaluation") and name != "qa.evaluation.yardsticks"
        ):
            assert not any(d.startswith("qa.store") for d in deps), f"{name} imports {deps}"


def test_every_package_is_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {_module_name(p.parent) for p in QA.rglob("__init__.py")}
    assert set(config["packages"]) == packages | {"qa.prompts"}
    assert config["package-dir"]["qa.prompts"] == "prompts"
    assert list((ROOT / "prompts").glob("*.txt")), "no prompt files"


def test_every_module_says_its_job() -> None:
    modules = _modules().items()
    missing = [name for name, path in modules if ast.get_docstring(ast.parse(path.read_text())) is None]
    assert missing == []
