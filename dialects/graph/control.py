"""Control flow: graph.if, graph.loop, graph.scan and their terminator graph.yield.

Regions may use values of enclosing regions directly (captured values); every region ends
in `graph.yield`."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase, IntegerType, TensorType, i64
from xdsl.ir import Attribute, Region, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_operand_def,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsTerminator, Pure, RecursiveMemoryEffect

from dialects.graph.base import (
    DYN,
    Shape,
    check,
    compatible_types,
    element_type_of,
    i64_array,
    ints,
    shape_of,
    tensor_type,
)


def _parse_group(parser: Parser, keyword: str) -> tuple[list[SSAValue], list[Attribute]]:
    """`keyword(%a : T, %b : U)`, or nothing when the keyword is absent."""
    if parser.parse_optional_keyword(keyword) is None:
        return [], []

    def one() -> tuple[UnresolvedOperand, Attribute]:
        operand = parser.parse_unresolved_operand()
        parser.parse_punctuation(":")
        return operand, parser.parse_type()

    pairs = parser.parse_comma_separated_list(parser.Delimiter.PAREN, one)
    return ([parser.resolve_operand(o, t) for o, t in pairs], [t for _, t in pairs])


def _print_group(printer: Printer, keyword: str, values: Sequence[SSAValue]) -> None:
    if not values:
        return
    printer.print_string(f" {keyword}(")
    printer.print_list(values, lambda v: (printer.print_operand(v), printer.print_string(
        " : "), printer.print_attribute(v.type)))
    printer.print_string(")")


def _parse_result_types(parser: Parser) -> list[Attribute]:
    if parser.parse_optional_punctuation("->") is None:
        return []
    return parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)


def _print_result_types(printer: Printer, op: IRDLOperation) -> None:
    if op.results:
        printer.print_string(" -> (")
        printer.print_list(op.result_types, printer.print_attribute)
        printer.print_string(")")


def _split_props(op_type: type[IRDLOperation], attrs: dict[str, Attribute]
                 ) -> tuple[dict[str, Attribute], dict[str, Attribute]]:
    """Split a parsed attribute dictionary into (properties, other attributes)."""
    names = set(op_type.get_irdl_definition().properties)
    props = {k: v for k, v in attrs.items() if k in names}
    return props, {k: v for k, v in attrs.items() if k not in names}


def _print_props(printer: Printer, op: IRDLOperation, skip: Sequence[str] = ()) -> None:
    printer.print_op_attributes({**{k: v for k, v in op.properties.items() if k not in skip},
                                 **op.attributes})


def _check_scalar(op: IRDLOperation, value: SSAValue | None, element: Attribute,
                  what: str) -> None:
    if value is None:
        return
    t = value.type
    check(isinstance(t, TensorType) and t.element_type == element
          and all(d == 1 for d in shape_of(t)),
          f"{op.name}: {what} must be a one-element tensor of {element}, got {t}")


def _yield_of(region: Region) -> YieldOp:
    block = region.blocks.first
    assert block is not None
    last = block.last_op
    assert isinstance(last, YieldOp)
    return last


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminator of the regions of graph.if, graph.loop and graph.scan."""

    name = "graph.yield"
    values = var_operand_def(TensorType)

    traits = lazy_traits_def(lambda: (IsTerminator(), Pure(),
                                      HasParent(IfOp, LoopOp, ScanOp)))
    assembly_format = "attr-dict ($values^ `:` type($values))?"

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])


def _verify_region(op: IRDLOperation, region: Region, arg_types: Sequence[Attribute],
                   yield_types: Sequence[Attribute], what: str) -> None:
    """One block with `arg_types` arguments, ending in a yield of `yield_types`."""
    check(len(region.blocks) == 1, f"{op.name}: the {what} region must have one block")
    block = region.blocks.first
    assert block is not None
    got = [a.type for a in block.args]
    check(len(got) == len(arg_types) and all(
       compatible_types(g_, w) for g_, w in zip(got, arg_types, strict=True)),
       f"{op.name}: the {what} region's arguments must have types "
       f"({', '.join(map(str, arg_types))}), got ({', '.join(map(str, got))})")
    check(isinstance(block.last_op, YieldOp),
          f"{op.name}: the {what} region must end in graph.yield")
    yielded = [v.type for v in _yield_of(region).values]
    check(len(yielded) == len(yield_types) and all(
       compatible_types(g_, w) for g_, w in zip(yielded, yield_types, strict=True)),
       f"{op.name}: the {what} region yields ({', '.join(map(str, yielded))}), expected "
       f"({', '.join(map(str, yield_types))})")


