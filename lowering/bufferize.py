"""bufferize: linalg on tensors -> linalg on memrefs (ARCHITECTURE.md level 3).

A one-shot bufferizer for straight-line function bodies (the only shape Kiln emits):
ops are rewritten in program order, each tensor value is replaced by the buffer that
holds it, and `memref.dealloc` is placed after the last use of every allocation that
is not returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    DenseIntOrFPElementsAttr,
    IndexType,
    MemRefType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import FillOp, GenericOp, YieldOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException


def _fail(op: Operation, message: str) -> PassFailedException:
    return PassFailedException(f"bufferize: {op.name}: {message}")


def memref_type_of(t: Attribute) -> Attribute:
    """The identity-layout memref type of a tensor type (others unchanged)."""
    if isinstance(t, TensorType):
        return MemRefType(t.element_type, t.get_shape())
    return t


def _root(value: SSAValue) -> SSAValue:
    """The buffer a view (reinterpret_cast) is carved from."""
    while isinstance(value.owner, memref.ReinterpretCastOp):
        value = value.owner.source
    return value


def _top_level(op: Operation, block: Block) -> Operation | None:
    """The ancestor of `op` that sits directly in `block`."""
    cur: Operation | None = op
    while cur is not None and cur.parent_block() is not block:
        cur = cur.parent_op()
    return cur


@dataclass
class _FunctionBufferizer:
    """Rewrites one func.func body in place."""

    fn: func.FuncOp
    module: ModuleOp
    globals_made: list[int]
    new_ops: set[Operation] = field(default_factory=set[Operation])
    shapes: dict[SSAValue, list[SSAValue]] = field(default_factory=dict[SSAValue,
                                                                        list[SSAValue]])

    @property
    def block(self) -> Block:
        return self.fn.body.blocks[0]

    def insert(self, op: Operation, before: Operation) -> SSAValue | None:
        Rewriter.insert_op(op, InsertPoint.before(before))
        self.new_ops.add(op)
        return op.results[0] if op.results else None

    def index(self, value: int, before: Operation) -> SSAValue:
        v = self.insert(arith.ConstantOp.from_int_and_width(value, IndexType()), before)
        assert v is not None
        return v

    def run(self) -> None:
        for arg in list(self.block.args):
            if isinstance(arg.type, TensorType):
                Rewriter.replace_value_with_new_type(arg, memref_type_of(arg.type))
        for op in list(self.block.ops):
            self.convert(op)
        self.fn.function_type = func.FunctionType.from_lists(
            [a.type for a in self.block.args],
            [v.type for v in self._return().operands])
        self.insert_deallocs()

    def _return(self) -> func.ReturnOp:
        last = self.block.last_op
        if not isinstance(last, func.ReturnOp):
            raise _fail(self.fn, "expected a func.return at the end of the body")
        return last

    # ------------------------------------------------------------------ conversion

    def replace(self, old: Operation, new_values: list[SSAValue]) -> None:
        for res, new in zip(old.results, new_values, strict=True):
            res.replace_all_uses_with(new)
        Rewriter.erase_op(old)

    def convert(self, op: Operation) -> None:
        match op:
            case tensor.EmptyOp():
                t = memref_type_of(op.tensor.type)
                alloc = self.insert(memref.AllocOp(list(op.dynamic_sizes), [], t), op)
                assert alloc is not None
                self.replace(op, [alloc])
            case GenericOp() | FillOp():
                self.convert_linalg(op)
            case tensor.DimOp():
                self.replace(op, [self.insert(memref.DimOp(op.source, op.index), op)])
            case tensor.ExtractOp():
                self.replace(op, [self.insert(memref.LoadOp.get(op.tensor, op.indices), op)])
            case tensor.FromElementsOp():
                self.convert_from_elements(op)
            case tensor.ReshapeOp():
                self.convert_reshape(op)
            case arith.ConstantOp() if isinstance(op.result.type, TensorType):
                self.convert_constant(op)
            case func.ReturnOp():
                self.convert_return(op)
            case _:
                types = [*op.operand_types, *op.result_types]
                if any(isinstance(t, TensorType | MemRefType) for t in types):
                    raise _fail(op, "cannot bufferize this op")

    def copy_of(self, source: SSAValue, before: Operation) -> SSAValue:
        """A fresh allocation holding a copy of `source` (a linalg.generic copy)."""
        t = source.type
        assert isinstance(t, MemRefType)
        shape = t.get_shape()
        dyn = []
        for i, s in enumerate(shape):
            if s == DYNAMIC_INDEX:
                d = self.insert(memref.DimOp(source, self.index(i, before)), before)
                assert d is not None
                dyn.append(d)
        dest = self.insert(memref.AllocOp(dyn, [], MemRefType(t.element_type, shape)),
                           before)
        assert dest is not None
        rank = len(shape)
        body = Block(arg_types=[t.element_type, t.element_type])
        body.add_op(YieldOp(body.args[0]))
        ident = AffineMapAttr(AffineMap.identity(rank))
        self.insert(GenericOp([source], [dest], Region(body), [ident, ident],
                                     [IteratorTypeAttr.parallel()] * rank), before)
        return dest

    def writable(self, buffer: SSAValue, op: Operation) -> bool:
        """May `op` write `buffer` in place? Only a fresh allocation nobody reads later."""
        if not isinstance(buffer.owner, memref.AllocOp):
            return False
        pending = [buffer]
        while pending:
            for use in pending.pop().uses:
                if isinstance(use.operation, memref.ReinterpretCastOp):
                    pending.append(use.operation.result)
                top = _top_level(use.operation, self.block)
                if top is not op and top not in self.new_ops:
                    return False
        return True

    def convert_linalg(self, op: GenericOp | FillOp) -> None:
        outs = []
        for out in op.outputs:
            if not isinstance(out.type, MemRefType):
                raise _fail(op, f"outs operand of type {out.type} was not bufferized")
            outs.append(out if self.writable(out, op) else self.copy_of(out, op))
        ins = list(op.inputs)
        if isinstance(op, FillOp):
            new: Operation = FillOp(ins, outs, res=[])
        else:
            region = op.detach_region(op.body)
            self.convert_body(region)
            new = GenericOp(ins, outs, region, op.indexing_maps.data,
                                   op.iterator_types.data, [], op.doc, op.library_call)
        self.insert(new, op)
        self.replace(op, outs)

    def convert_body(self, region: Region) -> None:
        for inner in list(region.walk()):
            if isinstance(inner, tensor.ExtractOp):
                Rewriter.replace_op(inner, memref.LoadOp.get(inner.tensor, inner.indices))
            elif isinstance(inner, tensor.DimOp):
                Rewriter.replace_op(inner, memref.DimOp(inner.source, inner.index))

    def convert_from_elements(self, op: tensor.FromElementsOp) -> None:
        self.shapes[op.result] = list(op.elements)
        others = [u for u in op.result.uses if not isinstance(u.operation, tensor.ReshapeOp)]
        if not others:
            return  # only feeds reshapes: erased once they are converted
        t = memref_type_of(op.result.type)
        buf = self.insert(memref.AllocOp([], [], t), op)
        assert buf is not None
        for i, element in enumerate(op.elements):
            self.insert(memref.StoreOp.get(element, buf, [self.index(i, op)]), op)
        for use in others:
            use.operation.operands[use.index] = buf

    def convert_reshape(self, op: tensor.ReshapeOp) -> None:
        shape_source = op.shape
        elements = self.shapes.get(shape_source)
        if elements is None:
            raise _fail(op, "the shape operand must come from tensor.from_elements")
        out_shape = op.result.type.get_shape()
        sizes: list[SSAValue | int] = [s if s != DYNAMIC_INDEX else e
                                       for s, e in zip(out_shape, elements, strict=True)]
        strides: list[SSAValue | int] = [1] * len(sizes)
        for i in range(len(sizes) - 2, -1, -1):
            a, b = strides[i + 1], sizes[i + 1]
            if isinstance(a, int) and isinstance(b, int):
                strides[i] = a * b
            else:
                av = self.index(a, op) if isinstance(a, int) else a
                bv = self.index(b, op) if isinstance(b, int) else b
                strides[i] = self.insert(arith.MuliOp(av, bv), op)  # type: ignore[assignment]
        view = memref.ReinterpretCastOp.from_dynamic(
            op.source, [0], sizes, strides, memref_type_of(op.result.type))
        self.insert(view, op)
        self.replace(op, [view.result])
        owner = shape_source.owner
        if isinstance(owner, tensor.FromElementsOp) and not owner.result.uses:
            Rewriter.erase_op(owner)

    def convert_constant(self, op: arith.ConstantOp) -> None:
        value = op.value
        assert isinstance(value, DenseIntOrFPElementsAttr)
        t = memref_type_of(op.result.type)
        name = f"__kiln_constant_{self.globals_made[0]}"
        self.globals_made[0] += 1
        glob = memref.GlobalOp.get(StringAttr(name), t, value, constant=UnitAttr())
        self.module.body.block.insert_op_before(glob, self.module_anchor())
        self.replace(op, [self.insert(memref.GetGlobalOp(name, t), op)])

    def module_anchor(self) -> Operation:
        top: Operation = self.fn
        while top.parent_op() is not self.module:
            parent = top.parent_op()
            assert parent is not None
            top = parent
        return top

    def convert_return(self, op: func.ReturnOp) -> None:
        for i, v in enumerate(op.operands):
            # the runtime frees returned buffers it did not pass in: never a global
            if isinstance(v.type, MemRefType) and isinstance(_root(v).owner,
                                                             memref.GetGlobalOp):
                op.operands[i] = self.copy_of(v, op)

    # ------------------------------------------------------------------ deallocation

    def insert_deallocs(self) -> None:
        ops = list(self.block.ops)
        position = {o: i for i, o in enumerate(ops)}
        for alloc in ops:
            if not isinstance(alloc, memref.AllocOp):
                continue
            last = alloc
            returned = False
            pending = [alloc.memref]
            while pending:
                value = pending.pop()
                for use in value.uses:
                    user = use.operation
                    if isinstance(user, func.ReturnOp):
                        returned = True
                    if isinstance(user, memref.ReinterpretCastOp):
                        pending.append(user.result)
                    top = _top_level(user, self.block)
                    if top is not None and position.get(top, -1) > position[last]:
                        last = top
            if not returned:
                Rewriter.insert_op(memref.DeallocOp.get(alloc.memref), InsertPoint.after(last))


@dataclass(frozen=True)
class BufferizePass(ModulePass):
    """Bufferize linalg on tensors into linalg on memrefs (ARCHITECTURE.md level 3)."""

    name = "bufferize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        counter = [0]
        for fn in list(op.walk()):
            if isinstance(fn, func.FuncOp) and fn.body.blocks:
                if len(fn.body.blocks) != 1:
                    raise _fail(fn, "only single-block function bodies are supported")
                _FunctionBufferizer(fn, op, counter).run()
