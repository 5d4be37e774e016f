"""Matrix products: addmm (Linear) as graph.gemm, mm / bmm as graph.matmul.

torch's Linear decomposes to `addmm(bias, x, permute(W, [1, 0]))`; the gemm reads W with
`trans_b` instead, as the ONNX importer's Gemm does, so both importers give one graph."""

from __future__ import annotations

import torch
from torch import fx

from compiler.importers.torch.context import Rule
from dialects import graph as g


def _transposed_source(arg: object) -> fx.Node | None:
    """The matrix whose 2-D transpose `arg` is (a permute [1, 0] node), else None."""
    if isinstance(arg, fx.Node) and arg.op == "call_function" and \
            arg.target is torch.ops.aten.permute.default and list(arg.args[1]) == [1, 0]:
        return arg.args[0]  # type: ignore[return-value]
    return None


def _addmm(ctx, node):
    """beta * bias + alpha * (a @ b)."""
    bias, a, b = node.args[:3]
    beta = float(node.kwargs.get("beta", 1.0))
    alpha = float(node.kwargs.get("alpha", 1.0))
    source = _transposed_source(b)
    rhs = ctx.tensor(source if source is not None else b)
    return ctx.emit(g.GemmOp(ctx.tensor(a), rhs, ctx.tensor(bias), alpha=alpha, beta=beta,
                             trans_b=source is not None))


def _mm(ctx, node):
    source = _transposed_source(node.args[1])
    if source is not None:  # x @ W.T without bias: the same gemm form as addmm's
        return ctx.emit(g.GemmOp(ctx.tensor(node.args[0]), ctx.tensor(source), trans_b=True))
    return ctx.emit(g.MatMulOp(ctx.tensor(node.args[0]), ctx.tensor(node.args[1])))


def _bmm(ctx, node):
    return ctx.emit(g.MatMulOp(ctx.tensor(node.args[0]), ctx.tensor(node.args[1])))


RULES: dict[str, Rule] = {
    "aten.addmm.default": _addmm, "aten.mm.default": _mm, "aten.bmm.default": _bmm,
}