@irdl_op_definition
class IfOp(IRDLOperation):
    """ONNX If: runs the `then` or the `else` region by a one-element bool tensor.

    Both regions take no arguments and yield values compatible with the results (a
    result dim is `?` where the branches disagree).
    """

    name = "graph.if"
    cond = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    then_region = region_def("single_block")
    else_region = region_def("single_block")

    traits = traits_def(RecursiveMemoryEffect())

    def __init__(self, cond: SSAValue, result_types: Sequence[Attribute],
                 then_region: Region, else_region: Region):
        super().__init__(operands=[cond], result_types=[list(result_types)],
                         regions=[then_region, else_region])

    def verify_(self) -> None:
        _check_scalar(self, self.cond, IntegerType(1), "the condition")
        types = list(self.outputs.types)
        _verify_region(self, self.then_region, [], types, "then")
        _verify_region(self, self.else_region, [], types, "else")

    @classmethod
    def parse(cls, parser: Parser) -> IfOp:
        cond = parser.parse_unresolved_operand()
        parser.parse_punctuation(":")
        cond_value = parser.resolve_operand(cond, parser.parse_type())
        types = _parse_result_types(parser)
        then_region = parser.parse_region()
        parser.parse_keyword("else")
        else_region = parser.parse_region()
        op = cls(cond_value, types, then_region, else_region)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.cond)
        printer.print_string(" : ")
        printer.print_attribute(self.cond.type)
        _print_result_types(printer, self)
        printer.print_string(" ")
        printer.print_region(self.then_region, print_entry_block_args=False)
        printer.print_string(" else ")
        printer.print_region(self.else_region, print_entry_block_args=False)
        if self.attributes:
            printer.print_op_attributes(self.attributes)

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        """Which branch runs is data-dependent: only fully static result types are known."""
        return [_declared(r) for r in self.results]


@irdl_op_definition
class LoopOp(IRDLOperation):
    """ONNX Loop: `for (i = 0; i < max_trip && cond; ++i)` over a body region.

    Operands: optional `max_trip` (one-element i64 tensor; absent = no bound), optional
    `cond` (one-element i1 tensor; absent = the condition is ignored, as in ONNX) and
    the initial loop-carried values. The body takes (iteration number: tensor<i64>,
    condition: tensor<i1>, carried values...) and yields (condition, carried values...,
    scan slices...). Results: the final carried values, then one scan output per scan
    slice, the slices of all iterations stacked along a new axis 0.
    """

    name = "graph.loop"
    max_trip = opt_operand_def(TensorType)
    cond = opt_operand_def(TensorType)
    inits = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def __init__(self, max_trip: SSAValue | None, cond: SSAValue | None,
                 inits: Sequence[SSAValue], result_types: Sequence[Attribute], body: Region):
        super().__init__(
            operands=[[max_trip] if max_trip else [], [cond] if cond else [], list(inits)],
            result_types=[list(result_types)], regions=[body])

    @property
    def num_scan_outputs(self) -> int:
        return len(self.outputs) - len(self.inits)

    def verify_(self) -> None:
        _check_scalar(self, self.max_trip, i64, "max_trip")
        _check_scalar(self, self.cond, IntegerType(1), "cond")
        n = len(self.inits)
        check(len(self.outputs) >= n,
              "graph.loop: needs a result for every loop-carried value")
        carried = [v.type for v in self.inits]
        for init, res in zip(carried, self.outputs.types[:n], strict=False):
            check(compatible_types(init, res),
                  f"graph.loop: carried value of type {init} has result type {res}")
        scans = list(self.outputs.types[n:])
        for t in scans:
            check(isinstance(t, TensorType) and len(shape_of(t)) >= 1,
                  "graph.loop: scan outputs have rank >= 1 (axis 0 = iterations)")
        slices = [tensor_type(shape_of(t)[1:], element_type_of(t)) for t in scans]
        scalar_i1, scalar_i64 = tensor_type([], IntegerType(1)), tensor_type([], i64)
        _verify_region(self, self.body, [scalar_i64, scalar_i1, *carried],
                       [scalar_i1, *carried, *slices], "body")

    @classmethod
    def parse(cls, parser: Parser) -> LoopOp:
        max_trip, _ = _parse_group(parser, "max_trip")
        cond, _ = _parse_group(parser, "cond")
        inits, _ = _parse_group(parser, "iter_args")
        types = _parse_result_types(parser)
        body = parser.parse_region()
        attrs = parser.parse_optional_attr_dict()
        op = cls(max_trip[0] if max_trip else None, cond[0] if cond else None, inits,
                 types, body)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        _print_group(printer, "max_trip", [self.max_trip] if self.max_trip else [])
        _print_group(printer, "cond", [self.cond] if self.cond else [])
        _print_group(printer, "iter_args", list(self.inits))
        _print_result_types(printer, self)
        printer.print_string(" ")
        printer.print_region(self.body)
        if self.attributes:
            printer.print_op_attributes(self.attributes)

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        """Carried values keep their shapes; scan outputs depend on the trip count."""
        inits = shapes[len(shapes) - len(self.inits):]
        return [*inits, *(_declared(r) for r in self.outputs[len(self.inits):])]


