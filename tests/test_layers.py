"""The import graph of ``src/automri`` follows the documented layer order (README, docs/architecture.md).

Every ``import`` / ``from ... import`` of an ``automri`` module is parsed, at module top or inside a
function, so a hidden edge cannot slip past. A subpackage may import its own layer and the layers
below it, never above; the base modules (``errors``, ``atomic``) use only the standard library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "automri"
LAYERS = ["base", "physics", "data", "models", "nas", "eval", "train", "federated", "experiments", "cli"]
BASE_MODULES = {"errors", "atomic", "limits", "__init__"}
OPTIONAL_LOCAL_IMPORTS = {"torch.utils.tensorboard", "sigpy.mri.app"}
"""Optional dependencies: the only imports allowed inside a function below the CLI."""
LAZY_LAYER = "cli"
"""The thin CLI imports a command's implementation inside the command, so that ``automri --help``
does not load torch and Flower; its edges are still checked by the layer test."""


def layer_of(module: str) -> str:
    """Layer of a dotted ``automri`` module name (``automri.nas.cell.ops`` -> ``nas``)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE_MODULES or parts[1] == "__main__":
        return "base" if len(parts) == 1 or parts[1] != "__main__" else "cli"
    return parts[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported automri module, line, at module top)`` for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
            names = [_submodule(names[0], alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(name, node.lineno, id(node) in top) for name in names]
    return found


def _submodule(module: str, name: str) -> str:
    """``module.name`` when that is a module of ours (``from automri.eval import report``), else ``module``."""
    candidate = SRC.parent.joinpath(*f"{module}.{name}".split("."))
    return f"{module}.{name}" if candidate.with_suffix(".py").is_file() or candidate.is_dir() else module


def edges() -> list[tuple[str, str, str]]:
    """``(importer layer, imported layer, "file:line")`` for every cross-layer ``automri`` import."""
    result = []
    for path in sorted(SRC.rglob("*.py")):
        own = layer_of(module_name(path))
        for name, line, _ in imports(path):
            if name.startswith("automri") and layer_of(name) != own:
                result.append((own, layer_of(name), f"{path.relative_to(SRC)}:{line}"))
    return result


def test_every_subpackage_is_a_known_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages <= set(LAYERS), f"undocumented subpackages: {sorted(packages - set(LAYERS))}"


def test_no_import_against_the_layer_order() -> None:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [f"{where}: {low} imports {high}" for low, high, where in edges() if rank[high] > rank[low]]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        graph[module_name(path)] = {n for n, _, _ in imports(path) if n.startswith("automri") and n != "automri"}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_imports_sit_at_module_top() -> None:
    local = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sorted(SRC.rglob("*.py"))
        if layer_of(module_name(path)) != LAZY_LAYER
        for name, line, at_top in imports(path)
        if not at_top and name not in OPTIONAL_LOCAL_IMPORTS and not name.startswith("__future__")
    ]
    assert not local, "function-local imports (only optional dependencies may be imported late):\n" + "\n".join(local)


def test_layer_of_names_the_subpackage() -> None:
    assert layer_of("automri.nas.cell.ops") == "nas"
    assert layer_of("automri.errors") == "base"
    assert layer_of("automri") == "base"
