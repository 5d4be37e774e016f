"""convert-to-llvm: func, arith, math, memref, scf, cf (and affine.apply) -> llvm dialect.

Each op family has one pattern. Patterns read operands through `Builder.legal` (which
casts them to their converted type with `builtin.unrealized_conversion_cast`) and cast
their results back, so the patterns can fire in any order; the casts cancel out at the
end (reconcile-unrealized-casts). Memrefs become MLIR-style descriptors, see
docs/ARCHITECTURE.md (level 5) for the ABI and the `_kiln_entry_*` wrappers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import affine, arith, cf, func, llvm, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AnyFloat,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    StridedLayoutAttr,
    TensorType,
    UnrealizedConversionCastOp,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.rewriter import BlockInsertPoint, InsertPoint, Rewriter
from xdsl.transforms.convert_scf_to_cf import ConvertScfToCf
from xdsl.transforms.reconcile_unrealized_casts import reconcile_unrealized_casts
from xdsl.utils.exceptions import PassFailedException

from dialects.check import AssertOp
from dialects.graph.base import is_minifloat
from lowering.affine_arith import affine_to_arith
from lowering.llvm_asserts import lower_asserts
from lowering.llvm_casts import (
    EmulateBF16,
    float_bits,
    float_to_minifloat,
    fp_to_int,
    icmp,
    int_resize,
    int_to_narrow_float,
    is_narrow_float,
    minifloat_to_float,
    narrow_float,
    narrow_fma,
    type_suffix,
    uitofp,
    widen_float,
)
from lowering.llvm_math import erf_f32, exp_f32, tanh_f32
from lowering.llvm_types import (
    ALIGNED,
    ALLOCATED,
    OFFSET,
    PTR,
    SIZES,
    STRIDES,
    Builder,
    Index,
    byte_size,
    convert_type,
    element_type,
)
from lowering.outline_kernels import NOINLINE

ENTRY_PREFIX = "_kiln_entry_"
ALIGNMENT = 64


@dataclass
class Externs:
    """External functions (malloc, free, libm) the converted code calls."""

    decls: dict[str, llvm.LLVMFunctionType] = field(
        default_factory=dict[str, llvm.LLVMFunctionType]
    )

    def use(self, name: str, inputs: list[Attribute], output: Attribute) -> str:
        self.decls.setdefault(name, llvm.LLVMFunctionType(inputs, output))
        return name


# ---------------------------------------------------------------------------------------
# Pre-lowering: affine.apply -> arith, scf.while -> cf


class AffineApplyToArith(RewritePattern):
    """affine.apply -> arith on index values (affine mod/floordiv/ceildiv semantics)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, affine.ApplyOp):
            return
        amap = op.map.data
        ops: list[Operation] = []
        operands = list(op.mapOperands)
        dims, syms = operands[: amap.num_dims], operands[amap.num_dims :]

        def emit(o: Operation) -> SSAValue:
            ops.append(o)
            return o.results[0]

        def const(value: int) -> SSAValue:
            return emit(arith.ConstantOp(IntegerAttr(value, IndexType())))

        assert len(amap.results) == 1
        result = affine_to_arith(amap.results[0], dims, emit, const, syms)
        rewriter.replace(op, ops, [result])