@irdl_op_definition
class ScanOp(IRDLOperation):
    """ONNX Scan: iterates a body over slices of the scan inputs.

    The trip count is the size of the scan inputs along their `input_axes`; input j is
    read from its end when `input_directions[j]` is 1. The body takes (state...,
    input slices...) and yields (state..., output slices...); results are the final
    states, then the scan outputs: the slices stacked along `output_axes[k]`, in
    reverse iteration order when `output_directions[k]` is 1.
    """

    name = "graph.scan"
    inits = var_operand_def(TensorType)
    scan_inputs = var_operand_def(TensorType)
    input_axes = prop_def(DenseArrayBase)
    input_directions = prop_def(DenseArrayBase)
    output_axes = prop_def(DenseArrayBase)
    output_directions = prop_def(DenseArrayBase)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def __init__(self, inits: Sequence[SSAValue], scan_inputs: Sequence[SSAValue],
                 result_types: Sequence[Attribute], body: Region, *,
                 input_axes: Sequence[int], input_directions: Sequence[int],
                 output_axes: Sequence[int], output_directions: Sequence[int]):
        super().__init__(
            operands=[list(inits), list(scan_inputs)], result_types=[list(result_types)],
            regions=[body],
            properties={"input_axes": i64_array(input_axes),
                        "input_directions": i64_array(input_directions),
                        "output_axes": i64_array(output_axes),
                        "output_directions": i64_array(output_directions)})

    def verify_(self) -> None:
        n, m = len(self.inits), len(self.scan_inputs)
        k = len(self.outputs) - n
        in_axes, out_axes = ints(self.input_axes), ints(self.output_axes)
        check(m >= 1, "graph.scan: needs at least one scan input")
        check(k >= 0, "graph.scan: needs a result for every state value")
        check(len(in_axes) == m and len(ints(self.input_directions)) == m,
              "graph.scan: input_axes/input_directions need one entry per scan input")
        check(len(out_axes) == k and len(ints(self.output_directions)) == k,
              "graph.scan: output_axes/output_directions need one entry per scan output")
        slices = []
        for x, axis in zip(self.scan_inputs, in_axes, strict=True):
            shape = shape_of(x)
            check(0 <= axis < len(shape),
                  f"graph.scan: input axis {axis} out of range for rank {len(shape)}")
            slices.append(tensor_type(shape[:axis] + shape[axis + 1:], element_type_of(x)))
        out_slices = []
        for t, axis in zip(self.outputs.types[n:], out_axes, strict=True):
            shape = shape_of(t)
            check(0 <= axis < len(shape),
                  f"graph.scan: output axis {axis} out of range for rank {len(shape)}")
            out_slices.append(tensor_type(shape[:axis] + shape[axis + 1:],
                                          element_type_of(t)))
        states = [v.type for v in self.inits]
        for init, res in zip(states, self.outputs.types[:n], strict=False):
            check(compatible_types(init, res),
                  f"graph.scan: state of type {init} has result type {res}")
        _verify_region(self, self.body, [*states, *slices], [*states, *out_slices], "body")

    @classmethod
    def parse(cls, parser: Parser) -> ScanOp:
        inits, _ = _parse_group(parser, "state")
        scan_inputs, _ = _parse_group(parser, "inputs")
        types = _parse_result_types(parser)
        body = parser.parse_region()
        props, attrs = _split_props(cls, parser.parse_optional_attr_dict())
        op = cls.build(operands=[inits, scan_inputs], result_types=[types],
                       regions=[body], properties=props, attributes=attrs)
        return op

    def print(self, printer: Printer) -> None:
        _print_group(printer, "state", list(self.inits))
        _print_group(printer, "inputs", list(self.scan_inputs))
        _print_result_types(printer, self)
        printer.print_string(" ")
        printer.print_region(self.body)
        _print_props(printer, self, skip=("operandSegmentSizes",))

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        n = len(self.inits)
        xs = shapes[n:]
        in_axes = ints(self.input_axes)
        trips = {x[a] for x, a in zip(xs, in_axes, strict=True)}
        if len(trips) != 1:
            raise ValueError(f"scan inputs have different lengths {sorted(trips)} along their "
                             "scan axes")
        trip = trips.pop()
        outs: list[Shape | None] = list(shapes[:n])
        for r, axis in zip(self.outputs[n:], ints(self.output_axes), strict=True):
            declared = list(shape_of(r))
            declared[axis] = trip
            outs.append(None if DYN in declared else tuple(declared))
        return outs


def _declared(value: SSAValue) -> Shape | None:
    shape = shape_of(value)
    return None if DYN in shape else shape
