"""The import graph of ``medcoop.dicom`` and ``medcoop.deid``: no cycle, no private names.

A cycle broken by a function-local import works until someone moves the import; these
tests read every import statement (module-level and inside functions) and require the
graph to be acyclic, and import the byte readers each in a fresh interpreter (where an
import order problem would show).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("medcoop.dicom", "medcoop.deid")
#: Command-line modules import the engine inside their commands, so that ``--help`` is quick.
LAZY_ALLOWED = frozenset({"medcoop.dicom.cli", "medcoop.deid.cli"})


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        folder = SRC / package.replace(".", "/")
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, module: str) -> list[tuple[str, list[str], bool]]:
    """Return (imported module, names taken from it, inside a function?) per statement."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.stem == "__init__" else module.rsplit(".", 1)[0]
    found: list[tuple[str, list[str], bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # for the type checker only: never imported at run time
            if isinstance(child, ast.Import):
                found.extend((alias.name, [], inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [alias.name for alias in child.names]
                found.append((base, names, inner))
            visit(child, inner)

    visit(tree, False)
    return found


def _edges(module: str) -> list[tuple[str, bool]]:
    """Return the modules of ours that ``module`` imports, and whether inside a function."""
    edges = []
    for base, names, local in _imports(MODULES[module], module):
        targets = [f"{base}.{name}" for name in names if f"{base}.{name}" in MODULES]
        if base in MODULES and len(targets) < len(names):
            targets.append(base)  # names defined in the module (or package) itself
        edges.extend((target, local) for target in targets)
    return edges


def test_the_import_graph_has_no_cycle() -> None:
    graph = {module: {target for target, _ in _edges(module)} for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " → ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in MODULES:
        visit(module, [])


def test_no_module_imports_another_modules_private_names() -> None:
    private = [
        f"{module} takes {name} from {base}"
        for module, path in MODULES.items()
        for base, names, _ in _imports(path, module)
        if base.startswith("medcoop")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


def test_imports_of_our_modules_are_at_module_level() -> None:
    # A function-local import of our own code is how cycles were hidden.
    local = [
        f"{module} imports {target} inside a function"
        for module in MODULES
        if module not in LAZY_ALLOWED
        for target, inner in _edges(module)
        if inner
    ]
    assert local == []


@pytest.mark.parametrize(
    "module",
    [
        "medcoop.dicom.reader",
        "medcoop.dicom.part10",
        "medcoop.dicom.values",
        "medcoop.dicom.content",
        "medcoop.dicom.rawsr",
        "medcoop.dicom.sr",
        "medcoop.deid.elements",
    ],
)
def test_each_reader_module_imports_alone(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_reader_depends_on_nothing_of_ours() -> None:
    assert [target for target, _ in _edges("medcoop.dicom.reader")] == []
