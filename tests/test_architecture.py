"""The package's import structure: no cycles, and no reaching into another subpackage's private modules.

Read from the source with ``ast`` (imports inside functions count too: a lazy import is still a
dependency), so the test needs nothing installed and sees what a reader sees.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "crocotel"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The crocotel modules ``name`` imports (``from pkg import module`` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return {target for target in found if target in MODULES and target != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _subpackage(name: str) -> str:
    """The folder a module lives in (``crocotel.logs`` for ``crocotel.logs.records``)."""
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def test_no_module_imports_another_subpackages_private_module() -> None:
    offences = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if target.rpartition(".")[2].startswith("_")
        and target.rpartition(".")[2] != "__init__"
        and _subpackage(target) != _subpackage(name)
        and target != "crocotel._version"
    ]
    assert offences == []


def test_no_import_cycles() -> None:
    """Edges into the package ``crocotel`` itself are left out: importing any submodule runs it."""
    graph = {name: {t for t in targets if t != "crocotel"} for name, targets in GRAPH.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_graph_is_read() -> None:
    """The checks above see real edges (a parser that found none would pass them vacuously)."""
    assert "crocotel.logs.records" in GRAPH["crocotel.logs.formatters"]
    assert "crocotel.redaction.engine" in GRAPH["crocotel.redaction.policy"]
    assert len(MODULES) > 40
