"""llvm dialect -> llvmlite IR.

Per-op translation is xDSL's `convert_op` (xdsl.backend.llvm); this module drives it
itself instead of calling `convert_module`, to fill the gaps Kiln hits:
* function linkage (xDSL drops `internal`), global alignment;
* dense global initializers are emitted as raw bytes (`c"..."`), which is exact and
  fast for any element type (the loads/GEPs carry the element type: opaque pointers);
* extra ops register in `EXTRA_OPS` and are tried before xDSL's translation;
* unsupported ops raise BackendError naming the op instead of NotImplementedError.
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.ir as ir
from xdsl.backend.llvm.convert_op import convert_op
from xdsl.backend.llvm.convert_type import convert_type
from xdsl.dialects import llvm
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ModuleOp, StringAttr
from xdsl.ir import Block, Operation, SSAValue

from compiler.errors import BackendError
from lowering.outline_kernels import NOINLINE

Handler = Callable[[Operation, ir.IRBuilder, dict[SSAValue, ir.Value]], None]

# Ops xDSL's translator lacks, keyed by op class: handler(op, builder, value_map).
EXTRA_OPS: dict[type[Operation], Handler] = {}


def _convert_global(op: llvm.GlobalOp, module: ir.Module) -> None:
    value = op.value
    if isinstance(value, DenseIntOrFPElementsAttr):
        raw = bytes(value.data.data)
        gtype: ir.Type = ir.ArrayType(ir.IntType(8), len(raw))
        init: ir.Constant | None = ir.Constant(gtype, bytearray(raw))
    elif isinstance(value, StringAttr):
        raw = value.data.encode("utf-8")
        gtype = ir.ArrayType(ir.IntType(8), len(raw))
        init = ir.Constant(gtype, bytearray(raw))
    else:
        gtype = convert_type(op.global_type)
        init = ir.Constant(gtype, None) if value is None else None
        if value is not None:
            from xdsl.backend.llvm.convert_op import create_constant

            init = create_constant(op.global_type, value)
    gvar = ir.GlobalVariable(
        module, gtype, name=op.sym_name.data, addrspace=op.addr_space.value.data
    )
    gvar.linkage = op.linkage.linkage.data
    gvar.global_constant = op.constant is not None
    if init is not None:
        gvar.initializer = init
    if op.alignment is not None:
        gvar.align = op.alignment.value.data


def _declare_func(op: llvm.FuncOp, module: ir.Module) -> None:
    ftype = op.function_type
    fnty = ir.FunctionType(
        convert_type(ftype.output),
        [convert_type(t) for t in ftype.inputs],
        var_arg=ftype.is_variadic,
    )
    fn = ir.Function(module, fnty, name=op.sym_name.data)
    linkage = op.linkage.linkage.data
    if op.body.blocks and linkage in ("internal", "private"):
        fn.linkage = linkage
    if NOINLINE in op.attributes:
        fn.attributes.add("noinline")


def _convert_body(op: llvm.FuncOp, module: ir.Module) -> None:
    fn = module.get_global(op.sym_name.data)
    block_map: dict[Block, ir.Block] = {}
    val_map: dict[SSAValue, ir.Value] = {}
    for i, block in enumerate(op.body.blocks):
        block_map[block] = fn.append_basic_block(name=block.name_hint or "")
        if i == 0:
            val_map.update(zip(block.args, fn.args, strict=True))
    # phis first, so that branches anywhere can add incoming values
    for block in list(op.body.blocks)[1:]:
        builder = ir.IRBuilder(block_map[block])
        for arg in block.args:
            val_map[arg] = builder.phi(convert_type(arg.type))
    for block in op.body.blocks:
        builder = ir.IRBuilder(block_map[block])
        if block_map[block].instructions:
            builder.position_after(block_map[block].instructions[-1])
        for inner in block.ops:
            handler = EXTRA_OPS.get(type(inner))
            try:
                if handler is not None:
                    handler(inner, builder, val_map)
                else:
                    convert_op(inner, builder, val_map, block_map)
            except NotImplementedError as e:
                raise BackendError(
                    f"cannot translate '{inner.name}' in @{op.sym_name.data} to LLVM IR: {e}"
                ) from e


def translate_to_llvm_ir(
    module: ModuleOp, *, triple: str | None = None, data_layout: str = ""
) -> ir.Module:
    """Translate an llvm-dialect module (output of convert-to-llvm) to llvmlite IR."""
    out = ir.Module(name="kiln")
    attr = module.attributes.get("llvm.target_triple")
    if isinstance(attr, StringAttr):
        out.triple = attr.data
    else:
        if triple is None:
            from llvmlite import binding

            triple = binding.get_process_triple()
        out.triple = triple
    if data_layout:
        out.data_layout = data_layout

    funcs: list[llvm.FuncOp] = []
    for op in module.ops:
        if isinstance(op, llvm.GlobalOp):
            _convert_global(op, out)
        elif isinstance(op, llvm.FuncOp):
            funcs.append(op)
        else:
            raise BackendError(
                f"cannot translate '{op.name}' to LLVM IR: only llvm.func and "
                "llvm.mlir.global may appear at module level (run convert-to-llvm first)"
            )
    for op in funcs:
        _declare_func(op, out)
    for op in funcs:
        if op.body.blocks:
            _convert_body(op, out)
    return out


def _store(op: Operation, builder: ir.IRBuilder, val_map: dict[SSAValue, ir.Value]) -> None:
    """llvm.store that also accepts a value whose type differs from the pointer's typed
    element (llvmlite keeps typed pointers: a vector store through a GEP on floats)."""
    assert isinstance(op, llvm.StoreOp)
    value, ptr = val_map[op.value], val_map[op.ptr]
    if not ptr.type.is_opaque and ptr.type.pointee != value.type:
        ptr = builder.bitcast(ptr, value.type.as_pointer())
    store_instr = builder.store(value, ptr)
    if op.alignment:
        store_instr.align = op.alignment.value.data


EXTRA_OPS.setdefault(llvm.StoreOp, _store)
