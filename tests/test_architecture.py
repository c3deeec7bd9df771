"""The package graph: data flows one way, so no part of maskgen imports one above it.

Every import in every module counts, wherever it stands (top level, inside a function, under
``TYPE_CHECKING``), and so does every string naming a maskgen module (the lazy registries of
``maskgen.train``, ``maskgen.nn`` and ``cli/main.py`` import those by name). A "unit" is a
subpackage (``maskgen/nn/``) or a top-level module (``maskgen/images.py``). Left out: the root
``maskgen/__init__.py``, whose public API names its modules as strings only and imports nothing
(checked below), and ``__main__.py`` files, which are run, never imported.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "maskgen"

LAYERS: dict[str, int] = {
    "errors": 0,
    "types": 0,
    "decoder_messages": 0,
    "words": 0,
    "atomic": 1,
    "cache": 1,
    "images": 1,
    "seeding": 1,
    "compiled": 1,
    "formats": 2,
    "faces": 3,
    "masks": 4,
    "pipeline": 5,
    "assets": 5,  # build tools that draw templates/ and textures/: nothing imports them
    "photo": 6,
    "preview": 6,
    "nn": 6,  # the face-network core under both training and evaluation
    "train": 7,
    "evaluate": 7,
    "cli": 8,
}
"""Each unit may import only units of a lower layer: never one of its own layer (so training
and evaluation never import each other) nor one above."""

_MODULE_NAME = re.compile(r"maskgen(\.[A-Za-z_]\w*)+")


def _unit(module: str) -> str | None:
    """``maskgen.nn.models.tiny`` -> ``nn``; the root package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "maskgen" else None


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module of maskgen (``"maskgen.json"``, a file name, is not)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _names_a_module(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _MODULE_NAME.fullmatch(node.value) is not None
        and _is_module(node.value)
    )


def _imported_modules(tree: ast.AST) -> set[str]:
    """Every maskgen module a file imports, or names in a string (lazy imports)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, "maskgen uses absolute imports only"
            found.add(node.module)
            if node.module == "maskgen":  # from maskgen import images -> maskgen.images
                found.update(f"maskgen.{alias.name}" for alias in node.names)
        elif _names_a_module(node):
            found.add(node.value)
    return {m for m in found if m == "maskgen" or m.startswith("maskgen.")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_graph() -> dict[str, dict[str, list[str]]]:
    """``{unit: {imported unit: [files that import it]}}`` over every module of maskgen."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py" or path == PACKAGE / "__init__.py":
            continue
        source = _unit(_module_name(path))
        assert source is not None
        graph[source]  # every unit is a node, even one that imports nothing
        for module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            target = _unit(module)
            if target is not None and target != source and not target.startswith("__"):
                graph[source][target].append(str(path.relative_to(PACKAGE.parent)))
    return graph


def _cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle of units (``[a, b, a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target] if target in path else [node, target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def _reaches(graph: dict[str, dict[str, list[str]]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, {}))
    return False


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, list[str]]]:
    return package_graph()


def test_the_graph_sees_lazy_and_guarded_imports(graph: dict[str, dict[str, list[str]]]) -> None:
    """The parser finds what a plain top-level scan would miss (else the checks below could not
    fail): cli imports train inside a function, train's registry names its modules as strings."""
    assert "train" in graph["cli"] and "evaluate" in graph["cli"]
    source = 'X = {"a": "maskgen.nn.models"}\ndef f():\n    from maskgen.train import loop\n'
    tree = ast.parse(source)
    assert _imported_modules(tree) == {"maskgen.nn.models", "maskgen.train"}
    looped = {"a": {"b": ["x.py"]}, "b": {"c": ["y.py"]}, "c": {"a": ["z.py"]}}
    assert _cycle(looped) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": ["x.py"]}, "b": {}}) is None


def test_no_import_cycles(graph: dict[str, dict[str, list[str]]]) -> None:
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_training_and_evaluation_never_import_each_other(
    graph: dict[str, dict[str, list[str]]],
) -> None:
    for a, b in (("train", "evaluate"), ("evaluate", "train")):
        assert not _reaches(graph, a, b), f"{a} reaches {b}: {dict(graph[a])}"
    assert {"train", "evaluate", "cli"}.isdisjoint(graph["nn"])


def test_every_unit_imports_only_lower_layers(graph: dict[str, dict[str, list[str]]]) -> None:
    unplaced = sorted(set(graph) - set(LAYERS))
    assert not unplaced, f"new units {unplaced}: give each a layer in LAYERS"
    upward = [
        f"{source} -> {target} ({', '.join(sorted(set(files)))})"
        for source, targets in graph.items()
        for target, files in targets.items()
        if LAYERS.get(target, 99) >= LAYERS[source]
    ]
    assert not upward, "imports of a unit at the same or a higher layer:\n" + "\n".join(upward)


def test_nothing_at_run_time_imports_the_asset_drawing_code(
    graph: dict[str, dict[str, list[str]]],
) -> None:
    assert [unit for unit, targets in graph.items() if "assets" in targets] == []


def test_the_root_package_imports_nothing() -> None:
    """``import maskgen`` loads no subpackage: its public API is named by strings, loaded on
    first use (so leaving the root out of the graph hides no edge)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in statements if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in statements if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in names if m.startswith("maskgen")}


def test_evaluation_with_onnx_needs_no_torch() -> None:
    """The embedder, preprocessing and scores, and ``maskgen.evaluate``, import without torch
    (an exported model runs on onnxruntime alone); torch loads when a checkpoint is opened."""
    probe = (
        "import sys; import maskgen.evaluate, maskgen.nn.embedder, maskgen.nn.preprocess, "
        "maskgen.nn.verification, maskgen.nn.mask_usage, maskgen.train.config; "
        "print(sorted({'torch', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
