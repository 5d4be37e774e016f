"""bufferize: linalg on tensors -> linalg on memrefs (ARCHITECTURE.md level 3).

A one-shot bufferizer for function bodies with scf regions (see "regions" below):
ops are rewritten in program order, each tensor value is replaced by the buffer that
holds it, and `memref.dealloc` is placed after the last use of every allocation that
is not returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    DenseIntOrFPElementsAttr,
    IndexType,
    MemRefType,
    ModuleOp,
    StridedLayoutAttr,
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

from dialects.errors import unexpected_op


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
        if not op.result.uses:
            Rewriter.erase_op(op)

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


# --------------------------------------------------------------------------- regions
# scf.if / scf.for / scf.while with tensor results and iter_args, and tensor slices.
#
# Ownership: a buffer is *owned* by the block that defines it when it is a
# memref.alloc there, a result of a region op there, or a memref iter_arg of a loop
# body (scf.for body, both scf.while blocks). An owned buffer is freed after its last
# use in its block unless the block's terminator hands it on (scf.yield / scf.condition
# / func.return). Terminators of regions only hand on buffers their block owns (one
# position each): anything else (a captured value, a view, a global) is copied into a
# fresh buffer first, so the parent always owns region results. A loop's initial values
# are copied too, unless the parent owns the buffer and never uses it after the loop
# (ownership moves into the loop). Allocations inside a loop body are freed each
# iteration.

_VIEWS = (memref.ReinterpretCastOp, memref.CastOp)
_REGION_OPS = (scf.IfOp, scf.ForOp, scf.WhileOp)


def _is_identity(t: Attribute) -> bool:
    return isinstance(t, MemRefType) and not isinstance(t.layout, StridedLayoutAttr)


@dataclass
class _RegionBufferizer(_FunctionBufferizer):
    """_FunctionBufferizer plus scf regions, tensor slices and casts."""

    moved: set[SSAValue] = field(default_factory=set[SSAValue])

    def run(self) -> None:
        for arg in list(self.block.args):
            if isinstance(arg.type, TensorType):
                Rewriter.replace_value_with_new_type(arg, memref_type_of(arg.type))
        self.convert_block(self.block)
        self.fn.function_type = func.FunctionType.from_lists(
            [a.type for a in self.block.args],
            [v.type for v in self._return().operands])
        blocks = [self.block] + [b for op in self.block.walk() for r in op.regions
                                 for b in r.blocks if isinstance(op, _REGION_OPS)]
        for block in blocks:
            self.insert_deallocs_in(block)

    def convert_block(self, block: Block) -> None:
        for op in list(block.ops):
            self.convert(op)

    def convert(self, op: Operation) -> None:
        match op:
            case scf.IfOp():
                self.convert_if(op)
            case scf.ForOp():
                self.convert_for(op)
            case scf.WhileOp():
                self.convert_while(op)
            case scf.YieldOp() | scf.ConditionOp():
                self.convert_terminator(op)
            case tensor.ExtractSliceOp():
                self.replace(op, [self.view(op.source, op, op.result.type)])
            case tensor.InsertSliceOp():
                self.convert_insert_slice(op)
            case tensor.CastOp():
                cast = memref.CastOp.get(op.source, memref_type_of(op.dest.type))
                self.replace(op, [self.insert(cast, op)])  # type: ignore[list-item]
            case tensor.FromElementsOp() if not op.result.type.get_shape():
                t = memref_type_of(op.result.type)
                buf = self.insert(memref.AllocOp([], [], t), op)
                assert buf is not None
                self.insert(memref.StoreOp.get(op.elements[0], buf, []), op)
                self.replace(op, [buf])
            case _:
                super().convert(op)

    # ---- ownership

    def owned(self, value: SSAValue, block: Block) -> bool:
        """Is `value` a buffer owned by `block` (see the section comment)?"""
        if value in self.moved or not isinstance(value.type, MemRefType):
            return False
        owner = value.owner
        if isinstance(owner, Block):
            parent = owner.parent_op()
            return owner is block and isinstance(parent, scf.ForOp | scf.WhileOp) and (
                isinstance(parent, scf.WhileOp) or value.index > 0)
        return owner.parent_block() is block and isinstance(
            owner, memref.AllocOp | scf.IfOp | scf.ForOp | scf.WhileOp)

    def no_later_uses(self, value: SSAValue, op: Operation) -> bool:
        """No op after `op` in its block reads `value` or a view of it."""
        block = op.parent_block()
        assert block is not None
        pending = [value]
        while pending:
            for use in pending.pop().uses:
                if isinstance(use.operation, _VIEWS):
                    pending.append(use.operation.results[0])
                top = _top_level(use.operation, block)
                if top is not None and top is not op and top not in self.new_ops:
                    return False
        return True

    def writable(self, buffer: SSAValue, op: Operation) -> bool:
        block = op.parent_block()
        return block is not None and self.owned(buffer, block) and \
            self.no_later_uses(buffer, op)

    def loop_init(self, value: SSAValue, op: Operation, seen: set[SSAValue]) -> SSAValue:
        """The buffer a loop starts from: `value` itself when ownership can move."""
        if not isinstance(value.type, MemRefType):
            return value
        block = op.parent_block()
        assert block is not None
        if value not in seen and _is_identity(value.type) and self.owned(value, block) \
                and self.no_later_uses(value, op):
            seen.add(value)
            self.moved.add(value)
            return value
        copy = self.copy_of(value, op)
        self.moved.add(copy)
        return copy

    # ---- region ops

    @staticmethod
    def retype_args(block: Block, start: int = 0) -> None:
        for arg in list(block.args[start:]):
            if isinstance(arg.type, TensorType):
                Rewriter.replace_value_with_new_type(arg, memref_type_of(arg.type))

    def convert_if(self, op: scf.IfOp) -> None:
        for region in (op.true_region, op.false_region):
            for block in region.blocks:
                self.convert_block(block)
        types = [memref_type_of(t) for t in op.output.types]
        regions = (op.true_region, op.false_region)
        new = scf.IfOp(op.cond, types, *(op.detach_region(r) for r in regions))
        self.insert(new, op)
        self.replace(op, list(new.results))

    def convert_for(self, op: scf.ForOp) -> None:
        seen: set[SSAValue] = set()
        inits = [self.loop_init(v, op, seen) for v in op.iter_args]
        block = op.body.block
        self.retype_args(block, 1)
        self.convert_block(block)
        new = scf.ForOp(op.lb, op.ub, op.step, inits, op.detach_region(op.body))
        self.insert(new, op)
        self.replace(op, list(new.results))

    def convert_while(self, op: scf.WhileOp) -> None:
        seen: set[SSAValue] = set()
        inits = [self.loop_init(v, op, seen) for v in op.arguments]
        for region in (op.before_region, op.after_region):
            self.retype_args(region.block)
            self.convert_block(region.block)
        types = [memref_type_of(t) for t in op.res.types]
        regions = (op.before_region, op.after_region)
        new = scf.WhileOp(inits, types, *(op.detach_region(r) for r in regions))
        self.insert(new, op)
        self.replace(op, list(new.results))

    def convert_terminator(self, op: scf.YieldOp | scf.ConditionOp) -> None:
        block = op.parent_block()
        assert block is not None
        handed: set[SSAValue] = set()
        first = 1 if isinstance(op, scf.ConditionOp) else 0
        for i in range(first, len(op.operands)):
            v = op.operands[i]
            if not isinstance(v.type, MemRefType):
                continue
            if v not in handed and _is_identity(v.type) and self.owned(v, block):
                handed.add(v)
            else:
                op.operands[i] = self.copy_of(v, op)

    # ---- slices

    def view(self, source: SSAValue, op: tensor.ExtractSliceOp | tensor.InsertSliceOp,
             result_tensor: Attribute) -> SSAValue:
        """The strided view of `source` selected by a slice op's offsets and sizes."""
        if not _is_identity(source.type):
            source = self.copy_of(source, op)
        t = source.type
        assert isinstance(t, MemRefType) and isinstance(result_tensor, TensorType | MemRefType)
        shape = t.get_shape()
        dyn_offsets, dyn_sizes = iter(op.offsets), iter(op.sizes)
        offsets = [next(dyn_offsets) if o == DYNAMIC_INDEX else o
                   for o in op.static_offsets.get_values()]
        sizes = [next(dyn_sizes) if s == DYNAMIC_INDEX else s
                 for s in op.static_sizes.get_values()]
        dyn_steps = iter(op.strides)
        steps = [next(dyn_steps) if s == DYNAMIC_INDEX else s
                 for s in op.static_strides.get_values()]
        # row-major strides of the source, static where its trailing dims are
        strides: list[SSAValue | int] = [1] * len(shape)
        for i in range(len(shape) - 2, -1, -1):
            strides[i] = self.mul(strides[i + 1], shape[i + 1] if shape[i + 1] !=
                                  DYNAMIC_INDEX else self.dim(source, i + 1, op), op)
        offset: SSAValue | int = 0
        for o, s in zip(offsets, strides, strict=True):
            offset = self.add(offset, self.mul(o, s, op), op)
        # a slice step multiplies the element stride (0: a broadcast, lowering/dims.py)
        strides = [self.mul(s, step, op) for s, step in zip(strides, steps, strict=True)]
        # rank reduction drops leading unit dims
        drop = len(shape) - len(result_tensor.get_shape())
        keep = []
        for i, s in enumerate(op.static_sizes.get_values()):
            if drop and s == 1:
                drop -= 1
                continue
            keep.append(i)
        kept_sizes = [sizes[i] for i in keep]
        kept_strides = [strides[i] for i in keep]
        layout = StridedLayoutAttr([s if isinstance(s, int) else None for s in kept_strides],
                                   offset if isinstance(offset, int) else None)
        result = MemRefType(t.element_type, result_tensor.get_shape(), layout)
        cast = memref.ReinterpretCastOp.from_dynamic(source, [offset], kept_sizes,
                                                     kept_strides, result)
        v = self.insert(cast, op)
        assert v is not None
        return v

    def convert_insert_slice(self, op: tensor.InsertSliceOp) -> None:
        dest = op.dest
        if not self.writable(dest, op):
            dest = self.copy_of(dest, op)
        view = self.view(dest, op, op.source.type)
        rank = len(op.source.type.get_shape())
        elt = op.source.type.element_type
        body = Block(arg_types=[elt, elt])
        body.add_op(YieldOp(body.args[0]))
        ident = AffineMapAttr(AffineMap.identity(rank))
        self.insert(GenericOp([op.source], [view], Region(body), [ident, ident],
                              [IteratorTypeAttr.parallel()] * rank), op)
        self.replace(op, [dest])

    def dim(self, source: SSAValue, i: int, before: Operation) -> SSAValue:
        v = self.insert(memref.DimOp(source, self.index(i, before)), before)
        assert v is not None
        return v

    def mul(self, a: SSAValue | int, b: SSAValue | int, before: Operation) -> SSAValue | int:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        if a == 1 or b == 0:
            return b
        if b == 1 or a == 0:
            return a
        av = self.index(a, before) if isinstance(a, int) else a
        bv = self.index(b, before) if isinstance(b, int) else b
        return self.insert(arith.MuliOp(av, bv), before)  # type: ignore[return-value]

    def add(self, a: SSAValue | int, b: SSAValue | int, before: Operation) -> SSAValue | int:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if a == 0:
            return b
        if b == 0:
            return a
        av = self.index(a, before) if isinstance(a, int) else a
        bv = self.index(b, before) if isinstance(b, int) else b
        return self.insert(arith.AddiOp(av, bv), before)  # type: ignore[return-value]

    # ---- deallocation

    def insert_deallocs_in(self, block: Block) -> None:
        ops = list(block.ops)
        position = {o: i for i, o in enumerate(ops)}
        terminator = block.last_op
        candidates: list[SSAValue] = [a for a in block.args if self.owned(a, block)]
        for o in ops:
            candidates += [r for r in o.results if self.owned(r, block)]
        for value in candidates:
            last: Operation | None = value.owner if isinstance(value.owner, Operation) \
                else None
            escapes = False
            pending = [value]
            while pending:
                for use in pending.pop().uses:
                    user = use.operation
                    if isinstance(user, _VIEWS):
                        pending.append(user.results[0])
                    top = _top_level(user, block)
                    if top is terminator:
                        escapes = True
                    elif top is not None and (last is None or position[top] > position[last]):
                        last = top
            if escapes:
                continue
            dealloc = memref.DeallocOp.get(value)
            if last is None:
                Rewriter.insert_op(dealloc, InsertPoint.at_start(block))
            else:
                Rewriter.insert_op(dealloc, InsertPoint.after(last))


