"""The `graph` dialect: Kiln's framework-neutral, tensor-level operator set.

Every framework importer maps its operators onto these ops; the optimizer and the
lowering never see framework-specific ops. Conventions:

* Every value is a ranked `tensor<...>`; a dynamic (symbolic) dim prints as `?`.
  The *names* of symbolic dims live on the function arguments as the
  `graph.dims` attribute (e.g. `["batch", "", ""]`, "" for a static dim), so that the
  runtime can check that dims which share a name agree at call time.
* Attributes are normalized at import: pads are always explicit
  `[begin_0, .., begin_n, end_0, .., end_n]`, axes are non-negative, shapes are
  resolved as far as possible.
* Weights are runtime buffers: `graph.weight "name"` refers to an entry of the module's
  weight store by name, so weights are never printed, parsed or baked into LLVM IR.
  Small constants are inline `graph.constant dense<...>`.
* Fused forms are the same ops with optional operands/properties
  (e.g. `graph.conv` with `bias`, `residual` and `act = "relu"`), so a fusion pass only
  sets fields and the lowering emits one loop nest for the whole group.

One module per op family, every public name re-exported here: base.py (shape and type
helpers, limits, element types, the verifier helpers, the op base classes), values.py,
elementwise.py (with elementwise_table.py, the rule table of `graph.elementwise`),
linalg.py, conv.py, norm.py, reduce.py, shape.py, data.py, control.py and rnn.py. Each op
owns its concrete-shape function (`concrete_shape`); shape_check.py runs them over a
function on real input shapes, the runtime's check before a native call.
"""

from __future__ import annotations

from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation

from dialects.graph import elementwise_table
from dialects.graph.base import (
    ACT_PARAM_COUNTS,
    ACTIVATIONS,
    ARG_DIMS_ATTR,
    ARG_NAME_ATTR,
    DYN,
    ELEMENT_TYPES,
    FLOAT_ACTIVATIONS,
    FLOAT_ONLY_OPS,
    MAX_ELEMENTS,
    MAX_RANK,
    SUPPORTED_ELEMENT_TYPES,
    WEIGHTS_ATTR,
    DataOp,
    ElementwiseBinaryOp,
    ElementwiseUnaryOp,
    GraphOp,
    Shape,
    array_from_dense,
    broadcast_dim,
    broadcast_shapes,
    check,
    check_at_least,
    check_axis,
    check_flag,
    check_one_element,
    check_result,
    compatible_types,
    conv_out_dim,
    dense_from_array,
    element_type_for,
    element_type_of,
    format_dims,
    i64_array,
    int_prop,
    ints,
    is_float_type,
    is_int_tensor,
    is_unsigned,
    join_types,
    limit_violation,
    numpy_dtype_of,
    opt_act,
    prop_int,
    shape_of,
    shaped_type_problem,
    shapes_compatible,
    signless,
    tensor_type,
    to_channels_first,
    to_channels_last,
    type_class,
    ui8,
    ui16,
    ui32,
    ui64,
    verify_act,
    verify_element_types,
    with_element_type_check,
)
from dialects.graph.control import IfOp, LoopOp, ScanOp, YieldOp
from dialects.graph.conv import (
    AvgPoolOp,
    ConvOp,
    ConvTransposeOp,
    GlobalAvgPoolOp,
    LpPoolOp,
    MaxPoolIndicesOp,
    MaxPoolOp,
    PoolOp,
    conv_transpose_out_dim,
)
from dialects.graph.data import (
    PAD_MODES,
    REDUCTIONS,
    RESIZE_ASPECT_POLICIES,
    RESIZE_COORDINATE_MODES,
    RESIZE_MODES,
    RESIZE_NEAREST_MODES,
    ConstantOfShapeOp,
    CumSumOp,
    GatherElementsOp,
    GatherNDOp,
    GatherOp,
    NonZeroOp,
    OneHotOp,
    PadOp,
    RangeOp,
    ResizeOp,
    ScatterElementsOp,
    ScatterNDOp,
    SliceOp,
    SplitOp,
    TopKOp,
    TriluOp,
    even_splits,
)
from dialects.graph.elementwise import (
    ELEMENTWISE_BINARY_OPS,
    ELEMENTWISE_UNARY_OPS,
    AddOp,
    DivOp,
    ElementwiseOp,
    ExpOp,
    FusedElementwiseOp,
    FusedYieldOp,
    GeluOp,
    MulOp,
    NegOp,
    ReluOp,
    SigmoidOp,
    SqrtOp,
    SubOp,
    TanhOp,
    unary_kind,
)
from dialects.graph.linalg import EinsumOp, GemmOp, MatMulOp, einsum_sizes, parse_einsum
from dialects.graph.norm import (
    AxisNormOp,
    BatchNormOp,
    DropoutOp,
    HardmaxOp,
    LayerNormOp,
    LogSoftmaxOp,
    LRNOp,
    SoftmaxOp,
)
from dialects.graph.reduce import (
    ARG_REDUCE_KINDS,
    REDUCE_KINDS,
    ArgReduceOp,
    ReduceOp,
    reduce_shape,
    runtime_reduce_shape,
)
from dialects.graph.rnn import RNN_ACTIVATIONS, RNN_DIRECTIONS, RNN_KINDS, RNNOp
from dialects.graph.shape import (
    ConcatOp,
    ExpandOp,
    FlattenOp,
    ReshapeDynamicOp,
    ReshapeOp,
    ShapeOp,
    SizeOp,
    SqueezeDynamicOp,
    SqueezeOp,
    TileOp,
    TransposeOp,
    UnsqueezeDynamicOp,
    UnsqueezeOp,
)
from dialects.graph.values import ConstantOp, WeightOp, operand_values