class WhileToCF(RewritePattern):
    """scf.while -> before/after blocks with cf.cond_br (xDSL's scf-to-cf lacks it)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, scf.WhileOp):
            return
        parent = op.parent_block()
        assert parent is not None
        end = parent.split_before(op)
        before, after = op.before_region.block, op.after_region.block
        condition, yield_ = before.last_op, after.last_op
        assert isinstance(condition, scf.ConditionOp) and isinstance(yield_, scf.YieldOp)
        results = [end.insert_arg(r.type, i) for i, r in enumerate(op.res)]
        rewriter.inline_region(op.before_region, BlockInsertPoint.before(end))
        rewriter.inline_region(op.after_region, BlockInsertPoint.before(end))
        rewriter.replace(
            condition,
            cf.ConditionalBranchOp(condition.condition, after, condition.args, end, condition.args),
        )
        rewriter.replace(yield_, cf.BranchOp(before, *yield_.operands))
        rewriter.insert(cf.BranchOp(before, *op.arguments), InsertPoint.at_end(parent))
        rewriter.replace(op, [], results)


# ---------------------------------------------------------------------------------------
# func and cf


def _func_type(inputs: list[Attribute], outputs: list[Attribute]) -> llvm.LLVMFunctionType:
    return llvm.LLVMFunctionType([convert_type(t) for t in inputs], _result_type(outputs))


def _result_type(outputs: list[Attribute]) -> Attribute:
    if not outputs:
        return llvm.LLVMVoidType()
    if len(outputs) == 1:
        return convert_type(outputs[0])
    return llvm.LLVMStructType.from_type_list([convert_type(t) for t in outputs])


def convert_block_arguments(module: ModuleOp) -> None:
    """Give every block argument in function bodies its converted type.

    Uses get a cast back to the old type, so unconverted ops stay type-correct.
    """
    for fn in module.walk():
        if not isinstance(fn, func.FuncOp):
            continue
        for block in fn.body.blocks:
            for arg in list(block.args):
                t = convert_type(arg.type)
                if t == arg.type:
                    continue
                old_type = arg.type
                new_arg = Rewriter.replace_value_with_new_type(arg, t)
                cast = UnrealizedConversionCastOp.get([new_arg], [old_type])
                new_arg.replace_uses_with_if(cast.results[0], lambda u: True)
                if block.first_op is None:
                    block.add_op(cast)
                else:
                    block.insert_op_before(cast, block.first_op)
                cast.operands = [new_arg]


class FuncToLLVM(RewritePattern):
    """func.func -> llvm.func (multiple results return a struct)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, func.FuncOp):
            return
        ftype = _func_type(list(op.function_type.inputs), list(op.function_type.outputs))
        declaration = not op.body.blocks
        private = op.sym_visibility is not None and op.sym_visibility.data == "private"
        linkage = "internal" if private and not declaration else "external"
        new = llvm.FuncOp(
            op.sym_name.data,
            ftype,
            linkage=llvm.LinkageAttr(linkage),
            body=rewriter.move_region_contents_to_new_regions(op.body),
        )
        if NOINLINE in op.attributes:
            new.attributes[NOINLINE] = op.attributes[NOINLINE]
        rewriter.replace(op, new)


class ReturnToLLVM(RewritePattern):
    """func.return -> llvm.return."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, func.ReturnOp):
            return
        b = Builder()
        values = [b.legal(v) for v in op.arguments]
        if len(values) > 1:
            agg = b.add(llvm.UndefOp(_result_type([v.type for v in op.arguments])))
            for i, v in enumerate(values):
                agg = b.insert(agg, [i], v)
            values = [agg]
        b.add(llvm.ReturnOp(values[0] if values else None))
        b.replace(rewriter, op)


class CallToLLVM(RewritePattern):
    """func.call -> llvm.call."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, func.CallOp):
            return
        b = Builder()
        args = [b.legal(v) for v in op.arguments]
        out_types = [r.type for r in op.results]
        ret = _result_type(out_types) if out_types else None
        call = llvm.CallOp(op.callee, *args, return_type=ret)
        b.add(call)
        if len(out_types) > 1:
            results = [
                b.extract(call.results[0], [i], convert_type(t)) for i, t in enumerate(out_types)
            ]
        else:
            results = list(call.results)
        b.replace(rewriter, op, results)


class CFToLLVM(RewritePattern):
    """cf.br / cf.cond_br -> llvm.br / llvm.cond_br."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if isinstance(op, cf.BranchOp):
            b.add(llvm.BrOp(op.successor, *[b.legal(v) for v in op.arguments]))
        elif isinstance(op, cf.ConditionalBranchOp):
            b.add(
                llvm.CondBrOp(
                    op.cond,
                    op.then_block,
                    [b.legal(v) for v in op.then_arguments],
                    op.else_block,
                    [b.legal(v) for v in op.else_arguments],
                )
            )
        else:
            return
        b.replace(rewriter, op)


# ---------------------------------------------------------------------------------------
# arith

_INT_BINARY: dict[type[Operation], type[Operation]] = {
    arith.AddiOp: llvm.AddOp,
    arith.SubiOp: llvm.SubOp,
    arith.MuliOp: llvm.MulOp,
    arith.DivSIOp: llvm.SDivOp,
    arith.DivUIOp: llvm.UDivOp,
    arith.RemSIOp: llvm.SRemOp,
    arith.RemUIOp: llvm.URemOp,
    arith.AndIOp: llvm.AndOp,
    arith.OrIOp: llvm.OrOp,
    arith.XOrIOp: llvm.XOrOp,
    arith.ShLIOp: llvm.ShlOp,
    arith.ShRSIOp: llvm.AShrOp,
    arith.ShRUIOp: llvm.LShrOp,
    arith.AddfOp: llvm.FAddOp,
    arith.SubfOp: llvm.FSubOp,
    arith.MulfOp: llvm.FMulOp,
    arith.DivfOp: llvm.FDivOp,
}

_INT_MINMAX: dict[type[Operation], str] = {
    arith.MaxSIOp: "sgt",
    arith.MinSIOp: "slt",
    arith.MaxUIOp: "ugt",
    arith.MinUIOp: "ult",
}

_FLOAT_MINMAX_INTRINSIC: dict[type[Operation], str] = {
    arith.MaximumfOp: "llvm.maximum",
    arith.MinimumfOp: "llvm.minimum",
    arith.MaxnumfOp: "llvm.maxnum",
    arith.MinnumfOp: "llvm.minnum",
}


class ArithBinaryToLLVM(RewritePattern):
    """Binary arith ops with a one-to-one llvm op; min/max via icmp+select or intrinsics."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if type(op) in _INT_BINARY:
            lhs, rhs = (b.legal(v) for v in op.operands)
            res = b.add(_INT_BINARY[type(op)](lhs, rhs))  # type: ignore[call-arg]
        elif type(op) in _INT_MINMAX:
            lhs, rhs = (b.legal(v) for v in op.operands)
            cond = icmp(b, _INT_MINMAX[type(op)], lhs, rhs)
            res = b.add(llvm.SelectOp(cond, lhs, rhs))
        elif type(op) in _FLOAT_MINMAX_INTRINSIC:
            lhs, rhs = op.operands
            name = f"{_FLOAT_MINMAX_INTRINSIC[type(op)]}.{type_suffix(lhs.type)}"
            res = b.add(llvm.CallIntrinsicOp(name, [lhs, rhs], [lhs.type]))
        elif isinstance(op, arith.NegfOp):
            res = b.add(llvm.FNegOp(op.operand))
        else:
            return
        b.replace(rewriter, op, [res])


