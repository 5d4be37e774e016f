"""CompiledModel: the callable a CPU compile returns.

Every call checks its inputs in Python (count, names, dtype, rank, static dims, symbolic
dims that share a name, and every op's shape constraints on the concrete shapes) before
the one native call into the JIT-compiled `_kiln_entry_main`.
"""

from __future__ import annotations

import ctypes
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp

from compiler.errors import InputError
from compiler.runtime.abi import Invoker, free_native
from compiler.runtime.jit import JITEngine
from compiler.runtime.profile import Profile, counters, measure, profile_ops
from compiler.signature import CompileStats, TensorSpec
from dialects.graph.shape_check import ShapeCheckError, check_shapes
from dialects.weights import WeightStore
from lowering.contraction import PACKED_SLOTS_ATTR
from lowering.llvm_asserts import VALUES_SYMBOL, assert_messages

_SHAPE_CACHE_SIZE = 64


@dataclass(frozen=True)
class NativeInterface:
    """What calling the generated code needs besides its symbols: the messages of its
    run-time checks (by id - 1), the globals its kernels pack weights into, and the op
    descriptions a profiling build carries (None otherwise)."""

    assert_messages: tuple[str, ...] = ()
    packed_slots: tuple[str, ...] = ()
    profile_ops: list[DictionaryAttr] | None = None

    @classmethod
    def of(cls, llvm_module: ModuleOp) -> NativeInterface:
        """The interface a converted (llvm-dialect) module records in its attributes."""
        slots = llvm_module.attributes.get(PACKED_SLOTS_ATTR)
        names = tuple(a.data for a in slots.data) if isinstance(slots, ArrayAttr) else ()
        return cls(tuple(assert_messages(llvm_module)), names,  # type: ignore[arg-type]
                   profile_ops(llvm_module))


