"""The source tree's import graph: layers point only downward, no circles, no privates.

tools -> compiler -> (passes, lowering) -> dialects. passes and lowering are siblings and
never import each other; every import counts, also one inside a function (that is how a
cycle hides).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tools", "compiler", "passes", "lowering", "dialects")
LAYER = {"tools": 3, "compiler": 2, "passes": 1, "lowering": 1, "dialects": 0}
MAX_LINES = 1000


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES
            for p in sorted((ROOT / package).rglob("*.py"))}


SOURCES = _sources()


def _resolve(name: str) -> str | None:
    """The project module that `name` (a module or a name inside one) refers to."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> Iterator[tuple[str, list[str], int]]:
    """(imported project module, names taken from it, line) for each import of `module`."""
    path = SOURCES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _resolve(alias.name)) is not None:
                    yield target, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in SOURCES:
                    yield full, [], node.lineno
                elif (target := _resolve(base)) is not None:
                    yield target, [alias.name], node.lineno


def _graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in _imports(m) if t != m} for m in SOURCES}


def _package_of(module: str) -> str:
    return module.split(".")[0]


def test_the_tree_is_found():
    assert len(SOURCES) > 40 and "dialects.graph" in SOURCES


def test_no_upward_or_sideways_imports():
    bad = []
    for module in SOURCES:
        for target, _, line in _imports(module):
            a, b = _package_of(module), _package_of(target)
            if a != b and LAYER[b] >= LAYER[a]:
                bad.append(f"{SOURCES[module].relative_to(ROOT)}:{line}: {module} -> {target}")
    assert not bad, "imports that do not point down a layer:\n" + "\n".join(bad)


def test_no_import_circles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_no_private_names_across_modules():
    bad = [f"{SOURCES[m].relative_to(ROOT)}:{line}: {m} takes {name} from {target}"
           for m in SOURCES for target, names, line in _imports(m) for name in names
           if name.startswith("_") and not name.startswith("__") and target != m]
    assert not bad, "private names imported:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_no_source_file_over_the_limit(module):
    lines = SOURCES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{SOURCES[module].relative_to(ROOT)} has {lines} lines"


def test_the_analysis_sees_a_planted_circle(tmp_path, monkeypatch):
    """The circle finder is not vacuous: two modules importing each other are reported."""
    (tmp_path / "dialects").mkdir()
    (tmp_path / "dialects" / "a.py").write_text("from dialects.b import x\n")
    (tmp_path / "dialects" / "b.py").write_text("def f():\n    from dialects import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    planted = {_module_name(p): p for p in (tmp_path / "dialects").glob("*.py")}
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", planted)
    with pytest.raises(AssertionError, match="dialects.a <-> dialects.b"):
        test_no_import_circles()


def _external_imports(module: str) -> Iterator[tuple[str, int]]:
    tree = ast.parse(SOURCES[module].read_text(), str(SOURCES[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def test_onnx_reference_is_only_an_oracle():
    """Op values come from the ops' own evaluators: the compiler never runs onnx.reference
    (tests and tools/ may, as the reference they compare against)."""
    bad = [f"{SOURCES[m].relative_to(ROOT)}:{line}: {m} imports {name}"
           for m in SOURCES if not m.startswith("tools")
           for name, line in _external_imports(m) if name.startswith("onnx.reference")]
    assert not bad, "\n".join(bad)
