"""The packages' modules import one another without a cycle, and the packages depend one way.

Read from the source with `ast` (nothing is imported). The graph has one node per module of
cells, runs, spaces and search (a package is its `__init__`). A -> B when A names B in an
import statement (`import P.B`; `from P import B` where P.B is a module, else P; relative
imports resolved) or in a literal `importlib.import_module("B")` call, the way the old
plugin loader of cells/build.py reached cells.fast unseen (or `import_module(TABLE[name])` where
TABLE is a module-level dict of literal module names: every one of them is an edge). Not an edge: the implicit import of
B's parent packages, which Python always initialises before B, so that it cannot hand out a
half-initialised module; a module that reads a name from its package (`from cells import X`)
is an edge to that package and counted.

- module level: the imports that run when a module is imported (top level, class bodies,
  `if`/`try`/`with` blocks; not function bodies, not `if TYPE_CHECKING:`). A cycle here makes
  the import order matter: whichever module comes first sees the other half-initialised.
- everywhere: function bodies too. A lazy import inside a function hides a cycle from the
  module-level graph without removing it (cells.build -> cells.fast -> cells.build was one):
  the two modules still depend on each other.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cells", "runs", "spaces", "search")
# What each package may import of the others (README: search -> spaces -> runs -> cells).
ALLOWED = {"cells": set(), "runs": {"cells"}, "spaces": {"cells", "runs"}, "search": {"cells", "runs", "spaces"}}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _known(name: str) -> str | None:
    """The module `name` is, or the innermost known package holding it (None: not ours)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            is_package = MODULES[module].name == "__init__.py"
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    # importlib.import_module("x") / __import__("x") with a literal name, or a name looked up in
    # the module's table of literal module names (a package's lazy public face: search/__init__.py)
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
        return [node.args[0].value]
    table = _table_lookup(node.args[0]) if name in ("import_module", "__import__") and node.args else None
    return sorted(set(_tables(MODULES[module]).get(table, []))) if table else []


def _table_lookup(node: ast.AST) -> str | None:
    """`TABLE[...]`: the name of the table it looks a value up in."""
    return node.value.id if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) else None


def _tables(path: Path) -> dict[str, list[str]]:
    """The module-level dicts of `path` whose values are all string literals: name -> values."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Dict) and node.value.values \
                and all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.value.values):
            found[node.targets[0].id] = [v.value for v in node.value.values]
    return found


def _import_nodes(tree: ast.Module, everywhere: bool) -> list[ast.AST]:
    if everywhere:
        return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom, ast.Call))]
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return  # runs when called, not when imported
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(everywhere: bool) -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = {_known(t) for node in _import_nodes(tree, everywhere) for t in _targets(module, node)}
        graph[module] = targets - {None, module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_cycle_hidden_in_a_function():
    """The graph is read as claimed: the old loader's cycle is found only when functions count."""
    old_build = "import importlib\ndef _load_plugins():\n    importlib.import_module('cells.fast')\n"
    graph = import_graph(everywhere=True)
    tree = ast.parse(old_build)
    graph["cells.build"] = graph["cells.build"] | {t for n in _import_nodes(tree, True) for t in _targets("cells.build", n)}
    graph["cells.fast"] = graph["cells.fast"] | {"cells.build"}
    assert find_cycle(graph) in (["cells.build", "cells.fast", "cells.build"], ["cells.fast", "cells.build", "cells.fast"])
    assert [type(n) for n in _import_nodes(tree, everywhere=False)] == [ast.Import]  # the call is in a function


@pytest.mark.parametrize("everywhere", [False, True], ids=["module-level", "function-level-too"])
def test_no_import_cycle(everywhere):
    assert len(MODULES) > 50  # all four packages were read
    cycle = find_cycle(import_graph(everywhere))
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_cells_builds_fast_cells_through_a_lazy_import_only():
    """cells.fast is reached from cells.build at call time, and never imports cells.build back."""
    assert "cells.fast" not in import_graph(everywhere=False)["cells.build"]
    assert "cells.fast" in import_graph(everywhere=True)["cells.build"]
    fast = [m for m in MODULES if m.startswith("cells.fast")]
    graph = import_graph(everywhere=True)
    assert not {t for m in fast for t in graph[m]} & {"cells", "cells.build", "cells.io"}


def test_packages_depend_one_way():
    graph = import_graph(everywhere=True)
    for module, targets in graph.items():
        package = module.partition(".")[0]
        others = {t.partition(".")[0] for t in targets} - {package}
        assert others <= ALLOWED[package], f"{module} imports {sorted(others - ALLOWED[package])}"


def test_every_import_is_visible_to_the_graph():
    """No module imports by a computed name (`import_module(name)`), which the graph could not follow."""
    hidden = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                literal = node.args and (isinstance(node.args[0], ast.Constant)
                                         or _table_lookup(node.args[0]) in _tables(path))
                if name in ("import_module", "__import__") and not literal:
                    hidden.append(f"{module}:{node.lineno}")
    assert not hidden, f"imports by a computed name: {', '.join(hidden)}"


def test_cells_fast_is_imported_when_a_fast_cell_is_built_and_not_before():
    code = ("import sys, torch\n"
            "from cells import CellConfig, build_cell\n"
            "cfg = CellConfig(core='gru', input_size=1, hidden_size=4)\n"
            "assert 'cells.fast' not in sys.modules\n"
            "build_cell(cfg, impl='reference')\n"
            "assert 'cells.fast' not in sys.modules\n"
            "cell = build_cell(cfg)\n"
            "cell(torch.zeros(1, 3, 1))\n"
            "print(cell.fast_path)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fused-rnn"
