"""convert-graph-to-tensor: graph dialect -> linalg on tensors + tensor + arith + math.

Contract (docs/ARCHITECTURE.md, level 2): every graph op becomes `linalg.generic` /
`linalg.fill` over `tensor.empty` destinations; windowed and gathering ops read their
inputs with `linalg.index` + `tensor.extract` (at clamped, always in-bounds indices)
+ `arith.select`; weights become trailing arguments of @main.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.rewriter import Rewriter
from xdsl.transforms.dead_code_elimination import region_dce

from dialects import check, graph
from dialects.graph import DYN
from lowering.dims import (
    LoweringDims,
)
from lowering.dims import done as end_lowering
from lowering.dims import lowering as begin_lowering
from lowering.graph_to_tensor.control import IfPattern, LoopPattern, ScanPattern
from lowering.graph_to_tensor.conv import (
    ConvPattern,
    ConvTransposePattern,
    GlobalAvgPoolPattern,
    LpPoolPattern,
    MaxPoolIndicesPattern,
    PoolPattern,
)
from lowering.graph_to_tensor.data import (
    ConstantOfShapePattern,
    CumSumPattern,
    ExpandTilePattern,
    GatherPattern,
    NonZeroPattern,
    OneHotPattern,
    PadPattern,
    RangePattern,
    ResizePattern,
    ScatterPattern,
    TopKPattern,
    TriluPattern,
    UniquePattern,
)
from lowering.graph_to_tensor.elementwise import (
    ConstantPattern,
    ElementwiseBinaryPattern,
    ElementwisePattern,
    ElementwiseUnaryPattern,
    FusedElementwisePattern,
)
from lowering.graph_to_tensor.emit import PARALLEL, REDUCTION, WEIGHT_ARG_ATTR, Emit, Size, fail
from lowering.graph_to_tensor.linalg import EinsumPattern, GemmPattern, MatMulPattern
from lowering.graph_to_tensor.norm import (
    BatchNormPattern,
    DropoutPattern,
    HardmaxPattern,
    LayerNormPattern,
    LogSoftmaxPattern,
    LRNPattern,
    SoftmaxPattern,
)
from lowering.graph_to_tensor.quantize import QUANTIZE_PATTERNS
from lowering.graph_to_tensor.reduce import ArgReducePattern, ReducePattern
from lowering.graph_to_tensor.rnn import RNNPattern, tensor_type_of
from lowering.graph_to_tensor.shape import (
    AxesDynamicPattern,
    AxesReshapePattern,
    ConcatPattern,
    ReshapeDynamicPattern,
    ReshapePattern,
    ShapeOfPattern,
    SizePattern,
    SlicePattern,
    SplitPattern,
    TransposePattern,
)

__all__ = [
    "ArgReducePattern",
    "AxesDynamicPattern",
    "AxesReshapePattern",
    "BatchNormPattern",
    "ConcatPattern",
    "ConstantOfShapePattern",
    "ConstantPattern",
    "ConvPattern",
    "ConvTransposePattern",
    "ConvertGraphToTensorPass",
    "CumSumPattern",
    "DropoutPattern",
    "EinsumPattern",
    "ElementwiseBinaryPattern",
    "ElementwisePattern",
    "ElementwiseUnaryPattern",
    "ExpandTilePattern",
    "FusedElementwisePattern",
    "GatherPattern",
    "GemmPattern",
    "GlobalAvgPoolPattern",
    "HardmaxPattern",
    "IfPattern",
    "LRNPattern",
    "LayerNormPattern",
    "LogSoftmaxPattern",
    "LoopPattern",
    "LpPoolPattern",
    "MatMulPattern",
    "MaxPoolIndicesPattern",
    "NonZeroPattern",
    "UniquePattern",
    "OneHotPattern",
    "PARALLEL",
    "PadPattern",
    "PoolPattern",
    "REDUCTION",
    "REDUCTION_NN_PATTERNS",
    "RNNPattern",
    "RangePattern",
    "ReducePattern",
    "ReshapeDynamicPattern",
    "ReshapePattern",
    "ResizePattern",
    "SHAPE_OP_PATTERNS",
    "ScanPattern",
    "ScatterPattern",
    "ShapeOfPattern",
    "Size",
    "SizePattern",
    "SlicePattern",
    "SoftmaxPattern",
    "SplitPattern",
    "TopKPattern",
    "TransposePattern",
    "TriluPattern",
    "UnsupportedPattern",
    "WEIGHT_ARG_ATTR",
    "make_signless",
    "tensor_type_of",
]


REDUCTION_NN_PATTERNS: tuple[type[RewritePattern], ...] = (
    ReducePattern, ArgReducePattern, LogSoftmaxPattern, HardmaxPattern, LpPoolPattern,
    LRNPattern, EinsumPattern, ConvTransposePattern, MaxPoolIndicesPattern, DropoutPattern)


SHAPE_OP_PATTERNS: tuple[RewritePattern, ...] = (
    ShapeOfPattern(), SizePattern(), ReshapeDynamicPattern(), AxesReshapePattern(),
    AxesDynamicPattern(),
    SplitPattern(), SlicePattern(), GatherPattern(), ScatterPattern(), ExpandTilePattern(),
    PadPattern(), RangePattern(), ConstantOfShapePattern(), TriluPattern(), CumSumPattern(),
    TopKPattern(), ResizePattern(), OneHotPattern(), NonZeroPattern(), UniquePattern())
"""Lowerings of graph.SHAPE_OPS."""


class UnsupportedPattern(RewritePattern):
    """Anything of the graph dialect left over is an error naming the op."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if op.name.startswith("graph.") and not isinstance(op, graph.WeightOp) \
                and not isinstance(op, graph.YieldOp | graph.FusedYieldOp):  # go with parents
            raise fail(op, "no lowering for this op")