class ArithDivToLLVM(RewritePattern):
    """arith.floordivsi / ceildivsi: sdiv plus a correction when the remainder is nonzero."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, arith.FloorDivSIOp | arith.CeilDivSIOp):
            return
        b = Builder()
        lhs, rhs = (b.legal(v) for v in op.operands)
        t = lhs.type
        q = b.add(llvm.SDivOp(lhs, rhs))
        r = b.add(llvm.SRemOp(lhs, rhs))
        zero = b.const(0, t)
        nonzero = icmp(b, "ne", r, zero)
        r_neg = icmp(b, "slt", r, zero)
        d_neg = icmp(b, "slt", rhs, zero)
        if isinstance(op, arith.FloorDivSIOp):
            signs = icmp(b, "ne", r_neg, d_neg)
            delta = -1
        else:
            signs = icmp(b, "eq", r_neg, d_neg)
            delta = 1
        fix = b.add(llvm.AndOp(nonzero, signs))
        adj = b.add(llvm.AddOp(q, b.const(delta, t)))
        b.replace(rewriter, op, [b.add(llvm.SelectOp(fix, adj, q))])


class ArithConstantToLLVM(RewritePattern):
    """Scalar arith.constant -> llvm.mlir.constant."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, arith.ConstantOp):
            return
        value = op.value
        t = convert_type(op.result.type)
        if isinstance(value, IntegerAttr):
            value = IntegerAttr(value.value.data, t)  # type: ignore[arg-type]
        elif isinstance(value, FloatAttr) and isinstance(t, IntegerType):  # bf16, minifloats
            value = IntegerAttr(float_bits(value.value.data, op.result.type), t)
        elif not isinstance(value, FloatAttr):
            return  # dense constants are bufferized into memref.global earlier
        b = Builder()
        b.replace(rewriter, op, [b.add(llvm.ConstantOp(value, t))])


class ArithCompareToLLVM(RewritePattern):
    """arith.cmpi / cmpf (all predicates) and arith.select."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if isinstance(op, arith.CmpiOp):
            pred = arith.CMPI_COMPARISON_OPERATIONS[op.predicate.value.data]
            res = icmp(b, pred, b.legal(op.lhs), b.legal(op.rhs))
        elif isinstance(op, arith.CmpfOp):
            pred = arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data]
            if pred in ("false", "true"):
                res = b.const(int(pred == "true"), i1)
            else:
                res = b.add(llvm.FCmpOp(op.lhs, op.rhs, pred))
        elif isinstance(op, arith.SelectOp):
            res = b.add(llvm.SelectOp(op.cond, b.legal(op.lhs), b.legal(op.rhs)))
        else:
            return
        b.replace(rewriter, op, [res])


class ArithCastToLLVM(RewritePattern):
    """Integer/float width and kind casts (fptosi/fptoui via the saturating intrinsics);
    conversions to and from f16/bf16 never leave a libcall (see above)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if not isinstance(
            op,
            arith.IndexCastOp
            | arith.ExtSIOp
            | arith.ExtUIOp
            | arith.TruncIOp
            | arith.ExtFOp
            | arith.TruncFOp
            | arith.SIToFPOp
            | arith.UIToFPOp
            | arith.FPToSIOp
            | arith.FPToUIOp
            | arith.BitcastOp,
        ):
            return
        src = b.legal(op.operands[0])
        t = convert_type(op.results[0].type)
        if isinstance(op, arith.ExtFOp) and is_minifloat(op.operands[0].type):
            b.replace(rewriter, op, [minifloat_to_float(b, src, op.operands[0].type, t)])
            return
        if isinstance(op, arith.TruncFOp) and is_minifloat(op.results[0].type):
            b.replace(rewriter, op, [float_to_minifloat(b, src, op.results[0].type)])
            return
        match op:
            case arith.IndexCastOp() | arith.ExtSIOp() | arith.TruncIOp():
                res = int_resize(b, src, t, signed=True)
            case arith.ExtUIOp():
                res = int_resize(b, src, t, signed=False)
            case arith.ExtFOp():
                res = widen_float(b, src, t)
            case arith.TruncFOp() if is_narrow_float(t):
                res = narrow_float(b, src, t)
            case arith.TruncFOp():
                res = b.add(llvm.FPTruncOp(src, t))
            case arith.SIToFPOp() | arith.UIToFPOp() if is_narrow_float(t):
                res = int_to_narrow_float(b, src, t, isinstance(op, arith.SIToFPOp))
            case arith.SIToFPOp():
                res = b.add(llvm.SIToFPOp(src, t))
            case arith.UIToFPOp():
                res = uitofp(b, src, t)
            case arith.FPToSIOp() | arith.FPToUIOp():
                res = fp_to_int(b, src, t, isinstance(op, arith.FPToSIOp))
            case _:
                res = src if src.type == t else b.add(llvm.BitcastOp(src, t))
        b.replace(rewriter, op, [res])


