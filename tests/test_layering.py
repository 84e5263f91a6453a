"""The layering of ``src/vidlab``, read from the source with ``ast`` (nothing is imported).

What counts as an import: every ``import X`` and ``from X import y`` statement
anywhere in a module, at module level and inside functions and methods
(relative imports resolved). A lazy import inside a function is still a
dependency: it only hides a cycle from the interpreter, not from the design
(ARCHITECTURE.md: "dependencies point one way ... no import circles").
``from P import m`` where ``P.m`` is a module counts as importing that module.

The rules:

1. ``vidlab/models/`` imports only torch, torchvision, safetensors, the
   standard library, ``vidlab.errors``, ``vidlab.models.*`` and
   ``from vidlab import __version__`` (checkpoint provenance): building a model
   needs no data/, compress/, cv2, numpy or CLI.
2. No import loop between ``vidlab/data/`` and ``vidlab/flow/``: in the graph of
   vidlab's top-level packages (one node per ``vidlab.<name>``, an edge for
   every import above, module- or function-level) the two are never in one
   cycle, directly or through a third package. data/ may use flow/ (the
   datasets read stored flow); flow/ does not import data/ (the flow evaluation
   on the synthetic set is ``vidlab.evaluation.flow``). More generally the
   whole package graph is acyclic.
3. ``vidlab/apps/cli_*.py`` import no private name from ``vidlab.apps.cli``; the
   shared output helpers are ``vidlab.apps.output``.
4. No module uses a private name (one leading underscore; dunders such as
   ``__version__`` are fine) of another vidlab module: not ``from vidlab.x import _y``,
   not ``import vidlab.x._y``, and not ``m._y`` on a name ``m`` bound to an
   imported vidlab module.

``ALLOWED`` lists today's exceptions, each in a file its owner is changing;
an entry that no longer occurs fails the test so the list only shrinks.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "vidlab"

# Rule 1 exceptions: (importing module, imported module). None today: models.load() finds the
# loaders of compressed checkpoints by registration (entry point), it does not import compress/.
ALLOWED_MODELS_IMPORTS: set[tuple[str, str]] = set()
# Rule 4 exceptions: (importing module, defining module, private name).
ALLOWED_PRIVATE: set[tuple[str, str, str]] = set()

MODELS_THIRD_PARTY = {"torch", "torchvision", "safetensors"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    line: int
    target: str  # the imported module (``from P import m`` with P.m a module: P.m)
    name: str | None  # the imported name for ``from P import name`` (None: a module)
    in_function: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _is_vidlab_module(name: str) -> bool:
    """A module or (namespace) package of vidlab."""
    if name != "vidlab" and not name.startswith("vidlab."):
        return False
    return name in MODULES or PKG.joinpath(*name.split(".")[1:]).is_dir()


def _parse(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))


def _imports(module: str) -> list[Import]:
    tree = _parse(module)
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    out.append(Import(module, child.lineno, a.name, None, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, child.level, child.module)
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    if _is_vidlab_module(sub):
                        out.append(Import(module, child.lineno, sub, None, in_function))
                    else:
                        out.append(Import(module, child.lineno, base, a.name, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


IMPORTS: list[Import] = [imp for m in MODULES for imp in _imports(m)]


def _where(imp: Import) -> str:
    return f"{MODULES[imp.module].relative_to(SRC.parent)}:{imp.line}"


def _package(module: str) -> str:
    """``vidlab.data.datasets.kth`` -> ``data``; ``vidlab.stream`` -> ``stream``; ``vidlab`` -> ``vidlab``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if not imp.target.startswith("vidlab") or (imp.module, imp.target) in ALLOWED_MODELS_IMPORTS:
            continue
        a, b = _package(imp.module), _package(imp.target)
        if a != b:
            graph[a].add(b)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for n in graph.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str]:
    """One shortest package path ``start -> ... -> goal`` (breadth first)."""
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for a in frontier:
            for b in sorted(graph.get(a, ())):
                if b not in prev:
                    prev[b] = a
                    nxt.append(b)
        frontier = nxt
    path, node = [], goal
    while node is not None:
        path.append(node)
        node = prev[node]
    return path[::-1]


def _edge_sites(a: str, b: str) -> list[str]:
    return [f"{_where(i)} ({i.target})" for i in IMPORTS
            if i.target.startswith("vidlab") and _package(i.module) == a and _package(i.target) == b]


# ------------------------------------------------------------------ the walker itself
def test_the_walker_sees_the_tree_and_function_level_imports():
    assert len(MODULES) > 100 and "vidlab.models.registry" in MODULES
    assert _resolve("vidlab.flow", 1, "methods") == "vidlab.flow.methods"  # a package's own folder
    assert _resolve("vidlab.flow.extract", 2, "io") == "vidlab.io"
    lazy = [i for i in IMPORTS if i.module == "vidlab.flow.extract" and i.target == "vidlab.io"]
    assert lazy and all(i.in_function for i in lazy)  # VideoReader is imported inside a function
    assert any(i.module == "vidlab.flow" and i.target == "vidlab.flow.extract" and i.in_function for i in IMPORTS)


