"""lower-linalg-to-loops: linalg on memrefs -> scf.for + memref.load/store (level 4).

Every linalg.generic / linalg.fill becomes a perfect scf.for nest. Index maps are
expanded to arith on `index` values (no affine ops remain), `linalg.index` becomes the
loop's induction variable. Reductions run inside the parallel loops, except that when
an input is contiguous along the output's last dim (matmul's B, a conv's input rows)
that parallel loop goes innermost (i-k-j order), which LLVM vectorizes.

f32 contractions (matmul/gemm/batched/transposed, conv after an im2col gather) become calls
of a generated BLIS-style kernel before this pass, in lower-contractions-to-kernels
(lowering/contraction.py); without that pass they are loop nests like any other generic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import memref, scf
from xdsl.dialects.builtin import IndexType, MemRefType, ModuleOp, TensorType
from xdsl.dialects.linalg.ops import FillOp, GenericOp, IndexOp, YieldOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import (
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import PassFailedException

from dialects.errors import unexpected_op
from lowering.loop_builder import Inserter, loop_bounds


def _fail(op: Operation, message: str) -> PassFailedException:
    return PassFailedException(f"lower-linalg-to-loops: {op.name}: {message}")


def _dims_in(expr: AffineExpr) -> set[int]:
    return {e.position for e in expr.dfs() if isinstance(e, AffineDimExpr)}


def loop_order(maps: Sequence[AffineMap], n_inputs: int, iterators: Sequence[str]) -> list[int]:
    """Parallel loops, then reductions; the output's last dim innermost when an input
    is contiguous along it (i-k-j for matmul-like nests)."""
    parallel = [d for d, it in enumerate(iterators) if it == "parallel"]
    reduction = [d for d, it in enumerate(iterators) if it != "parallel"]
    order = parallel + reduction
    out_map = maps[-1]
    if reduction and out_map.results and isinstance(out_map.results[-1], AffineDimExpr):
        last = out_map.results[-1].position
        if last in parallel and any(
                m.results and last in _dims_in(m.results[-1]) for m in maps[:n_inputs]):
            order.remove(last)
            order.append(last)
    return order


@dataclass
class LowerLinalgPattern(RewritePattern):
    """linalg.generic / linalg.fill on memrefs -> scf.for nest (`parallel`: one
    scf.parallel over the parallel loops around scf.for reductions)."""

    parallel: bool = False

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, GenericOp | FillOp):
            if op.dialect_name() == "linalg" and not isinstance(op.parent_op(),
                                                                GenericOp):
                raise _fail(op, "no loop lowering for this linalg op")
            return
        if op.results:
            raise _fail(op, "expected buffer semantics (run bufferize first)")
        operands = list(op.operands)
        n_inputs = len(op.inputs)
        maps = [m.data for m in op.get_indexing_maps()]
        iterators = [str(it.data) for it in op.get_iterator_types()]
        n_loops = len(iterators)

        ins = Inserter(InsertPoint.before(op))
        bounds = loop_bounds(op, ins)

        ivs: list[SSAValue | None] = [None] * n_loops
        zero, one = ins.const(0), ins.const(1)
        if self.parallel:
            order = self._parallel_nest(iterators, bounds, ivs, ins)
        else:
            order = loop_order(maps, n_inputs, iterators)
        for d in order:
            body = Block(arg_types=[IndexType()])
            yield_op = scf.YieldOp()
            body.add_op(yield_op)
            loop = scf.ForOp(zero, bounds[d], one, [], body)  # type: ignore[arg-type]
            ins(loop)
            if d == order[0] and not self.parallel:
                # constants made later must still dominate the whole nest
                ins.hoist = InsertPoint.before(loop)
            ivs[d] = body.args[0]
            ins.point = InsertPoint.before(yield_op)
        iv_list: list[SSAValue] = ivs  # type: ignore[assignment]
        self._fill_body(op, operands, n_inputs, maps, iv_list, ins)
        rewriter.erase(op)

    @staticmethod
    def _parallel_nest(iterators: Sequence[str], bounds: Sequence[SSAValue],
                       ivs: list[SSAValue | None], ins: Inserter) -> list[int]:
        """Open one scf.parallel over the parallel loops in their own order (a GPU maps
        them onto threads; no i-k-j reordering) and return the reduction loops still
        to open. Without parallel loops it runs once (0..1), so every linalg op is one
        scf.parallel nest."""
        dims = [d for d, it in enumerate(iterators) if it == "parallel"]
        zero, one = ins.const(0), ins.const(1)
        uppers = [bounds[d] for d in dims] or [one]
        body = Block(arg_types=[IndexType()] * len(uppers))
        reduce_op = scf.ReduceOp()
        body.add_op(reduce_op)
        loop = scf.ParallelOp([zero] * len(uppers), list(uppers), [one] * len(uppers),
                              Region(body))
        ins(loop)
        ins.hoist = InsertPoint.before(loop)
        for d, arg in zip(dims, body.args, strict=False):
            ivs[d] = arg
        ins.point = InsertPoint.before(reduce_op)
        return [d for d, it in enumerate(iterators) if it != "parallel"]

    @staticmethod
    def _fill_body(op: GenericOp | FillOp, operands: Sequence[SSAValue], n_inputs: int,
                   maps: Sequence[AffineMap], iv_list: list[SSAValue],
                   ins: Inserter) -> None:
        block = op.body.block
        mapping: dict[SSAValue, SSAValue] = {}
        for i, (value, arg) in enumerate(zip(operands, block.args, strict=True)):
            if not arg.uses:
                continue
            if isinstance(value.type, MemRefType):
                idx = ins.indices(maps[i], iv_list)
                mapping[arg] = ins(memref.LoadOp.get(value, idx))
            else:
                mapping[arg] = value
        yielded: Sequence[SSAValue] = ()
        for inner in block.ops:
            if isinstance(inner, YieldOp):
                yielded = [mapping.get(v, v) for v in inner.operands]
            elif isinstance(inner, IndexOp):
                mapping[inner.result] = iv_list[inner.dim.value.data]
            else:
                ins(inner.clone(value_mapper=mapping))
        for j, value in enumerate(yielded):
            k = n_inputs + j
            ins(memref.StoreOp.get(value, operands[k], ins.indices(maps[k], iv_list)))


@dataclass(frozen=True)
class LowerLinalgToLoopsPass(ModulePass):
    """Lower linalg on memrefs to scf.for loops over memref.load/store (level 4)."""

    name = "lower-linalg-to-loops"

    parallel: bool = False
    """Parallel loops as one scf.parallel per linalg op (for gpu-outline-kernels)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        _check_memref_level(op)
        pattern = LowerLinalgPattern(self.parallel)
        PatternRewriteWalker(GreedyRewritePatternApplier([pattern]),
                             apply_recursively=False).rewrite_module(op)


def _check_memref_level(module: ModuleOp) -> None:
    """The pass takes what bufferize produces: linalg on memrefs, no tensor values."""
    expected = "memref-level IR"
    for op in module.walk():
        if op.dialect_name() == "graph":
            raise unexpected_op("lower-linalg-to-loops", op, expected,
                                "run convert-graph-to-tensor and bufferize first")
        types = [*op.operand_types, *op.result_types]
        types += [a.type for r in op.regions for b in r.blocks for a in b.args]
        if any(isinstance(t, TensorType) for t in types):
            raise unexpected_op("lower-linalg-to-loops", op, expected,
                                "it has tensor operands or results: run bufferize first")
        if isinstance(op, IndexOp):
            generic = op.parent_op()
            loops = len(generic.iterator_types) if isinstance(generic, GenericOp) else 0
            if op.dim.value.data >= loops:
                raise unexpected_op("lower-linalg-to-loops", op,
                                    "linalg.index of one of its generic's loops",
                                    f"dim {op.dim.value.data} of {loops} loops")