# ---------------------------------------------------------------------------------------
# math

_MATH_NAMED_INTRINSICS: dict[str, str] = {
    "math.exp": "llvm.exp",
    "math.log": "llvm.log",
    "math.sqrt": "llvm.sqrt",
    "math.absf": "llvm.fabs",
    "math.floor": "llvm.floor",
    "math.ceil": "llvm.ceil",
    "math.sin": "llvm.sin",
    "math.cos": "llvm.cos",
    "math.exp2": "llvm.exp2",
    "math.log2": "llvm.log2",
    "math.powf": "llvm.pow",
    "math.fma": "llvm.fma",
    "math.copysign": "llvm.copysign",
    "math.trunc": "llvm.trunc",
    "math.round": "llvm.round",
    "math.roundeven": "llvm.roundeven",
    "math.log10": "llvm.log10",
}

# math ops with no LLVM intrinsic that lowers everywhere: call libm (f32 names get "f")
_MATH_LIBM: dict[str, str] = {
    "math.tanh": "tanh",
    "math.erf": "erf",
    "math.erfc": "erfc",
    "math.log1p": "log1p",
    "math.expm1": "expm1",
    "math.tan": "tan",
    "math.atan": "atan",
    "math.atan2": "atan2",
    "math.asin": "asin",
    "math.acos": "acos",
    "math.sinh": "sinh",
    "math.cosh": "cosh",
    "math.asinh": "asinh",
    "math.acosh": "acosh",
    "math.atanh": "atanh",
    "math.cbrt": "cbrt",
}


# f32 functions Kiln computes inline (lowering/llvm_math.py: vectorizable, no libm call)
_INLINE_F32 = {"math.exp": exp_f32, "math.tanh": tanh_f32, "math.erf": erf_f32}


@dataclass
class MathToLLVM(RewritePattern):
    """math ops -> llvm intrinsics, or libm calls where LLVM has no intrinsic."""

    externs: Externs

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not op.name.startswith("math.") or not op.results:
            return
        b = Builder()
        args = list(op.operands)
        t = op.results[0].type
        if not isinstance(t, AnyFloat):
            return
        if op.name == "math.fma" and is_narrow_float(t):
            res = narrow_fma(b, *[b.legal(a) for a in args])
        elif op.name in _INLINE_F32 and t == f32:
            res = _INLINE_F32[op.name](b, args[0])
        elif op.name in _MATH_NAMED_INTRINSICS:
            name = f"{_MATH_NAMED_INTRINSICS[op.name]}.{type_suffix(t)}"
            res = b.add(llvm.CallIntrinsicOp(name, args, [t]))
        elif op.name == "math.rsqrt":
            sqrt = b.add(llvm.CallIntrinsicOp(f"llvm.sqrt.{type_suffix(t)}", args, [t]))
            res = b.add(llvm.FDivOp(b.const(1.0, t), sqrt))
        elif op.name in _MATH_LIBM:
            base = _MATH_LIBM[op.name]
            if t.bitwidth == 32:
                name = base + "f"
            elif t.bitwidth == 64:
                name = base
            elif is_narrow_float(t):
                # no half-precision libm: compute in f32 and round back
                wide = [b.add(llvm.FPExtOp(a, f32)) for a in args]
                name = self.externs.use(base + "f", [f32] * len(args), f32)
                call = b.add(llvm.CallOp(name, *wide, return_type=f32))
                b.replace(rewriter, op, [narrow_float(b, call, t)])
                return
            else:
                return
            self.externs.use(name, [t] * len(args), t)
            res = b.add(llvm.CallOp(name, *args, return_type=t))
        else:
            return
        b.replace(rewriter, op, [res])


