"""Run-time checks: `cf.assert` as an early return with a status code (part of convert-to-llvm).

A failing check must become a Python exception, never an abort or an out-of-bounds
access. Every function that contains a `cf.assert`, or calls one that may fail, gets a
hidden trailing `!llvm.ptr` argument pointing at an i32 status. A failing assert stores its
1-based message id there and returns undefined results; a caller checks the status after
each such call and returns in turn. The packed entry point returns the status, and the
runtime maps the id to the message recorded in the module attribute `kiln.assert_messages`.
Buffers allocated before the failure are not freed (the error path is not hot).

`check.assert` (dialects/check.py) works the same way and also stores the integers its
message reports into the module's `@kiln_check_values` (i64 x MAX_VALUES), which the
runtime reads after a failed call. The values are stored whether or not the check fails:
a few stores per op, never inside a kernel loop, and no extra branch.
"""

from __future__ import annotations

from xdsl.dialects import cf, func, llvm
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    UnrealizedConversionCastOp,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue

from dialects import check
from lowering.llvm_types import PTR, convert_type

MESSAGES_ATTR = "kiln.assert_messages"
VALUES_SYMBOL = "kiln_check_values"
"""The global the failing check's reported values are read from."""

_ASSERTS = (cf.AssertOp, check.AssertOp)


def failing_functions(module: ModuleOp) -> set[str]:
    """Functions that contain a cf.assert or (transitively) call one that does."""
    bodies = {f.sym_name.data: f for f in module.ops
              if isinstance(f, func.FuncOp) and f.body.blocks}
    failing = {name for name, f in bodies.items()
               if any(isinstance(o, _ASSERTS) for o in f.walk())}
    changed = True
    while changed:
        changed = False
        for name, f in bodies.items():
            if name not in failing and any(
                    isinstance(o, func.CallOp) and o.callee.root_reference.data in failing
                    for o in f.walk()):
                failing.add(name)
                changed = True
    return failing


def lower_asserts(module: ModuleOp) -> set[str]:
    """Rewrite cf.assert and calls of failing functions; return the failing functions.

    Runs on CFG form (after scf -> cf), before func/cf are converted to llvm.
    """
    failing = failing_functions(module)
    messages: list[str] = []
    for f in list(module.ops):
        if isinstance(f, func.FuncOp) and f.sym_name.data in failing:
            _add_status_argument(f)
            _lower_function(f, failing, messages)
    if messages:
        module.attributes[MESSAGES_ATTR] = ArrayAttr([StringAttr(m) for m in messages])
    if any(isinstance(o, llvm.AddressOfOp) and o.global_name.root_reference.data ==
           VALUES_SYMBOL for o in module.walk()):
        # "common": visible to the runtime (an internal global that is only stored to
        # would be deleted by the optimizer) and zero-initialized
        module.body.block.add_op(llvm.GlobalOp(
            llvm.LLVMArrayType(check.MAX_VALUES, i64), VALUES_SYMBOL, "common",
            value=None, alignment=8))
    return failing


def _add_status_argument(f: func.FuncOp) -> None:
    f.body.blocks[0].insert_arg(PTR, len(f.body.blocks[0].args))
    inputs = [*f.function_type.inputs.data, PTR]
    f.function_type = func.FunctionType.from_lists(inputs, list(f.function_type.outputs.data))
    if f.arg_attrs is not None:
        f.arg_attrs = ArrayAttr([*f.arg_attrs.data, DictionaryAttr({})])


def _lower_function(f: func.FuncOp, failing: set[str], messages: list[str]) -> None:
    status = f.body.blocks[0].args[-1]
    fail = _failure_block(f, status)
    block: Block | None = f.body.blocks[0]
    while block is not None:  # blocks split off below come next: visited in turn
        current = block
        block = current.next_block
        if current is fail:
            continue
        op = current.first_op
        while op is not None:
            following = op.next_op
            if isinstance(op, _ASSERTS):
                messages.append(op.msg.data)
                code = llvm.ConstantOp(IntegerAttr(len(messages), i32), i32)
                rest = _split_after(op)
                current.insert_op_before(code, op)
                if isinstance(op, check.AssertOp):
                    _store_values(op)
                condition = op.arg if isinstance(op, cf.AssertOp) else op.condition
                branch = cf.ConditionalBranchOp(condition, rest, [], fail, [code.result])
                current.insert_op_after(branch, op)
                op.detach()
                op.erase()
                block = rest  # the rest of this block moved to `rest`, visited next
                break
            if isinstance(op, func.CallOp) and op.callee.root_reference.data in failing:
                op.operands = [*op.operands, status]
                rest = _split_after(op)
                code = llvm.LoadOp(status, i32)
                zero = llvm.ConstantOp(IntegerAttr(0, i32), i32)
                eq = llvm.ALL_ICMP_FLAGS.index(llvm.ICmpPredicateFlag.EQ)
                ok = llvm.ICmpOp(code.dereferenced_value, zero.result, IntegerAttr(eq, i64))
                branch = cf.ConditionalBranchOp(ok.res, rest, [], fail, [code.dereferenced_value])
                current.add_ops([code, zero, ok, branch])
                block = rest
                break
            op = following


def _store_values(op: check.AssertOp) -> None:
    """Store the check's reported values into @kiln_check_values, before the branch."""
    if not op.values:
        return
    base = llvm.AddressOfOp(VALUES_SYMBOL, PTR)
    ops: list[Operation] = [base]
    for i, v in enumerate(op.values):
        as_i64 = UnrealizedConversionCastOp.get([v], [i64])
        slot = llvm.GEPOp(base.result, [i], pointee_type=i64)
        ops += [as_i64, slot, llvm.StoreOp(as_i64.results[0], slot.result)]
    block = op.parent_block()
    assert block is not None
    block.insert_ops_before(ops, op)


def _split_after(op: Operation) -> Block:
    """Move everything after `op` in its block into a new block placed right after it."""
    block = op.parent_block()
    assert block is not None and block.parent is not None
    if op.next_op is not None:  # moves the ops in one go (one by one was quadratic)
        return block.split_before(op.next_op)
    rest = Block()
    block.parent.insert_block_after(rest, block)
    return rest


def _failure_block(f: func.FuncOp, status: SSAValue) -> Block:
    """`^fail(%code: i32)`: store the code, return undefined results."""
    fail = Block(arg_types=[i32])
    ops: list[Operation] = [llvm.StoreOp(fail.args[0], status)]
    results: list[SSAValue] = []
    for t in f.function_type.outputs.data:
        undef = llvm.UndefOp(convert_type(t))
        cast = UnrealizedConversionCastOp.get([undef.res], [t])
        ops += [undef, cast]
        results.append(cast.results[0])
    ops.append(func.ReturnOp(*results))
    fail.add_ops(ops)
    f.body.add_block(fail)
    return fail


def assert_messages(module: ModuleOp) -> list[str]:
    """The messages of a converted module's run-time checks, by id - 1."""
    attr: Attribute | None = module.attributes.get(MESSAGES_ATTR)
    if not isinstance(attr, ArrayAttr):
        return []
    return [m.data for m in attr.data if isinstance(m, StringAttr)]
