"""No rule, table or test refers to an op that does not exist.

Rules match op classes (a misspelt class fails at import); what is left to check is text:
table kinds named in `attrs=`, and `graph.<op>` names in Python strings and FileCheck
lines — a `CHECK-NOT: graph.erf` or `"graph.erf" not in names` on an op that does not
exist can never fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from xdsl.dialects.builtin import ModuleOp

from compiler.pipeline import KILN_PASSES
from dialects import graph as g
from dialects.graph.elementwise_table import BY_KIND
from passes.rewrite import P, Rule, RulePass

ROOT = Path(__file__).resolve().parents[2]
OP_NAMES = {op.name for op in g.Graph.operations}
# attribute names in the graph namespace (function argument/result and module attributes)
ATTRIBUTE_NAMES = {"graph.name", "graph.dims", "graph.weights", "graph.weight",
                   "graph.signless"}
GRAPH_NAME = re.compile(r"\bgraph\.([a-z][a-z0-9_]*)\b(?!\.)")


def _patterns(p: P | None):
    if p is None:
        return
    yield p
    operands = p.operands or ()
    for sub in (operands.values() if isinstance(operands, dict) else operands):
        yield from _patterns(sub)


def _all_rules() -> list[Rule]:
    rules = []
    for cls in KILN_PASSES:
        if issubclass(cls, RulePass):
            for phase in cls().phases(ModuleOp([])):
                rules += phase
    return rules


def test_rules_are_found():
    names = {r.name for r in _all_rules()}
    assert {"activation-clip", "activation-leaky-relu", "elementwise-chain",
            "identity-expand"} <= names


def test_every_rule_kind_is_a_row_of_the_elementwise_table():
    bad = [f"{rule.name}: kind '{p.attrs['kind']}'" for rule in _all_rules()
           for p in _patterns(rule.pattern) if p.attrs and "kind" in p.attrs
           and isinstance(p.attrs["kind"], str) and p.attrs["kind"] not in BY_KIND]
    assert not bad, bad


def test_a_pattern_on_an_op_name_is_refused():
    with pytest.raises(TypeError, match="op classes"):
        P("graph.clip")


def _python_strings(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _unknown(text: str) -> list[str]:
    found = {f"graph.{m.group(1)}" for m in GRAPH_NAME.finditer(text)}
    return sorted(n for n in found if n not in OP_NAMES and n not in ATTRIBUTE_NAMES
                  and n != "graph.py")


def test_python_strings_name_existing_ops():
    bad = []
    for package in ("compiler", "dialects", "passes", "lowering", "tools", "test"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == Path(__file__).resolve():  # its own examples of what is refused
                continue
            for line, text in _python_strings(path):
                bad += [f"{path.relative_to(ROOT)}:{line}: {n}" for n in _unknown(text)]
    assert not bad, "strings naming graph ops that do not exist:\n" + "\n".join(bad)


def test_filecheck_lines_name_existing_ops():
    bad = []
    for path in sorted((ROOT / "test" / "filecheck").rglob("*.mlir")):
        if "Output" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"//\s*[A-Z0-9_-]+(-NOT|-SAME|-NEXT|-DAG|-LABEL)?:", line):
                bad += [f"{path.relative_to(ROOT)}:{number}: {n}" for n in _unknown(line)]
    assert not bad, "FileCheck lines naming graph ops that do not exist:\n" + "\n".join(bad)


def test_the_scan_sees_a_missing_op():
    assert _unknown('assert "graph.erf" not in names') == ["graph.erf"]
    assert _unknown("graph.add and graph.weights") == []