# ---------------------------------------------------------------------------------------
# memref


def _strides_and_offset(
    b: Builder, desc: SSAValue, t: MemRefType, sizes: list[Index]
) -> tuple[list[Index], Index]:
    layout = t.layout
    if isinstance(layout, StridedLayoutAttr):
        static_strides = layout.get_strides()
        strides: list[Index] = [
            s if s is not None else b.extract(desc, [STRIDES, i], i64)
            for i, s in enumerate(static_strides)
        ]
        off = layout.get_offset()
        offset: Index = off if off is not None else b.extract(desc, [OFFSET], i64)
        return strides, offset
    # identity layout: contiguous row-major at offset 0 (as in MLIR)
    return b.row_major_strides(sizes), 0


def element_pointer(
    b: Builder, desc: SSAValue, t: MemRefType, indices: list[SSAValue]
) -> SSAValue:
    """GEP on the aligned pointer (no ptrtoint: LLVM vectorizes GEP addressing)."""
    sizes = b.sizes(desc, t)
    strides, offset = _strides_and_offset(b, desc, t, sizes)
    linear: Index = offset
    for idx, stride in zip(indices, strides, strict=True):
        linear = b.plus(linear, b.mul(idx, stride))
    base = b.extract(desc, [ALIGNED], PTR)
    return b.gep(base, linear, element_type(t))