def _signless_attr(attr: Attribute) -> Attribute:
    """A typed attribute (integer, dense, function/tensor type) with uiN made signless."""
    if isinstance(attr, IntegerAttr) and graph.is_unsigned(attr.type) \
            and attr.type != graph.signless(attr.type):
        width = attr.type.width.data
        value = attr.value.data
        value = value - (1 << width) if value >= 1 << (width - 1) else value
        return IntegerAttr(value, graph.signless(attr.type))
    if isinstance(attr, DenseIntOrFPElementsAttr):
        t = attr.get_type()
        if graph.signless(t) != t:
            return DenseIntOrFPElementsAttr(graph.signless(t), attr.data)  # type: ignore
    if isinstance(attr, func.FunctionType):
        return func.FunctionType.from_lists([graph.signless(t) for t in attr.inputs],
                                            [graph.signless(t) for t in attr.outputs])
    return graph.signless(attr)


def make_signless(module: ModuleOp) -> None:
    """Rewrite every uiN type in `module` (values, block args, properties) as signless iN.

    Patterns emit arith on the graph types so they can pick unsigned ops; this sweep makes
    the result valid upstream IR (arith and linalg want signless integers).
    """
    for op in module.walk():
        for r in op.results:
            new = graph.signless(r.type)
            if new != r.type:
                r._type = new  # noqa: SLF001 (in-place retype, uses unchanged)
        for region in op.regions:
            for block in region.blocks:
                for arg in block.args:
                    new = graph.signless(arg.type)
                    if new != arg.type:
                        arg._type = new  # noqa: SLF001
        for props in (op.properties, op.attributes):
            for name, attr in list(props.items()):
                new_attr = _signless_attr(attr)
                if new_attr != attr:
                    props[name] = new_attr


# --------------------------------------------------------------------------- pass


def _weights_to_arguments(fn: func.FuncOp) -> None:
    """Each distinct `graph.weight "n"` becomes a trailing argument {graph.weight = "n"}."""
    block = fn.body.blocks[0]
    by_name: dict[str, SSAValue] = {}
    arg_attrs = list(fn.arg_attrs.data) if fn.arg_attrs is not None else [
        DictionaryAttr({}) for _ in block.args]
    for op in list(fn.walk()):
        if not isinstance(op, graph.WeightOp):
            continue
        name = op.weight_name.data
        if name not in by_name:
            by_name[name] = block.insert_arg(op.result.type, len(block.args))
            arg_attrs.append(DictionaryAttr({WEIGHT_ARG_ATTR: StringAttr(name)}))
        op.result.replace_all_uses_with(by_name[name])
        Rewriter.erase_op(op)
    if by_name:
        fn.function_type = func.FunctionType.from_lists(
            [a.type for a in block.args], list(fn.function_type.outputs.data))
        fn.arg_attrs = ArrayAttr(arg_attrs)