class CompiledModel:
    """A model compiled to native code; call it with numpy arrays.

    `model(x)` / `model(x, y)` / `model(x=..., y=...)` returns the outputs as a list of
    numpy arrays in the graph's output order; `model.run({"x": x})` returns a dict.
    """

    def __init__(self, engine: JITEngine, interface: NativeInterface,
                 graph_main: func.FuncOp | Callable[[], func.FuncOp],
                 inputs: list[TensorSpec], outputs: list[TensorSpec],
                 weight_arrays: list[np.ndarray], store: object, stats: CompileStats):
        """`graph_main` (the optimized graph-level @main the call-time shape checks walk)
        may be a function that makes it, called when a call first needs it; `store` is
        whatever owns the weight buffers (kept alive while native code uses them)."""
        self._engine = engine
        self.interface = interface
        self._profile_ops = interface.profile_ops
        self.stats = stats
        self.inputs = inputs
        self.outputs = outputs
        self._graph_main_source = graph_main
        self._store = store
        self._weights = weight_arrays
        self._invoker = Invoker(
            engine.address_of("_kiln_entry_main"),
            [(spec.dtype, len(spec.shape)) for spec in inputs]
            + [(w.dtype, w.ndim) for w in weight_arrays],
            [(spec.dtype, len(spec.shape)) for spec in outputs],
            interface.assert_messages, engine.optional_address(VALUES_SYMBOL),
            fixed=weight_arrays)
        self._packed_slots = [engine.address_of(name) for name in interface.packed_slots]
        self._shape_cache: OrderedDict[tuple[tuple[int, ...], ...], None] = OrderedDict()
        self._input_index = {spec.name: i for i, spec in enumerate(inputs)}
        self._dtypes = [spec.dtype for spec in inputs]

    @classmethod
    def from_llvm(cls, llvm_module: ModuleOp, graph_main: func.FuncOp,
                  inputs: list[TensorSpec], outputs: list[TensorSpec],
                  weight_arrays: list[np.ndarray], store: WeightStore, stats: CompileStats,
                  keep_objects: bool = False) -> CompiledModel:
        """JIT-compile an llvm-dialect module (`keep_objects`: keep its object code, for
        the compile cache)."""
        start = time.perf_counter()
        interface = NativeInterface.of(llvm_module)
        if interface.profile_ops is not None:
            counters()  # registers @kiln_profile_mark before the JIT resolves symbols
        engine = JITEngine(llvm_module, keep_objects=keep_objects)
        stats.seconds["jit"] = time.perf_counter() - start
        return cls(engine, interface, graph_main, inputs, outputs, weight_arrays, store,
                   stats)

    def take_object_code(self) -> list[bytes]:
        """The object code a `keep_objects` compile kept (for the compile cache); it is
        handed over once and released here."""
        objects, self._engine.objects = self._engine.objects, []
        return objects

    @property
    def _graph_main(self) -> func.FuncOp:
        source = self._graph_main_source
        if not isinstance(source, func.FuncOp):
            source = self._graph_main_source = source()
        return source

    def __del__(self) -> None:
        # the weights the kernels packed on first use (malloc'ed by the generated code)
        for address in getattr(self, "_packed_slots", ()):
            cell = ctypes.c_int64.from_address(address)
            if cell.value:
                free_native(cell.value)
                cell.value = 0

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR the JIT compiled (for inspection; a BackendError for a
        model loaded from the compile cache, which keeps only object code)."""
        return self._engine.llvm_ir_text()

    def __call__(self, *args: object, **kwargs: object) -> list[np.ndarray]:
        given = args
        if kwargs and not args and len(kwargs) == len(self.inputs):
            try:
                given = tuple([kwargs[spec.name] for spec in self.inputs])
            except KeyError:
                pass
        if len(given) == len(self.inputs):
            # a shape that already passed the checks, C-contiguous arrays of the right
            # dtypes: straight to the prepared native call
            try:
                shapes = tuple([a.shape for a in given])  # type: ignore[attr-defined]
            except AttributeError:
                shapes = None
            if shapes in self._shape_cache:
                for a, d in zip(given, self._dtypes, strict=True):
                    if type(a) is not np.ndarray or a.dtype != d or not a.flags.c_contiguous:
                        break
                else:
                    return self._invoker.call_prepared(given, shapes)  # type: ignore[arg-type]
        arrays = self._bind(args, kwargs)
        self._check(arrays)
        # contiguous copies only after the shapes passed: a broadcast view with a huge
        # wrong dim must be an InputError, not a MemoryError from copying it
        arrays = [a if a.flags.c_contiguous else np.array(a, order="C") for a in arrays]
        return self._invoker(*arrays)

    def profile(self, *args: object, repeat: int = 10, **kwargs: object) -> Profile:
        """Per-op times of `repeat` calls on these inputs (after one warm-up call); needs a
        model compiled with `profile=True`. `print(model.profile(x))` shows the table."""
        if self._profile_ops is None:
            raise InputError("this model was compiled without profiling: compile it with "
                             "compiler.compile(..., profile=True)")
        if repeat < 1:
            raise InputError(f"repeat must be at least 1, got {repeat}")
        shapes = [a.shape for a in self._bind(args, kwargs)]
        return measure(lambda: self(*args, **kwargs), self._profile_ops, self._graph_main,
                       shapes, repeat)

    def run(self, feeds: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Run with inputs by name; return outputs by name."""
        results = self(**feeds)
        return {spec.name: value for spec, value in zip(self.outputs, results, strict=True)}

    def __repr__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"CompiledModel(({ins}) -> ({outs}), target=cpu)"

    # ---------------------------------------------------------------- input checking

    def _bind(self, args: Sequence[object], kwargs: Mapping[str, object]) -> list[np.ndarray]:
        expected = ", ".join(s.name for s in self.inputs)
        if len(args) > len(self.inputs):
            raise InputError(f"the model takes {len(self.inputs)} input(s) ({expected}), "
                             f"got {len(args)} positional")
        bound: list[object | None] = list(args) + [None] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            index = self._input_index.get(name)
            if index is None:
                raise InputError(f"unknown input '{name}'; the model's inputs are: {expected}")
            if bound[index] is not None:
                raise InputError(f"input '{name}' given twice (by position and by name)")
            bound[index] = value
        missing = [s.name for s, v in zip(self.inputs, bound, strict=True) if v is None]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)} (the model's inputs "
                             f"are: {expected})")
        return [self._as_array(spec, value) for spec, value in zip(self.inputs, bound,
                                                                    strict=True)]

    @staticmethod
    def _as_array(spec: TensorSpec, value: object) -> np.ndarray:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if array.dtype != spec.dtype:
            raise InputError(f"input '{spec.name}' has dtype {array.dtype}, expected "
                             f"{spec.dtype} (convert it with {_astype_hint(spec.dtype)})")
        if array.ndim != len(spec.shape):
            raise InputError(f"input '{spec.name}' has rank {array.ndim} (shape "
                             f"{list(array.shape)}), expected rank {len(spec.shape)}: "
                             f"{_fmt(spec.shape)}")
        return array  # (not np.ascontiguousarray later: it turns rank 0 into rank 1)

    def _check(self, arrays: list[np.ndarray]) -> None:
        shapes = tuple(a.shape for a in arrays)
        if shapes in self._shape_cache:
            self._shape_cache.move_to_end(shapes)
            return
        symbols: dict[str, tuple[int, str]] = {}
        for spec, array in zip(self.inputs, arrays, strict=True):
            for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
                if isinstance(want, int) and want != got:
                    raise InputError(
                        f"input '{spec.name}' has shape {list(array.shape)}, expected "
                        f"{_fmt(spec.shape)}: dim {axis} must be {want}")
                if isinstance(want, str):
                    if want in symbols and symbols[want][0] != got:
                        size, first = symbols[want]
                        raise InputError(
                            f"symbolic dim '{want}' is {size} in input '{first}' but {got} in "
                            f"input '{spec.name}' (dim {axis}); dims that share a name must "
                            "be equal")
                    symbols.setdefault(want, (got, spec.name))
        try:
            check_shapes(self._graph_main, shapes)
        except ShapeCheckError as e:
            raise InputError(f"inputs of shapes {[list(s) for s in shapes]} do not fit the "
                             f"model: {e}") from None
        self._shape_cache[shapes] = None
        if len(self._shape_cache) > _SHAPE_CACHE_SIZE:
            self._shape_cache.popitem(last=False)


def _fmt(shape: Sequence[int | str | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _astype_hint(dtype: np.dtype) -> str:
    """How to convert an array to `dtype`: numpy has no bfloat16, float8, float4 or 4-/2-bit
    integer types, ml_dtypes (which Kiln's results use for them) does."""
    if hasattr(np, dtype.name):
        return f".astype(np.{dtype.name})"
    return f".astype(ml_dtypes.{dtype.name}) after `import ml_dtypes`"