@dataclass(frozen=True)
class BufferizePass(ModulePass):
    """Bufferize linalg on tensors into linalg on memrefs (ARCHITECTURE.md level 3)."""

    name = "bufferize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        _check_tensor_level(op)
        counter = [0]
        for fn in list(op.walk()):
            if isinstance(fn, func.FuncOp) and fn.body.blocks:
                if len(fn.body.blocks) != 1:
                    raise _fail(fn, "only single-block function bodies are supported")
                _RegionBufferizer(fn, op, counter).run()


def _check_tensor_level(module: ModuleOp) -> None:
    """bufferize takes what convert-graph-to-tensor produces: no graph ops, no memrefs."""
    expected = "tensor-level IR"
    for op in module.walk():
        if op.dialect_name() == "graph":
            raise unexpected_op("bufferize", op, expected, "run convert-graph-to-tensor first")
        if op.dialect_name() == "memref":
            raise unexpected_op("bufferize", op, expected, "the IR is bufferized already")
        types = [*op.operand_types, *op.result_types]
        types += [a.type for r in op.regions for b in r.blocks for a in b.args]
        if isinstance(op, func.FuncOp):
            types += [*op.function_type.inputs.data, *op.function_type.outputs.data]
        if any(isinstance(t, MemRefType) for t in types):
            raise unexpected_op("bufferize", op, expected, "it has memref operands or results")