# ------------------------------------------------------------------ 1. models/ needs only torch
def _models_import_ok(imp: Import) -> bool:
    top = imp.target.split(".")[0]
    if top == "vidlab":
        return (imp.target == "vidlab.errors" or imp.target.startswith("vidlab.models")
                or (imp.target == "vidlab" and imp.name == "__version__"))
    return top in MODELS_THIRD_PARTY or top in sys.stdlib_module_names


def test_models_import_only_torch_the_standard_library_and_themselves():
    found = [i for i in IMPORTS if i.module.startswith("vidlab.models") and not _models_import_ok(i)]
    bad = [f"{_where(i)}: {i.target}" + (f" ({i.name})" if i.name else "")
           for i in found if (i.module, i.target) not in ALLOWED_MODELS_IMPORTS]
    assert not bad, "models/ may import only torch, torchvision, safetensors, the standard library, " \
                    "vidlab.errors and vidlab.models:\n" + "\n".join(bad)
    stale = ALLOWED_MODELS_IMPORTS - {(i.module, i.target) for i in found}
    assert not stale, f"fixed, remove from ALLOWED_MODELS_IMPORTS: {sorted(stale)}"


# ------------------------------------------------------------------ 2. no loops
def test_no_import_loop_between_data_and_flow():
    graph = _package_graph()
    if "data" in _reachable(graph, "flow") and "flow" in _reachable(graph, "data"):
        loop = " -> ".join(_path(graph, "data", "flow") + _path(graph, "flow", "data")[1:])
        raise AssertionError(f"import loop between vidlab/data and vidlab/flow: {loop}; flow/ -> data/ imports:\n"
                             + "\n".join(_edge_sites("flow", "data")))
    assert "data" not in _reachable(graph, "flow"), _edge_sites("flow", "data")  # the one allowed direction


def test_the_package_graph_has_no_cycles():
    graph = _package_graph()
    cycles = sorted({" -> ".join(_path(graph, a, b) + _path(graph, b, a)[1:])
                     for a in list(graph) for b in graph[a] if a in _reachable(graph, b)})
    assert not cycles, "package import cycles (module- or function-level imports):\n" + "\n".join(cycles)


# ------------------------------------------------------------------ 3. the CLI modules
def test_cli_modules_use_the_public_output_helpers():
    cli_modules = [m for m in MODULES if m.startswith("vidlab.apps.cli_")]
    assert len(cli_modules) >= 5
    bad = [f"{_where(i)}: {i.name}" for i in IMPORTS
           if i.module in cli_modules and i.target == "vidlab.apps.cli" and i.name and i.name.startswith("_")]
    assert not bad, "cli_*.py import private names of vidlab.apps.cli (use vidlab.apps.output):\n" + "\n".join(bad)
    assert any(i.module in cli_modules and i.target == "vidlab.apps.output" for i in IMPORTS)


# ------------------------------------------------------------------ 4. private names stay private
def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses() -> list[tuple[str, str, str, str]]:
    """``(importing module, defining module, private name, file:line)`` for every use of another
    vidlab module's private name."""
    found = []
    for imp in IMPORTS:
        if not imp.target.startswith("vidlab"):
            continue
        if imp.name is not None and _private(imp.name):
            found.append((imp.module, imp.target, imp.name, _where(imp)))
        parts = imp.target.split(".")
        for i, part in enumerate(parts):
            if _private(part):
                found.append((imp.module, ".".join(parts[:i]), part, _where(imp)))
    for module, path in MODULES.items():
        tree = _parse(module)
        aliases: dict[str, str] = {}  # local name -> vidlab module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("vidlab") and a.asname:
                        aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node.level, node.module)
                for a in node.names:
                    if _is_vidlab_module(f"{base}.{a.name}"):
                        aliases[a.asname or a.name] = f"{base}.{a.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and _private(node.attr)):
                target = aliases[node.value.id]
                if target != module:
                    found.append((module, target, node.attr, f"{path.relative_to(SRC.parent)}:{node.lineno}"))
    return found


def test_no_module_uses_private_names_of_another():
    found = _private_uses()
    bad = [f"{where}: {name} of {target}" for module, target, name, where in found
           if (module, target, name) not in ALLOWED_PRIVATE]
    assert not bad, "private names used across modules (make them public or move the code):\n" + "\n".join(bad)
    stale = ALLOWED_PRIVATE - {(m, t, n) for m, t, n, _ in found}
    assert not stale, f"fixed, remove from ALLOWED_PRIVATE: {sorted(stale)}"