class LoadStoreToLLVM(RewritePattern):
    """memref.load / memref.store -> GEP + llvm.load / llvm.store."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if isinstance(op, memref.LoadOp):
            t = op.memref.type
            assert isinstance(t, MemRefType)
            ptr = element_pointer(b, b.legal(op.memref), t, [b.legal(i) for i in op.indices])
            b.replace(rewriter, op, [b.add(llvm.LoadOp(ptr, element_type(t)))])
        elif isinstance(op, memref.StoreOp):
            t = op.memref.type
            assert isinstance(t, MemRefType)
            ptr = element_pointer(b, b.legal(op.memref), t, [b.legal(i) for i in op.indices])
            b.add(llvm.StoreOp(b.legal(op.value), ptr))
            b.replace(rewriter, op)


MAX_ALLOCATION_BYTES = 1 << 56
"""No buffer is larger (the byte count of a run-time shape must not wrap around)."""


def _check_allocations(module: ModuleOp) -> None:
    """Before every heap allocation, check that its byte count does not overflow; after
    it, that malloc did not fail (a null buffer would be written to: a crash)."""
    for op in [o for o in module.walk() if isinstance(o, memref.AllocOp)]:
        t = op.memref.type
        assert isinstance(t, MemRefType)
        elem = byte_size(element_type(t))
        static = elem
        for d in t.get_shape():
            static *= d if d >= 0 else 1
        if static > MAX_ALLOCATION_BYTES:
            raise PassFailedException(f"convert-to-llvm: a buffer of {t} needs {static} "
                                      "bytes, more than Kiln allocates")

        def before(new: Operation, anchor: Operation = op) -> SSAValue:
            Rewriter.insert_op(new, InsertPoint.before(anchor))
            return new.results[0] if new.results else None  # type: ignore[return-value]

        def index(value: int) -> SSAValue:
            return before(arith.ConstantOp.from_int_and_width(value, IndexType()))

        total: SSAValue = index(static)
        ok: SSAValue | None = None
        for d in op.dynamic_sizes:
            zero = before(arith.CmpiOp(d, index(0), "eq"))
            limit = before(arith.DivSIOp(index(MAX_ALLOCATION_BYTES), before(arith.MaxSIOp(
                d, index(1)))))
            fits = before(arith.AndIOp(before(arith.CmpiOp(d, index(0), "sge")),
                                       before(arith.OrIOp(zero, before(arith.CmpiOp(
                                           total, limit, "sle"))))))
            ok = fits if ok is None else before(arith.AndIOp(ok, fits))
            total = before(arith.MuliOp(total, d))
        if ok is not None:
            sizes = list(op.dynamic_sizes)[:4]
            before(AssertOp(ok, "cannot allocate a buffer of run-time dims "
                            + ", ".join(f"{{{i}}}" for i in range(len(sizes)))
                            + f" of {t.element_type}: too large", sizes))
        after = InsertPoint.after(op)
        pointer = memref.ExtractAlignedPointerAsIndexOp.get(op.memref)
        zero_ptr = arith.ConstantOp.from_int_and_width(0, IndexType())
        nonnull = arith.CmpiOp(pointer.results[0], zero_ptr.result, "ne")
        check = AssertOp(nonnull.result, "out of memory: cannot allocate {0} bytes", [total])
        Rewriter.insert_op([pointer, zero_ptr, nonnull, check], after)


@dataclass
class AllocToLLVM(RewritePattern):
    """memref.alloc -> malloc (64-byte aligned by over-allocation); alloca; dealloc -> free."""

    externs: Externs

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if isinstance(op, memref.DeallocOp):
            desc = b.legal(op.memref)
            free = self.externs.use("free", [PTR], llvm.LLVMVoidType())
            b.add(llvm.CallOp(free, b.extract(desc, [ALLOCATED], PTR)))
            b.replace(rewriter, op)
            return
        if not isinstance(op, memref.AllocOp | memref.AllocaOp):
            return
        t = op.memref.type
        assert isinstance(t, MemRefType)
        dynamic = iter(b.legal(v) for v in op.dynamic_sizes)
        sizes: list[Index] = [next(dynamic) if d < 0 else d for d in t.get_shape()]
        elem = element_type(t)
        numel = b.numel(sizes)
        if isinstance(op, memref.AllocaOp):
            allocated = aligned = b.add(llvm.AllocaOp(b.val(numel), elem, alignment=ALIGNMENT))
        else:
            nbytes = b.plus(b.mul(numel, byte_size(elem)), ALIGNMENT)
            malloc = self.externs.use("malloc", [i64], PTR)
            allocated = b.add(llvm.CallOp(malloc, b.val(nbytes), return_type=PTR))
            # pad = (-addr) mod 64; only the allocation itself uses ptrtoint
            addr = b.add(llvm.PtrToIntOp(allocated, i64))
            neg = b.add(llvm.SubOp(b.const(0), addr))
            pad = b.add(llvm.AndOp(neg, b.const(ALIGNMENT - 1)))
            aligned = b.gep(allocated, pad, IntegerType(8))
        desc = b.make_descriptor(
            len(sizes), allocated, aligned, 0, sizes, b.row_major_strides(sizes)
        )
        b.replace(rewriter, op, [desc])


def _constant_int(v: SSAValue) -> int | None:
    """The value of an integer constant, looking through conversion casts."""
    owner = v.owner
    while isinstance(owner, UnrealizedConversionCastOp) and len(owner.inputs) == 1:
        owner = owner.inputs[0].owner
    if isinstance(owner, arith.ConstantOp | llvm.ConstantOp) and isinstance(
        owner.value, IntegerAttr
    ):
        return owner.value.value.data
    return None


class DimToLLVM(RewritePattern):
    """memref.dim -> constant or a size field of the descriptor."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, memref.DimOp):
            return
        t = op.source.type
        assert isinstance(t, MemRefType)
        b = Builder()
        desc = b.legal(op.source)
        i = _constant_int(op.index)
        if i is not None:
            shape = t.get_shape()
            res = b.val(shape[i]) if shape[i] >= 0 else b.extract(desc, [SIZES, i], i64)
        else:
            # dynamic dim index: a select chain over the ranks
            idx = b.legal(op.index)
            sizes = b.sizes(desc, t)
            res = b.val(sizes[-1])
            for i in range(len(sizes) - 2, -1, -1):
                hit = icmp(b, "eq", idx, b.const(i))
                res = b.add(llvm.SelectOp(hit, b.val(sizes[i]), res))
        b.replace(rewriter, op, [res])