SHAPE_OPS: tuple[type[DataOp], ...] = (
    ShapeOp, SizeOp, ReshapeDynamicOp, SqueezeOp, UnsqueezeOp, SqueezeDynamicOp,
    UnsqueezeDynamicOp, FlattenOp, SplitOp, SliceOp,
    GatherOp, GatherElementsOp, GatherNDOp, ScatterNDOp, ScatterElementsOp, ExpandOp,
    TileOp, PadOp, RangeOp, ConstantOfShapeOp, TriluOp, CumSumOp, TopKOp, ResizeOp,
    OneHotOp, NonZeroOp)
"""The shape and data-movement ops (their lowerings: lowering/graph_to_tensor.py)."""


REDUCTION_NN_OPS: tuple[type[IRDLOperation], ...] = (
    ReduceOp, ArgReduceOp, LogSoftmaxOp, HardmaxOp, LpPoolOp, LRNOp, EinsumOp,
    ConvTransposeOp, MaxPoolIndicesOp, DropoutOp)


OPTIMIZER_OPS = (LayerNormOp, FusedYieldOp, FusedElementwiseOp)  # GeluOp: unary list


CONTROL_FLOW_OPS: tuple[type[IRDLOperation], ...] = (IfOp, LoopOp, ScanOp, YieldOp, RNNOp)


Graph = Dialect(
    "graph",
    [
        ConstantOp, WeightOp,
        *ELEMENTWISE_BINARY_OPS, *ELEMENTWISE_UNARY_OPS,
        MatMulOp, GemmOp, ConvOp, MaxPoolOp, AvgPoolOp, GlobalAvgPoolOp, BatchNormOp,
        ReshapeOp, TransposeOp, ConcatOp, SoftmaxOp,
        *REDUCTION_NN_OPS,
        ElementwiseOp,
        *SHAPE_OPS,
        *OPTIMIZER_OPS,
        *CONTROL_FLOW_OPS,
    ],
    [],
)


# Every graph op checks its element types before its own verifier runs, so that no
# verifier (or lowering) has to expect `none`, `index` or `complex` elements.
for _op_class in Graph.operations:
    if not hasattr(_op_class.verify_, "__wrapped__"):
        _op_class.verify_ = with_element_type_check(_op_class.verify_)

