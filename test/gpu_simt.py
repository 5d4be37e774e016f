"""A small SIMT interpreter for the cuda target's kernel IR, for tests without a GPU.

It runs a module after the kernel passes (gpu-tile-contractions, gpu-block-reductions,
gpu-outline-kernels: host functions of arith, memref.dim and gpu.launch_func; kernels of
scf, arith, math, memref and gpu ops) on numpy buffers. A launch runs block after block;
inside a block all threads run in lockstep, every value a numpy array over the threads,
scf.if/scf.for divergence handled with masks. It checks what a GPU would not: every load
and store of an active thread must be inside its buffer (IndexError otherwise), and a
gpu.barrier must be reached by all threads of the block (uniform control flow), so a
kernel that passes here is memory-safe and barrier-correct for the sizes tried.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    MemRefType,
    ModuleOp,
)
from xdsl.ir import Operation, SSAValue

DYNAMIC = -(1 << 63)
_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "index": np.int64,
           "i64": np.int64, "i32": np.int32, "i1": np.bool_, "i8": np.int8}

_INT_BIN = {
    "arith.addi": np.add, "arith.subi": np.subtract, "arith.muli": np.multiply,
    "arith.andi": np.bitwise_and, "arith.ori": np.bitwise_or, "arith.xori": np.bitwise_xor,
    "arith.minsi": np.minimum, "arith.maxsi": np.maximum, "arith.minui": np.minimum,
    "arith.maxui": np.maximum,
}
_FLOAT_BIN = {
    "arith.addf": np.add, "arith.subf": np.subtract, "arith.mulf": np.multiply,
    "arith.divf": np.divide, "arith.maximumf": np.maximum, "arith.minimumf": np.minimum,
    "arith.maxnumf": np.fmax, "arith.minnumf": np.fmin,
}
_UNARY = {"math.exp": np.exp, "math.sqrt": np.sqrt, "math.tanh": np.tanh, "math.log": np.log,
          "math.absf": np.abs, "arith.negf": np.negative,
          "math.rsqrt": lambda x: (1 / np.sqrt(x)).astype(x.dtype),
          "math.erf": np.vectorize(math.erf, otypes=[np.float64]), "math.sin": np.sin,
          "math.cos": np.cos, "math.floor": np.floor, "math.ceil": np.ceil,
          "math.log1p": np.log1p, "math.expm1": np.expm1, "math.atan": np.arctan}
_CMP = {0: np.equal, 1: np.not_equal, 2: np.less, 3: np.less_equal, 4: np.greater,
        5: np.greater_equal, 6: np.less, 7: np.less_equal, 8: np.greater, 9: np.greater_equal}
_CMPF = {1: np.equal, 2: np.greater, 3: np.greater_equal, 4: np.less, 5: np.less_equal,
         6: np.not_equal, 8: np.equal, 9: np.greater, 10: np.greater_equal, 11: np.less,
         12: np.less_equal, 13: np.not_equal}


def _dtype(t) -> type:
    return _DTYPES.get(str(t), np.float32)


def _drop_units(a: np.ndarray, shape: list[int]) -> np.ndarray:
    """`a` viewed with the unit dims that a rank-reducing view drops left out (a view,
    never a copy: stores through it must land in the buffer)."""
    if list(a.shape) == shape:
        return a
    kept, strides = [], []
    want = iter(shape)
    nxt = next(want, None)
    for size, stride in zip(a.shape, a.strides, strict=True):
        if nxt is not None and size == nxt:
            kept.append(size)
            strides.append(stride)
            nxt = next(want, None)
        elif size != 1:
            raise SimtError(f"cannot view shape {list(a.shape)} as {shape}")
    return np.lib.stride_tricks.as_strided(a, shape=kept, strides=strides)


class SimtError(AssertionError):
    """The kernel did something a correct GPU kernel must not (see the module doc)."""


class Machine:
    """Interprets one module; `call(name, *args)` runs a host function."""

    def __init__(self, module: ModuleOp):
        self.module = module
        self.symbols: dict[str, Operation] = {}
        for op in module.walk():
            name = op.attributes.get("sym_name") or op.properties.get("sym_name")
            if name is not None:
                self.symbols[name.data] = op  # type: ignore[attr-defined]
        self.launches = 0
        self.freed: dict[int, np.ndarray] = {}
        self.barriers = 0

    # ------------------------------------------------------------------ host

    def call(self, name: str, *args: object) -> list[object]:
        fn = self.symbols[name]
        assert isinstance(fn, func.FuncOp)
        env: dict[SSAValue, object] = {}
        lanes = 1
        for a, v in zip(fn.body.blocks[0].args, args, strict=True):
            env[a] = v if isinstance(v, np.ndarray) and isinstance(a.type, MemRefType) \
                else np.array([v], dtype=_dtype(a.type))
        mask = np.ones(lanes, dtype=bool)
        ctx = {"lanes": lanes, "tid": (np.zeros(1, np.int64),) * 3}
        with np.errstate(all="ignore"):  # idle lanes compute on garbage, as on a GPU
            return self.region(fn.body.blocks[0], env, mask, ctx)

    def launch(self, op: gpu.LaunchFuncOp, env, ctx) -> None:
        sizes = [int(self.value(v, env)[0]) for v in (
            op.gridSizeX, op.gridSizeY, op.gridSizeZ, op.blockSizeX, op.blockSizeY,
            op.blockSizeZ)]
        kernel = self.symbols[op.kernel.nested_references.data[-1].data]
        assert isinstance(kernel, gpu.FuncOp)
        args = [self.value(v, env) for v in op.kernelOperands]
        bx, by, bz = sizes[3:]
        lanes = bx * by * bz
        lane = np.arange(lanes, dtype=np.int64)
        tid = (lane % bx, (lane // bx) % by, lane // (bx * by))
        self.launches += 1
        for z in range(sizes[2]):
            for y in range(sizes[1]):
                for x in range(sizes[0]):
                    kenv: dict[SSAValue, object] = {}
                    for a, v in zip(kernel.body.blocks[0].args, args, strict=True):
                        kenv[a] = v if isinstance(a.type, MemRefType) else np.full(
                            lanes, v[0], dtype=v.dtype)
                    kctx = {"lanes": lanes, "tid": tid, "bid": (x, y, z),
                            "grid": tuple(sizes[:3]), "block": (bx, by, bz)}
                    self.region(kernel.body.blocks[0], kenv, np.ones(lanes, bool), kctx)

    # ------------------------------------------------------------------ common

    def value(self, v: SSAValue, env) -> np.ndarray:
        return env[v]  # type: ignore[return-value]

    def region(self, block, env, mask, ctx) -> list[object]:
        for op in block.ops:
            if isinstance(op, scf.YieldOp | func.ReturnOp | gpu.ReturnOp):
                return [env[v] for v in op.operands]
            self.op(op, env, mask, ctx)
        return []

    def op(self, op: Operation, env, mask, ctx) -> None:  # noqa: C901 - a dispatcher
        n = ctx["lanes"]
        name = op.name
        get = env.__getitem__
        if isinstance(op, arith.ConstantOp):
            v = op.value
            if isinstance(v, IntegerAttr | FloatAttr):
                env[op.result] = np.full(n, v.value.data, dtype=_dtype(op.result.type))
            else:
                raise SimtError(f"constant {v}")
        elif name in _INT_BIN or name in _FLOAT_BIN:
            table = _INT_BIN if name in _INT_BIN else _FLOAT_BIN
            a, b = get(op.operands[0]), get(op.operands[1])
            env[op.results[0]] = table[name](a, b).astype(a.dtype)
        elif name in ("arith.divui", "arith.divsi", "arith.remui", "arith.remsi",
                      "arith.ceildivsi", "arith.ceildivui", "arith.floordivsi"):
            a, b = get(op.operands[0]), get(op.operands[1])
            safe = np.where(b == 0, 1, b)
            if name in ("arith.remui", "arith.remsi"):
                r = np.fmod(a, safe)
            elif name.startswith("arith.ceildiv"):
                r = -((-a) // safe)
            elif name == "arith.floordivsi":
                r = a // safe
            else:
                r = np.trunc(a / safe).astype(a.dtype) if a.dtype != np.int64 else \
                    np.sign(a) * np.sign(safe) * (np.abs(a) // np.abs(safe))
            env[op.results[0]] = r.astype(a.dtype)
        elif isinstance(op, arith.CmpiOp):
            env[op.result] = _CMP[op.predicate.value.data](get(op.lhs), get(op.rhs))
        elif isinstance(op, arith.CmpfOp):
            env[op.result] = _CMPF[op.predicate.value.data](get(op.lhs), get(op.rhs))
        elif isinstance(op, arith.SelectOp):
            env[op.result] = np.where(get(op.cond), get(op.lhs), get(op.rhs))
        elif isinstance(op, arith.IndexCastOp | arith.ExtFOp | arith.TruncFOp | arith.SIToFPOp):
            env[op.results[0]] = get(op.operands[0]).astype(_dtype(op.results[0].type))
        elif name in _UNARY:
            x = get(op.operands[0])
            env[op.results[0]] = _UNARY[name](x).astype(x.dtype)
        elif isinstance(op, memref.DimOp):
            buf = get(op.source)
            env[op.result] = np.full(n, buf.shape[int(get(op.index)[0])], dtype=np.int64)
        elif isinstance(op, memref.AllocaOp | memref.AllocOp):
            t = op.memref.type
            dyn = iter(int(get(v)[0]) for v in op.dynamic_sizes)
            shape = [d if d >= 0 else next(dyn) for d in t.get_shape()]
            env[op.memref] = np.full(shape, np.nan if "f" in str(t.element_type) else 0,
                                     dtype=_dtype(t.element_type))
        elif isinstance(op, memref.GetGlobalOp):
            g = self.symbols[op.name_.root_reference.data]
            init = g.initial_value  # type: ignore[attr-defined]
            t = g.type  # type: ignore[attr-defined]
            assert isinstance(init, DenseIntOrFPElementsAttr)
            env[op.memref] = np.array(init.get_values(), dtype=_dtype(t.element_type)
                                      ).reshape(t.get_shape())
        elif isinstance(op, memref.LoadOp | memref.StoreOp):
            self.access(op, env, mask)
        elif isinstance(op, gpu.ThreadIdOp | gpu.BlockIdOp | gpu.GridDimOp | gpu.BlockDimOp):
            d = "xyz".index(str(op.dimension.data.value))  # type: ignore[attr-defined]
            if isinstance(op, gpu.ThreadIdOp):
                env[op.result] = ctx["tid"][d].copy()
            else:
                key = {gpu.BlockIdOp: "bid", gpu.GridDimOp: "grid", gpu.BlockDimOp: "block"}
                env[op.result] = np.full(n, ctx[key[type(op)]][d], dtype=np.int64)
        elif isinstance(op, gpu.BarrierOp):
            if not mask.all():
                raise SimtError("gpu.barrier reached by only some threads of a block")
            self.barriers += 1
        elif isinstance(op, gpu.LaunchFuncOp):
            self.launch(op, env, ctx)
        elif isinstance(op, gpu.WaitOp):
            pass
        elif isinstance(op, memref.DeallocOp):
            self.freed[id(get(op.memref))] = get(op.memref)  # kept: ids stay unique
        elif name in ("check.assert", "cf.assert"):
            if not bool(get(op.operands[0])[0]):
                raise SimtError(f"run-time check failed: {op.attributes.get('msg') or op}")
        elif isinstance(op, memref.CastOp):
            env[op.results[0]] = get(op.operands[0])
        elif isinstance(op, memref.ReinterpretCastOp | memref.SubviewOp):
            env[op.result] = self.view(op, env)
        elif isinstance(op, scf.ForOp):
            self.for_loop(op, env, mask, ctx)
        elif isinstance(op, scf.IfOp):
            self.if_op(op, env, mask, ctx)
        else:
            raise SimtError(f"the simulator has no rule for {name}")

    def view(self, op, env) -> np.ndarray:
        """A reinterpret_cast (from the allocation's start) or subview, bounds-checked."""

        def values(static, dynamic) -> list[int]:
            dyn = iter(int(env[v][0]) for v in dynamic)
            return [next(dyn) if x == DYNAMIC else x for x in static.get_values()]

        offsets = values(op.static_offsets, op.offsets)
        sizes = values(op.static_sizes, op.sizes)
        strides = values(op.static_strides, op.strides)
        src = env[op.source]
        shape = list(op.result.type.get_shape())
        shape = [sz if d < 0 else d for d, sz in zip(shape, sizes, strict=False)] \
            if len(shape) == len(sizes) else [sz for sz in sizes if sz != 1]
        if isinstance(op, memref.SubviewOp):
            for o, sz, st, dim in zip(offsets, sizes, strides, src.shape, strict=True):
                if sz and (o < 0 or o + (sz - 1) * st >= dim):
                    raise SimtError(f"memref.subview out of bounds: {offsets} {sizes}")
            part = src[tuple(slice(o, o + sz * st, st) if sz else slice(0, 0)
                             for o, sz, st in zip(offsets, sizes, strides, strict=True))]
            return _drop_units(part, shape)
        root = src
        while root.base is not None:
            root = root.base
        flat = root.reshape(-1)
        span = offsets[0] + sum((sz - 1) * st for sz, st in zip(sizes, strides, strict=True))
        if 0 in sizes:
            return np.zeros(shape, dtype=flat.dtype)
        if offsets[0] < 0 or span >= flat.size:
            raise SimtError(f"memref.reinterpret_cast past its allocation: offset "
                            f"{offsets[0]}, sizes {sizes}, strides {strides}, {flat.size} "
                            "elements")
        return _drop_units(np.lib.stride_tricks.as_strided(
            flat[offsets[0]:], shape=sizes, strides=[st * flat.itemsize for st in strides]),
            shape)

    def access(self, op, env, mask) -> None:
        buf = env[op.memref]
        if id(buf) in self.freed:
            raise SimtError(f"{op.name} of a freed buffer")
        idx = [env[i] for i in op.indices]
        active = np.nonzero(mask)[0]
        for d, i in enumerate(idx):
            bad = (i[active] < 0) | (i[active] >= buf.shape[d])
            if bad.any():
                lane = active[np.argmax(bad)]
                raise SimtError(f"{op.name} out of bounds: index {[int(j[lane]) for j in idx]} "
                                f"of a buffer of shape {list(buf.shape)} (thread {lane})")
        where = tuple(i[active] for i in idx) if idx else ()
        if isinstance(op, memref.LoadOp):
            n = mask.shape[0]
            out = np.zeros(n, dtype=buf.dtype)
            out[active] = buf[where] if idx else buf[()]
            env[op.res] = out
        else:
            value = env[op.value]
            if idx:
                buf[where] = value[active]
            elif active.size:
                buf[()] = value[active[-1]]

    def for_loop(self, op: scf.ForOp, env, mask, ctx) -> None:
        iv = env[op.lb].copy()
        ub, step = env[op.ub], env[op.step]
        carried = [env[v].copy() for v in op.iter_args]
        body = op.body.blocks[0]
        trips = 0
        while True:
            live = mask & (iv < ub)
            if not live.any():
                break
            trips += 1
            if trips > 1 << 20:
                raise SimtError("scf.for runs away")
            inner = dict(env)
            inner[body.args[0]] = iv
            for a, v in zip(body.args[1:], carried, strict=True):
                inner[a] = v
            new = self.region(body, inner, live, ctx)
            carried = [np.where(live, nv, ov) for nv, ov in zip(new, carried, strict=True)]
            iv = np.where(live, iv + step, iv)
        for r, v in zip(op.results, carried, strict=True):
            env[r] = v

    def if_op(self, op: scf.IfOp, env, mask, ctx) -> None:
        cond = env[op.cond].astype(bool)
        then = self.region(op.true_region.blocks[0], dict(env), mask & cond, ctx) \
            if (mask & cond).any() else None
        other = None
        if op.false_region.blocks and (mask & ~cond).any():
            other = self.region(op.false_region.blocks[0], dict(env), mask & ~cond, ctx)
        for i, r in enumerate(op.results):
            a = then[i] if then is not None else None
            b = other[i] if other is not None else None
            if a is None:
                env[r] = b if b is not None else np.zeros(mask.shape[0], _dtype(r.type))
            elif b is None:
                env[r] = a
            else:
                env[r] = np.where(cond, a, b)


def simulate_model(path: str, feeds: list[np.ndarray]) -> tuple[list[np.ndarray], Machine]:
    """Run a model's cuda-target kernel IR (after gpu-outline-kernels, before NVVM) in the
    simulator: what its kernels compute, without a GPU."""
    from compiler.cuda_target import kernel_passes
    from compiler.driver import load_graph_module, run_pipeline
    from compiler.pipeline import optimize_passes, to_tensor_pass
    from compiler.signature import arg_attr, main_function, read_signature
    from dialects import weights

    module = load_graph_module(path)
    store = weights.store_for(module)
    inputs, _ = read_signature(main_function(module))
    run_pipeline(module, optimize_passes())
    run_pipeline(module, [to_tensor_pass("shapes")])
    main = main_function(module)
    names = [arg_attr(main, i, "graph.weight").data  # type: ignore[union-attr]
             for i in range(len(inputs), len(main.args))]
    run_pipeline(module, [p for p in kernel_passes() if p.name != "convert-gpu-to-nvvm"])
    machine = Machine(module)
    results = machine.call("main", *feeds, *[np.ascontiguousarray(store[n]) for n in names])
    return results, machine  # type: ignore[return-value]