class ViewToLLVM(RewritePattern):
    """memref.cast, view, reinterpret_cast, collapse_shape, expand_shape: new descriptors."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        b = Builder()
        if isinstance(op, memref.CastOp):
            b.replace(rewriter, op, [b.legal(op.source)])
            return
        if isinstance(op, memref.ViewOp):
            # an identity-layout memref at byte_shift into an i8 buffer (plan-memory's arena)
            src = b.legal(op.source)
            res_t = op.result.type
            assert isinstance(res_t, MemRefType)
            aligned = b.gep(b.extract(src, [ALIGNED], PTR), b.legal(op.byte_shift),
                            IntegerType(8))
            dynamic = iter(b.legal(v) for v in op.sizes)
            sizes = [next(dynamic) if d < 0 else d for d in res_t.get_shape()]
            desc = b.make_descriptor(len(sizes), b.extract(src, [ALLOCATED], PTR), aligned,
                                     0, sizes, b.row_major_strides(sizes))
            b.replace(rewriter, op, [desc])
            return
        if not isinstance(
            op, memref.ReinterpretCastOp | memref.CollapseShapeOp | memref.ExpandShapeOp
        ):
            return
        src_t = op.operands[0].type
        res_t = op.results[0].type
        assert isinstance(src_t, MemRefType) and isinstance(res_t, MemRefType)
        src = b.legal(op.operands[0])
        allocated = b.extract(src, [ALLOCATED], PTR)
        aligned = b.extract(src, [ALIGNED], PTR)
        if isinstance(op, memref.ReinterpretCastOp):

            def mixed(static: tuple[int, ...], dynamic: list[SSAValue]) -> list[Index]:
                it = iter(b.legal(v) for v in dynamic)
                return [next(it) if s == DYNAMIC_INDEX else s for s in static]

            offset = mixed(op.static_offsets.get_values(), list(op.offsets))[0]
            sizes = mixed(op.static_sizes.get_values(), list(op.sizes))
            strides = mixed(op.static_strides.get_values(), list(op.strides))
        elif isinstance(op, memref.CollapseShapeOp):
            src_sizes = b.sizes(src, src_t)
            sizes = []
            for group, dim in zip(op.reassociation, res_t.get_shape(), strict=True):
                if dim >= 0:
                    sizes.append(dim)
                else:
                    sizes.append(b.numel([src_sizes[i.value.data] for i in group]))
            offset = b.extract(src, [OFFSET], i64)
            strides = b.row_major_strides(sizes)
        else:
            dynamic = iter(b.legal(v) for v in op.output_shape)
            sizes = [next(dynamic) if d < 0 else d for d in res_t.get_shape()]
            offset = b.extract(src, [OFFSET], i64)
            strides = b.row_major_strides(sizes)
        desc = b.make_descriptor(len(sizes), allocated, aligned, offset, sizes, strides)
        b.replace(rewriter, op, [desc])


class ExtractPointerToLLVM(RewritePattern):
    """memref.extract_aligned_pointer_as_index -> ptrtoint of the aligned pointer."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, memref.ExtractAlignedPointerAsIndexOp):
            return
        b = Builder()
        ptr = b.extract(b.legal(op.source), [ALIGNED], PTR)
        b.replace(rewriter, op, [b.add(llvm.PtrToIntOp(ptr, i64))])


class CopyToLLVM(RewritePattern):
    """memref.copy of contiguous buffers -> llvm.memcpy."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, memref.CopyOp):
            return
        src_t = op.source.type
        assert isinstance(src_t, MemRefType)
        b = Builder()
        src, dst = b.legal(op.source), b.legal(op.destination)
        elem = element_type(src_t)
        nbytes = b.mul(b.numel(b.sizes(src, src_t)), byte_size(elem))

        def start(d: SSAValue) -> SSAValue:
            return b.gep(b.extract(d, [ALIGNED], PTR), b.extract(d, [OFFSET], i64), elem)

        args = [start(dst), start(src), b.val(nbytes), b.const(0, i1)]
        b.add(llvm.CallIntrinsicOp("llvm.memcpy.p0.p0.i64", args, []))
        b.replace(rewriter, op)


class GlobalToLLVM(RewritePattern):
    """memref.global -> llvm.mlir.global of a flat array; get_global -> a descriptor."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, memref.GlobalOp):
            t = op.type
            numel = 1
            for d in t.get_shape():
                numel *= d
            elem = element_type(t)
            array_t = llvm.LLVMArrayType(numel, elem)
            value = None
            init = op.initial_value
            if isinstance(init, DenseIntOrFPElementsAttr):
                data = init.data.data
                if len(init) == 1 and numel > 1:  # splat
                    data = data * numel
                width = getattr(getattr(elem, "width", None), "data", 8)
                if width < 8:  # LLVM reads an i4/i2 byte as zero above the value's bits
                    data = bytes(x & ((1 << width) - 1) for x in data)
                flat_t = TensorType(elem, [numel])
                value = DenseIntOrFPElementsAttr(flat_t, type(init.data)(data))  # type: ignore[arg-type]
            private = op.sym_visibility.data == "private"
            glob = llvm.GlobalOp(
                array_t,
                op.sym_name,
                "internal" if private else "external",
                constant=op.constant is not None,
                value=value,
                alignment=ALIGNMENT,
            )
            rewriter.replace(op, glob)
        elif isinstance(op, memref.GetGlobalOp):
            t = op.memref.type
            assert isinstance(t, MemRefType)
            b = Builder()
            addr = b.add(llvm.AddressOfOp(op.name_, PTR))
            # null allocated pointer (as MLIR's 0xdeadbeef): nobody may free a global
            null = b.add(llvm.ZeroOp(result_types=[PTR]))
            sizes: list[Index] = list(t.get_shape())
            desc = b.make_descriptor(
                len(sizes), null, addr, 0, sizes, b.row_major_strides(sizes)
            )
            b.replace(rewriter, op, [desc])


# ---------------------------------------------------------------------------------------
# entry wrappers


