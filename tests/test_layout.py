"""The layout shows the architecture: imports run one way (the table in docs/design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

IVR = Path(__file__).resolve().parent.parent / "ivr"

BASE = {"errors", "limits", "clock"}
"""Top-level modules every layer may use: the error root, the limits table, the clocks."""

CONTRACTS = {"ivr.engine.backoffice"}
"""Modules of plain data every layer may use: the back-office contract (its operations, the
values they take and give, their results; it imports only ``ivr.errors``). ``ivr check``
(the menu layer) checks action nodes against it; the drivers and back offices use it."""

ALLOWED: dict[str, set[str]] = {
    "menu": set(),
    "engine": {"menu"},
    "audio": set(),
    "hearing": {"menu", "engine", "audio"},
    "prompts": {"audio"},
    "callers": {"engine", "audio", "hearing"},
    "drivers": {"menu", "engine", "audio", "hearing", "prompts", "callers"},
    "outputs": {"menu", "engine", "audio"},
    "wiring": {"menu", "engine", "hearing", "prompts", "outputs", "backoffice"},
    "backoffice": {"engine"},
    "reports": {"menu", "engine", "outputs"},
    "scenarios": {
        "menu",
        "engine",
        "audio",
        "hearing",
        "prompts",
        "callers",
        "drivers",
        "outputs",
        "wiring",
        "backoffice",
    },
    "web": {
        "menu",
        "engine",
        "audio",
        "hearing",
        "prompts",
        "callers",
        "drivers",
        "outputs",
        "wiring",
        "scenarios",
        "backoffice",
    },
    "cli": {
        "web",
        "menu",
        "engine",
        "audio",
        "hearing",
        "prompts",
        "callers",
        "drivers",
        "outputs",
        "wiring",
        "scenarios",
        "backoffice",
        "reports",
    },
}
"""Layer -> the layers it may import (besides itself and BASE). Keep equal to docs/design.md."""


def _layer(path: Path) -> str:
    parts = path.relative_to(IVR).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[str]:
    """The ivr layers a module imports (at any depth, also under TYPE_CHECKING)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "ivr" else [f"ivr.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n.split(".")[1] for n in names if n.startswith("ivr.") and n not in CONTRACTS]
    return found


MODULES = sorted(p for p in IVR.rglob("*.py") if p.parent != IVR or p.stem in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(IVR)))
def test_imports_run_one_way(path: Path) -> None:
    layer = _layer(path)
    wrong = {i for i in _imports(path) if i not in BASE | ALLOWED[layer] | {layer}}
    assert not wrong, f"{layer} may not import {sorted(wrong)}"


def test_the_contract_imports_only_the_base() -> None:
    contract = IVR / "engine" / "backoffice.py"
    assert set(_imports(contract)) <= BASE


def test_every_module_is_in_a_layer() -> None:
    flat = {p.stem for p in IVR.glob("*.py")} - BASE - set(ALLOWED) - {"__init__", "__main__"}
    assert not flat, f"a module outside the layers: {sorted(flat)} (see docs/design.md)"


def test_the_engine_imports_no_audio_hearing_or_driver_code() -> None:
    for path in (IVR / "engine").glob("*.py"):
        assert not set(_imports(path)) & {"audio", "hearing", "drivers", "callers", "prompts"}


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from ivr.drivers.session import Session\nfrom ivr import cli\n")
    assert _imports(bad) == ["drivers", "cli"]


def test_the_facade_exports_every_public_name() -> None:
    import ivr

    for name in ivr.__all__:
        assert getattr(ivr, name) is not None, name
    assert ivr.KeyPress("1").key == "1"
    assert issubclass(ivr.MenuInvalid, ivr.IvrError)


# --- inside the scenarios package -------------------------------------------------------------


def _package_imports(path: Path, package: str = "ivr.scenarios") -> set[str]:
    """The modules of ``package`` that a module imports (``__init__`` for the package itself)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == package:
                names += [f"{package}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name == package:
                found.add("__init__")
            elif name.startswith(package + "."):
                module = name.removeprefix(package + ".").split(".")[0]
                if (path.parent / f"{module}.py").is_file():
                    found.add(module)
    return found - {path.stem}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph (``[a, b, a]``), or [] if it has none."""
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> list[str]:
        if module in trail:
            return [*trail[trail.index(module) :], module]
        if module in done:
            return []
        for imported in sorted(graph.get(module, ())):
            cycle = visit(imported, [*trail, module])
            if cycle:
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return []


def _graph(folder: Path) -> dict[str, set[str]]:
    return {path.stem: _package_imports(path) for path in sorted(folder.glob("*.py"))}


def test_the_scenarios_modules_import_each_other_without_a_cycle() -> None:
    graph = _graph(IVR / "scenarios")
    assert not _cycle(graph), " -> ".join(_cycle(graph))
    assert graph["model"] == set(), "the scenario model is plain data: it imports no module here"
    assert graph["coverage"] <= {"model", "loading"}, "coverage reads results; it runs nothing"


def test_the_check_sees_an_import_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from ivr.scenarios.b import x\n")
    (tmp_path / "b.py").write_text("def f() -> None:\n    from ivr.scenarios import c\n")
    (tmp_path / "c.py").write_text("import ivr.scenarios.a\n")
    assert _cycle(_graph(tmp_path)) == ["a", "b", "c", "a"]
    (tmp_path / "c.py").write_text("import ivr.scenarios.b.x\n")
    assert _cycle(_graph(tmp_path)) == ["b", "c", "b"]
    (tmp_path / "c.py").write_text("import ivr.engine\n")
    assert _cycle(_graph(tmp_path)) == []