@dataclass(frozen=True)
class ConvertGraphToTensorPass(ModulePass):
    """Lower the graph dialect to linalg on tensors (ARCHITECTURE.md level 2)."""

    name = "convert-graph-to-tensor"

    check_proofs: bool = False
    """Do not trust the symbolic shape analysis: every dim relation it proves is checked
    at run time instead (`compile(..., checks="bounds")`)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in [f for f in op.walk() if isinstance(f, func.FuncOp) and f.body.blocks]:
            _weights_to_arguments(fn)
            state = LoweringDims.for_function(fn, trust_analysis=not self.check_proofs)
            token = begin_lowering(state)
            try:
                _check_named_dims(fn, state)
                self._lower(fn, state)
            finally:
                end_lowering(token)
        make_signless(op)

    @staticmethod
    def _lower(fn: func.FuncOp, state: LoweringDims) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([
                ConstantPattern(), ElementwiseBinaryPattern(), ElementwiseUnaryPattern(),
                MatMulPattern(), GemmPattern(), ConvPattern(), PoolPattern(),
                GlobalAvgPoolPattern(), BatchNormPattern(), ReshapePattern(),
                TransposePattern(), ConcatPattern(), SoftmaxPattern(),
                *(p() for p in REDUCTION_NN_PATTERNS),
                ElementwisePattern(),
                *SHAPE_OP_PATTERNS,
                LayerNormPattern(), FusedElementwisePattern(),  # optimizer ops
                IfPattern(), LoopPattern(), ScanPattern(), RNNPattern(),
                *(p() for p in QUANTIZE_PATTERNS),
                UnsupportedPattern(),
            ]),
            apply_recursively=False,
            walk_regions_first=True,  # region bodies are lowered before their op
            listener=state.listener(),
        ).rewrite_region(fn.body)
        _cast_results_to_declared_types(fn)
        region_dce(fn.body)  # sizes computed for checks that proofs made unnecessary


def _cast_results_to_declared_types(fn: func.FuncOp) -> None:
    """A lowered result may be more or less static than the graph op declared (the
    importer refines types with ONNX's inference); the function's results keep their
    declared types: a tensor.cast, checked at run time where it makes a `?` dim static."""
    ret = fn.body.blocks[0].last_op
    if not isinstance(ret, func.ReturnOp):
        return
    for i, (value, want) in enumerate(zip(ret.operands, fn.function_type.outputs.data,
                                          strict=False)):
        if value.type == want or not isinstance(want, TensorType) or \
                not isinstance(value.type, TensorType):
            continue
        have = value.type.get_shape()
        shape = want.get_shape()
        if len(have) != len(shape) or any(a != DYN and b != DYN and a != b
                                          for a, b in zip(have, shape, strict=True)):
            raise fail(ret, f"result {i} lowers to {value.type}, but the function "
                        f"declares {want}")
        emit = Emit(PatternRewriter(ret), ret)
        for k, (a, b) in enumerate(zip(have, shape, strict=True)):
            if a == DYN and b != DYN:
                size = emit.size(value, k)
                emit.check(emit(arith.CmpiOp(emit.value(size), emit.index(b), "eq")),
                           f"dim {k} of result {i} is {{0}} at run time, but the model "
                           f"declares {b}", [size])
        ret.operands = [*ret.operands[:i], emit(tensor.CastOp(value, want)),
                        *ret.operands[i + 1:]]


def _check_named_dims(fn: func.FuncOp, state: LoweringDims) -> None:
    """Inputs whose dims share a name must agree: checked on entry, since the analysis
    proves dims equal by their names (the Python caller checks it first, more kindly)."""
    block = fn.body.blocks[0]
    first = block.first_op
    if first is None:
        return
    seen: dict[str, tuple[int, int]] = {}
    rewriter = PatternRewriter(first)
    emit = Emit(rewriter, first)
    for i, arg in enumerate(block.args):
        attrs = fn.arg_attrs.data[i].data if fn.arg_attrs is not None else {}
        names = attrs.get(graph.ARG_DIMS_ATTR)
        if not isinstance(names, ArrayAttr) or not isinstance(arg.type, TensorType):
            continue
        for k, name in enumerate(names.data):
            if not isinstance(name, StringAttr) or not name.data or \
                    arg.type.get_shape()[k] != DYN:
                continue
            if name.data not in seen:
                seen[name.data] = (i, k)
                continue
            j, m = seen[name.data]
            a = emit(tensor.DimOp(block.args[j], emit.index(m)))
            b = emit(tensor.DimOp(arg, emit.index(k)))
            emit(check.AssertOp(emit(arith.CmpiOp(a, b, "eq")),
                                f"inputs {j} and {i} must agree on dim '{name.data}' "
                                "({0} vs {1})", [a, b]))