@dataclass
class DispatchByDialect(RewritePattern):
    """Tries an op against the patterns of its dialect only: a lowered model has tens of
    thousands of ops, and trying all 17 patterns on each was a third of convert-to-llvm.
    (Every pattern in a list matches ops of that dialect alone.)"""

    patterns: dict[str, list[RewritePattern]]

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        for pattern in self.patterns.get(op.dialect_name(), ()):
            pattern.match_and_rewrite(op, rewriter)
            if rewriter.has_done_action:
                return


def build_entry(name: str, inputs: list[Attribute], outputs: list[Attribute],
                may_fail: bool = False) -> llvm.FuncOp:
    """`i32 @_kiln_entry_<name>(ptr %args)`: unpacks args, calls @name, stores results.

    Returns 0, or the 1-based id of the run-time check that failed (then no results are
    stored); `may_fail` functions take a trailing status pointer (lowering/llvm_asserts.py).
    """
    block = Block(arg_types=[PTR])
    args_ptr = block.args[0]
    b = Builder()

    def slot(i: int) -> SSAValue:
        return b.add(llvm.LoadOp(b.gep(args_ptr, i, PTR), PTR))

    values = [b.add(llvm.LoadOp(slot(i), convert_type(t))) for i, t in enumerate(inputs)]
    zero = b.const(0, i32)
    if may_fail:
        status = b.add(llvm.AllocaOp(b.const(1), i32))
        b.add(llvm.StoreOp(zero, status))
        values.append(status)
    ret = _result_type(outputs) if outputs else None
    call = llvm.CallOp(name, *values, return_type=ret)
    b.add(call)
    blocks = [block]
    if may_fail:
        code = b.add(llvm.LoadOp(status, i32))
        failed = icmp(b, "ne", code, zero)
        fail_block, store_block = Block(), Block()
        b.add(llvm.CondBrOp(failed, fail_block, [], store_block, []))
        fail_block.add_op(llvm.ReturnOp(code))
        block.add_ops(b.ops)
        b = Builder()
        blocks += [fail_block, store_block]
    for j, t in enumerate(outputs):
        res = call.results[0]
        if len(outputs) > 1:
            res = b.extract(res, [j], convert_type(t))
        b.add(llvm.StoreOp(res, slot(len(inputs) + j)))
    b.add(llvm.ReturnOp(b.const(0, i32)))
    blocks[-1].add_ops(b.ops)
    return llvm.FuncOp(
        ENTRY_PREFIX + name,
        llvm.LLVMFunctionType([PTR], i32),
        linkage=llvm.LinkageAttr("external"),
        body=Region(blocks),
    )


def _check_converted(module: ModuleOp) -> None:
    leftovers = sorted(
        {op.name for op in module.walk() if not op.name.startswith("llvm.")} - {"builtin.module"}
    )
    if leftovers:
        raise PassFailedException(
            "convert-to-llvm: ops left unconverted (unsupported): " + ", ".join(leftovers)
        )


@dataclass(frozen=True)
class ConvertToLLVMPass(ModulePass):
    """Lower func/arith/math/memref/scf/cf to the llvm dialect with memref descriptors."""

    name = "convert-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([AffineApplyToArith(), WhileToCF(), EmulateBF16()])
        ).rewrite_module(op)
        ConvertScfToCf().apply(ctx, op)

        entries = [
            (f.sym_name.data, list(f.function_type.inputs), list(f.function_type.outputs))
            for f in op.ops
            if isinstance(f, func.FuncOp)
            and f.body.blocks
            and (f.sym_visibility is None or f.sym_visibility.data == "public")
        ]
        _check_allocations(op)
        failing = lower_asserts(op)
        convert_block_arguments(op)
        externs = Externs()
        PatternRewriteWalker(
            GreedyRewritePatternApplier([
                DispatchByDialect({
                    "func": [FuncToLLVM(), ReturnToLLVM(), CallToLLVM()],
                    "cf": [CFToLLVM()],
                    "arith": [ArithBinaryToLLVM(), ArithDivToLLVM(), ArithConstantToLLVM(),
                              ArithCompareToLLVM(), ArithCastToLLVM()],
                    "math": [MathToLLVM(externs)],
                    "memref": [LoadStoreToLLVM(), AllocToLLVM(externs), DimToLLVM(),
                               ViewToLLVM(), CopyToLLVM(), ExtractPointerToLLVM(),
                               GlobalToLLVM()],
                })
            ])
        ).rewrite_module(op)
        reconcile_unrealized_casts(op, warn_on_failure=False)

        defined = {f.sym_name.data for f in op.ops if isinstance(f, llvm.FuncOp)}
        for name, ftype in externs.decls.items():
            if name not in defined:
                op.body.block.add_op(
                    llvm.FuncOp(name, ftype, linkage=llvm.LinkageAttr("external"))
                )
        for name, inputs, outputs in entries:
            op.body.block.add_op(build_entry(name, inputs, outputs, name in failing))
        _check_converted(op)
