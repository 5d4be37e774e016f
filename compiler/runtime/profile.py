"""The profiler's run-time half: @kiln_profile_mark and the per-op report.

Models compiled with `profile=True` call `kiln_profile_mark(i)` before their i-th graph op
(passes/profile.py). The routine, compiled once per process like the soft-float ones and
registered with llvm.add_symbol, reads the monotonic clock and adds the time since the
previous mark to that mark's op. Marks come from the thread that runs @main only (kernels
that use more threads are timed as a whole), so the counters need no atomics.
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.binding as llvm
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, TensorType

from compiler.runtime.jit import host_target_machine
from dialects.graph.shape_check import concrete_shapes
from passes.profile import (
    MAX_PROFILED_OPS,
    PROFILE_MARK,
    PROFILE_OPS_ATTR,
    op_work,
    profiled_ops,
)

_SLOTS = MAX_PROFILED_OPS


def _runtime_ir(clock: int) -> str:
    return f"""
@kiln_profile_ns = global [{_SLOTS} x i64] zeroinitializer
@kiln_profile_current = global i64 -1
@kiln_profile_since = global i64 0
declare i32 @clock_gettime(i32, ptr)

define void @{PROFILE_MARK}(i64 %next) {{
entry:
  %ts = alloca [2 x i64], align 8
  %r = call i32 @clock_gettime(i32 {clock}, ptr %ts)
  %sec = load i64, ptr %ts
  %nsp = getelementptr [2 x i64], ptr %ts, i64 0, i64 1
  %nsec = load i64, ptr %nsp
  %secns = mul i64 %sec, 1000000000
  %now = add i64 %secns, %nsec
  %cur = load i64, ptr @kiln_profile_current
  %timing = icmp ult i64 %cur, {_SLOTS}
  br i1 %timing, label %count, label %done
count:
  %since = load i64, ptr @kiln_profile_since
  %dt = sub i64 %now, %since
  %slot = getelementptr [{_SLOTS} x i64], ptr @kiln_profile_ns, i64 0, i64 %cur
  %old = load i64, ptr %slot
  %new = add i64 %old, %dt
  store i64 %new, ptr %slot
  br label %done
done:
  store i64 %next, ptr @kiln_profile_current
  store i64 %now, ptr @kiln_profile_since
  ret void
}}
"""


class _Counters:
    """The compiled mark routine and a view of its counters."""

    def __init__(self) -> None:
        mod = llvm.parse_assembly(_runtime_ir(time.CLOCK_MONOTONIC))
        mod.triple = llvm.get_process_triple()
        self._engine = llvm.create_mcjit_compiler(mod, host_target_machine())
        self._engine.finalize_object()
        llvm.add_symbol(PROFILE_MARK, self._engine.get_function_address(PROFILE_MARK))
        address = self._engine.get_global_value_address("kiln_profile_ns")
        self.ns = (ctypes.c_int64 * _SLOTS).from_address(address)

    def reset(self) -> None:
        ctypes.memset(self.ns, 0, ctypes.sizeof(self.ns))


@functools.cache
def counters() -> _Counters:
    """The process's profile counters (compiled and registered on first use; the engine
    must outlive every module that calls the routine, so it is never freed)."""
    return _Counters()


@dataclass(frozen=True)
class OpTime:
    """One graph op's share of a profiled call."""

    index: int
    op: str
    node: str
    seconds: float  # per call
    share: float  # of the total
    flops: int  # per call, -1: not a contraction / unknown
    bytes: int  # read + written per call, -1: unknown

    @property
    def rate(self) -> str:
        if self.seconds <= 0:
            return "-"
        if self.flops > 0:
            return f"{self.flops / self.seconds / 1e9:.1f} GFLOP/s"
        if self.bytes > 0:
            return f"{self.bytes / self.seconds / 1e9:.1f} GB/s"
        return "-"


@dataclass(frozen=True)
class Profile:
    """Per-op times of a model, averaged over `calls` calls (`str()` prints the table)."""

    ops: list[OpTime]
    calls: int

    @property
    def total_seconds(self) -> float:
        return sum(o.seconds for o in self.ops)

    def by_op_type(self) -> list[tuple[str, float, float, int]]:
        """(op name, seconds per call, share, count) summed over ops of one kind."""
        sums: dict[str, list[float]] = {}
        for o in self.ops:
            entry = sums.setdefault(o.op, [0.0, 0.0, 0])
            entry[0] += o.seconds
            entry[1] += o.share
            entry[2] += 1
        return sorted(((k, v[0], v[1], int(v[2])) for k, v in sums.items()),
                      key=lambda r: -r[1])

    def table(self, top: int | None = 25) -> str:
        lines = [f"profile: {self.total_seconds * 1e3:.3f} ms per call in @main "
                 f"(mean of {self.calls} calls)",
                 "",
                 f"{'op kind':28s} {'count':>5s} {'ms':>9s} {'share':>7s}"]
        for name, seconds, share, count in self.by_op_type():
            lines.append(f"{name:28s} {count:5d} {seconds * 1e3:9.3f} {share:7.1%}")
        rows = sorted(self.ops, key=lambda o: -o.seconds)
        lines += ["", f"{'#':>4s} {'op':22s} {'node':32s} {'ms':>9s} {'share':>7s}  rate"]
        for o in rows[:top]:
            node = o.node if len(o.node) <= 32 else "..." + o.node[-29:]
            lines.append(f"{o.index:4d} {o.op:22s} {node:32s} {o.seconds * 1e3:9.3f} "
                         f"{o.share:7.1%}  {o.rate}")
        if top is not None and len(rows) > top:
            lines.append(f"     ... {len(rows) - top} more ops")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def profile_ops(module: ModuleOp) -> list[DictionaryAttr] | None:
    """The op descriptions insert-profile-marks left on `module`; None if it did not run."""
    attr = module.attributes.get(PROFILE_OPS_ATTR)
    return list(attr.data) if isinstance(attr, ArrayAttr) else None  # type: ignore[arg-type]


def measure(call: Callable[[], object], described: Sequence[DictionaryAttr],
            graph_main: func.FuncOp, input_shapes: Sequence[tuple[int, ...]],
            repeat: int) -> Profile:
    """Run `call` once to warm up, then `repeat` times with the counters on. Work figures
    the compile left unknown (dynamic dims) come from the concrete `input_shapes`."""
    c = counters()
    call()
    c.reset()
    for _ in range(repeat):
        call()
    totals = list(c.ns[:len(described)])
    everything = sum(totals) or 1
    shapes = concrete_shapes(graph_main, input_shapes)
    graph_ops = profiled_ops(graph_main)
    ops = []
    for i, (d, ns) in enumerate(zip(described, totals, strict=True)):
        flops, nbytes = d.data["flops"].value.data, d.data["bytes"].value.data  # type: ignore
        if (flops < 0 or nbytes < 0) and len(graph_ops) == len(described):
            flops, nbytes = op_work(graph_ops[i], lambda v: () if not isinstance(
                v.type, TensorType) else shapes.get(v))
        ops.append(OpTime(i, d.data["op"].data, d.data["node"].data,  # type: ignore
                          ns / repeat / 1e9, ns / everything, flops, nbytes))
    return Profile(ops, repeat)
