"""Matrix products: Gemm, MatMul, Einsum."""

from __future__ import annotations

from collections.abc import Sequence

from compiler.importers.onnx.common import (
    NodeError,
    text,
)
from compiler.importers.onnx.context import Rule
from dialects import graph as g


def _gemm(ctx, node, attrs, opset):
    a, b = ctx.value(node.input[0]), ctx.value(node.input[1])
    c = ctx.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return [ctx.emit(g.GemmOp(
        a, b, c,
        alpha=float(attrs.get("alpha", 1.0)), beta=float(attrs.get("beta", 1.0)),
        trans_a=bool(attrs.get("transA", 0)), trans_b=bool(attrs.get("transB", 0))))]


def _matmul(ctx, node, attrs, opset):
    return [ctx.emit(g.MatMulOp(ctx.value(node.input[0]),
                                ctx.value(node.input[1])))]


def _einsum(ctx, node, attrs, opset):
    inputs = [ctx.value(n) for n in node.input]
    equation = _normalize_einsum(text(attrs["equation"]),
                                 [len(g.shape_of(v)) for v in inputs])
    return [ctx.emit(g.EinsumOp(inputs, equation))]


def _normalize_einsum(equation: str, ranks: Sequence[int]) -> str:
    """An ONNX einsum equation with an explicit output and ellipses spelled out as
    upper-case letters (right-aligned across operands): "...ij,...jk" -> "Aij,Ajk->Aik"."""
    eq = equation.replace(" ", "")
    lhs, sep, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise NodeError(f"equation '{equation}' has {len(terms)} operands, the node "
                        f"{len(ranks)}")
    used = set(eq) - set(",->.")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    widths = [r - len(t.replace("...", "")) if "..." in t else 0
              for t, r in zip(terms, ranks, strict=True)]
    width = max(widths, default=0)
    if width > len(free):
        raise NodeError(f"equation '{equation}': ellipsis too wide")
    ell = "".join(free[:width])
    terms = [t.replace("...", ell[width - w:]) for t, w in zip(terms, widths, strict=True)]
    if sep:
        out = out.replace("...", ell)
    else:
        letters = "".join(terms)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                   and c not in ell))
    return ",".join(terms) + "->" + out


RULES: dict[str, Rule] = {"Gemm": _gemm, "MatMul": _matmul, "Einsum": _einsum}
