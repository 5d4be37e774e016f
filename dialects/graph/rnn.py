"""Recurrent cells: graph.rnn (ONNX LSTM, GRU and RNN)."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    traits_def,
    var_result_def,
)
from xdsl.traits import Pure

from dialects.graph.base import (
    Shape,
    check,
    element_type_of,
    shape_of,
    shapes_compatible,
    tensor_type,
)

RNN_KINDS = {"lstm": 4, "gru": 3, "rnn": 1}
"""Recurrent cell kinds and their number of gates."""
RNN_DIRECTIONS = ("forward", "reverse", "bidirectional")
RNN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "affine", "leaky_relu", "thresholded_relu",
                   "scaled_tanh", "hard_sigmoid", "elu", "softsign", "softplus")
"""Cell activations (ONNX names in snake case); alpha/beta parameterize some of them."""


@irdl_op_definition
class RNNOp(IRDLOperation):
    """ONNX LSTM / GRU / RNN in layout 0 (time-major).

    X [T, B, I], W [D, G*H, I], R [D, G*H, H], optional bias [D, 2*G*H], sequence_lens
    [B] (integers), initial_h / initial_c [D, B, H], peepholes [D, 3*H] (LSTM). Results:
    Y [T, D, B, H], Y_h [D, B, H] and, for LSTM, Y_c [D, B, H]. Gate order is ONNX's
    (LSTM i, o, f, c; GRU z, r, h). `activations` has the cell's activation names per
    direction (LSTM 3, GRU 2, RNN 1) with `activation_alpha`/`activation_beta` beside.
    """

    name = "graph.rnn"
    x = operand_def(TensorType)
    w = operand_def(TensorType)
    r = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    sequence_lens = opt_operand_def(TensorType)
    initial_h = opt_operand_def(TensorType)
    initial_c = opt_operand_def(TensorType)
    peepholes = opt_operand_def(TensorType)
    kind = prop_def(StringAttr)
    direction = prop_def(StringAttr)
    hidden_size = prop_def(IntegerAttr)
    activations = prop_def(ArrayAttr[StringAttr])
    activation_alpha = prop_def(DenseArrayBase)
    activation_beta = prop_def(DenseArrayBase)
    clip = opt_prop_def(FloatAttr)
    linear_before_reset = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    input_forget = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    outputs = var_result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$x `,` $w `,` $r (`bias` `(` $bias^ `:` type($bias) `)`)? "
        "(`sequence_lens` `(` $sequence_lens^ `:` type($sequence_lens) `)`)? "
        "(`initial_h` `(` $initial_h^ `:` type($initial_h) `)`)? "
        "(`initial_c` `(` $initial_c^ `:` type($initial_c) `)`)? "
        "(`peepholes` `(` $peepholes^ `:` type($peepholes) `)`)? attr-dict "
        "`:` type($x) `,` type($w) `,` type($r) `->` type($outputs)"
    )

    def __init__(self, x: SSAValue, w: SSAValue, r: SSAValue, *, kind: str,
                 direction: str, hidden_size: int, activations: Sequence[str],
                 activation_alpha: Sequence[float], activation_beta: Sequence[float],
                 bias: SSAValue | None = None, sequence_lens: SSAValue | None = None,
                 initial_h: SSAValue | None = None, initial_c: SSAValue | None = None,
                 peepholes: SSAValue | None = None, clip: float | None = None,
                 linear_before_reset: bool = False, input_forget: bool = False):
        t, b = shape_of(x)[0], shape_of(x)[1]
        d = 2 if direction == "bidirectional" else 1
        elt = element_type_of(x)
        state = tensor_type([d, b, hidden_size], elt)
        types = [tensor_type([t, d, b, hidden_size], elt), state]
        if kind == "lstm":
            types.append(state)
        props: dict[str, Attribute] = {
            "kind": StringAttr(kind), "direction": StringAttr(direction),
            "hidden_size": IntegerAttr(hidden_size, i64),
            "activations": ArrayAttr([StringAttr(a) for a in activations]),
            "activation_alpha": DenseArrayBase.from_list(f32, list(activation_alpha)),
            "activation_beta": DenseArrayBase.from_list(f32, list(activation_beta)),
            "linear_before_reset": IntegerAttr(int(linear_before_reset), i64),
            "input_forget": IntegerAttr(int(input_forget), i64)}
        if clip is not None:
            props["clip"] = FloatAttr(clip, f32)
        opt = [[v] if v is not None else [] for v in
               (bias, sequence_lens, initial_h, initial_c, peepholes)]
        super().__init__(operands=[x, w, r, *opt], properties=props, result_types=[types])

    @property
    def num_directions(self) -> int:
        return 2 if self.direction.data == "bidirectional" else 1

    @property
    def num_gates(self) -> int:
        return RNN_KINDS[self.kind.data]

    def verify_(self) -> None:
        kind = self.kind.data
        check(kind in RNN_KINDS, f"graph.rnn: kind must be one of {', '.join(RNN_KINDS)}")
        check(self.direction.data in RNN_DIRECTIONS,
              f"graph.rnn: direction must be one of {', '.join(RNN_DIRECTIONS)}")
        d, g_, h = self.num_directions, self.num_gates, self.hidden_size.value.data
        x, w, r = shape_of(self.x), shape_of(self.w), shape_of(self.r)
        check(len(x) == 3, f"graph.rnn: X must be [T, B, I], got {list(x)}")
        t, b, i = x
        expect = {"W": (w, [d, g_ * h, i]), "R": (r, [d, g_ * h, h])}
        if self.bias is not None:
            expect["B"] = (shape_of(self.bias), [d, 2 * g_ * h])
        if self.initial_h is not None:
            expect["initial_h"] = (shape_of(self.initial_h), [d, b, h])
        if self.initial_c is not None:
            check(kind == "lstm", "graph.rnn: initial_c is for LSTM only")
            expect["initial_c"] = (shape_of(self.initial_c), [d, b, h])
        if self.peepholes is not None:
            check(kind == "lstm", "graph.rnn: peepholes are for LSTM only")
            expect["P"] = (shape_of(self.peepholes), [d, 3 * h])
        if self.sequence_lens is not None:
            expect["sequence_lens"] = (shape_of(self.sequence_lens), [b])
            check(isinstance(element_type_of(self.sequence_lens), IntegerType),
                  "graph.rnn: sequence_lens must be integers")
        for what, (got, want) in expect.items():
            check(shapes_compatible(want, got),
                  f"graph.rnn: {what} must have shape {list(want)}, got {list(got)}")
        n_act = {"lstm": 3, "gru": 2, "rnn": 1}[kind] * d
        acts = [a.data for a in self.activations.data]
        check(len(acts) == n_act, f"graph.rnn: {kind} with {d} direction(s) needs "
                                  f"{n_act} activations, got {len(acts)}")
        for a in acts:
            check(a in RNN_ACTIVATIONS, f"graph.rnn: unknown activation '{a}'")
        check(len(self.activation_alpha) == len(self.activation_beta) == n_act,
              "graph.rnn: activation_alpha/beta need one entry per activation")
        n_out = 3 if kind == "lstm" else 2
        check(len(self.outputs) == n_out, f"graph.rnn: {kind} has {n_out} results")
        state = [d, b, h]
        for res, want in zip(self.outputs.types, [[t, d, b, h], state, state],
                             strict=False):
            check(shapes_compatible(want, shape_of(res)),
                  f"graph.rnn: result of shape {list(shape_of(res))} should be {want}")

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape]:
        t, b, i = shapes[0]
        w = shapes[1]
        if w[2] != i:
            raise ValueError(f"X has input size {i} but W expects {w[2]}")
        named = {"initial_h": self.initial_h, "initial_c": self.initial_c,
                 "sequence_lens": self.sequence_lens}
        d, h = self.num_directions, self.hidden_size.value.data
        by_value = dict(zip(self.operands, shapes, strict=True))
        for what, value in named.items():
            if value is not None:
                want = (b,) if what == "sequence_lens" else (d, b, h)
                if by_value[value] != want:
                    raise ValueError(f"{what} has shape {list(by_value[value])}, expected "
                                     f"{list(want)}")
        state = (d, b, h)
        return [(t, d, b, h), state, *([state] if self.kind.data == "lstm" else [])]