__all__ = [
    "ACTIVATIONS",
    "ACT_PARAM_COUNTS",
    "ARG_DIMS_ATTR",
    "ARG_NAME_ATTR",
    "ARG_REDUCE_KINDS",
    "AddOp",
    "ArgReduceOp",
    "AvgPoolOp",
    "AxisNormOp",
    "BatchNormOp",
    "CONTROL_FLOW_OPS",
    "ConcatOp",
    "ConstantOfShapeOp",
    "ConstantOp",
    "ConvOp",
    "ConvTransposeOp",
    "CumSumOp",
    "DYN",
    "DataOp",
    "DivOp",
    "DropoutOp",
    "ELEMENTWISE_BINARY_OPS",
    "ELEMENTWISE_UNARY_OPS",
    "ELEMENT_TYPES",
    "EinsumOp",
    "ElementwiseBinaryOp",
    "ElementwiseOp",
    "ElementwiseUnaryOp",
    "ExpOp",
    "ExpandOp",
    "FLOAT_ACTIVATIONS",
    "FLOAT_ONLY_OPS",
    "FlattenOp",
    "FusedElementwiseOp",
    "FusedYieldOp",
    "GatherElementsOp",
    "GatherNDOp",
    "GatherOp",
    "GeluOp",
    "GemmOp",
    "GlobalAvgPoolOp",
    "Graph",
    "GraphOp",
    "HardmaxOp",
    "IfOp",
    "LRNOp",
    "LayerNormOp",
    "LogSoftmaxOp",
    "LoopOp",
    "LpPoolOp",
    "MAX_ELEMENTS",
    "MAX_RANK",
    "MatMulOp",
    "MaxPoolIndicesOp",
    "MaxPoolOp",
    "MulOp",
    "NegOp",
    "NonZeroOp",
    "OPTIMIZER_OPS",
    "OneHotOp",
    "PAD_MODES",
    "PadOp",
    "PoolOp",
    "REDUCE_KINDS",
    "REDUCTIONS",
    "REDUCTION_NN_OPS",
    "RESIZE_ASPECT_POLICIES",
    "RESIZE_COORDINATE_MODES",
    "RESIZE_MODES",
    "RESIZE_NEAREST_MODES",
    "RNNOp",
    "RNN_ACTIVATIONS",
    "RNN_DIRECTIONS",
    "RNN_KINDS",
    "RangeOp",
    "ReduceOp",
    "ReluOp",
    "ReshapeDynamicOp",
    "ReshapeOp",
    "ResizeOp",
    "SHAPE_OPS",
    "SUPPORTED_ELEMENT_TYPES",
    "ScanOp",
    "ScatterElementsOp",
    "ScatterNDOp",
    "Shape",
    "ShapeOp",
    "SigmoidOp",
    "SizeOp",
    "SliceOp",
    "SoftmaxOp",
    "SplitOp",
    "SqrtOp",
    "SqueezeDynamicOp",
    "SqueezeOp",
    "SubOp",
    "TanhOp",
    "TileOp",
    "TopKOp",
    "TransposeOp",
    "TriluOp",
    "UnsqueezeDynamicOp",
    "UnsqueezeOp",
    "WEIGHTS_ATTR",
    "WeightOp",
    "YieldOp",
    "array_from_dense",
    "broadcast_dim",
    "broadcast_shapes",
    "check",
    "check_at_least",
    "check_axis",
    "check_flag",
    "check_one_element",
    "check_result",
    "compatible_types",
    "conv_out_dim",
    "conv_transpose_out_dim",
    "dense_from_array",
    "einsum_sizes",
    "element_type_for",
    "element_type_of",
    "even_splits",
    "format_dims",
    "i64_array",
    "int_prop",
    "ints",
    "is_float_type",
    "is_int_tensor",
    "is_unsigned",
    "join_types",
    "limit_violation",
    "numpy_dtype_of",
    "operand_values",
    "opt_act",
    "parse_einsum",
    "prop_int",
    "reduce_shape",
    "runtime_reduce_shape",
    "shape_of",
    "shaped_type_problem",
    "shapes_compatible",
    "signless",
    "tensor_type",
    "to_channels_first",
    "to_channels_last",
    "type_class",
    "ui16",
    "ui32",
    "ui64",
    "ui8",
    "unary_kind",
    "verify_act",
    "verify_element_types",
    "with_element_type_check",
    "elementwise_table",
]
