"""compile(precision=...): the graph rewrite of each precision, and int8 calibration.

* "fp32": nothing.
* "fp16": passes/precision.py (contraction weights stored in float16).
* "int8": static post-training quantization. Calibration runs at the graph level, so it
  serves ONNX and torch models alike: the optimized float graph, with the activation
  inputs of every quantizable op exposed as extra outputs (passes/quantize.py
  `ExposeActivationsPass`), is compiled in float32 and run on the calibration inputs;
  an observer per activation (minmax, percentile or entropy) gives its range; then
  quantize_linear/dequantize_linear pairs are inserted (int8 per-channel symmetric
  weights, uint8 asymmetric activations, as onnxruntime's quantize_static does by
  default) and the `quantize` pass turns DQ -> conv/matmul -> Q into integer ops.
* "int8-dynamic": int8 per-channel weights, activations quantized per call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from compiler.errors import CompileError
from compiler.signature import CompileStats
from dialects import graph as g
from dialects.weights import store_for
from passes.cse import GraphCSEPass
from passes.dce import GraphDCEPass
from passes.fuse import FusePass
from passes.precision import PrecisionPass, op_precisions
from passes.quantize import (
    ExposeCalibrationValuesPass,
    QuantizeDynamicPass,
    QuantizePass,
    calibration_values,
    insert_qdq,
)

PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")
METHODS = ("minmax", "percentile", "entropy")


# --------------------------------------------------------------------------- observers


class MinMaxObserver:
    """The range of every value seen (onnxruntime's MinMax calibrator)."""

    def __init__(self) -> None:
        self.lo, self.hi = np.inf, -np.inf

    def update(self, x: np.ndarray) -> None:
        if x.size:
            self.lo = min(self.lo, float(np.min(x)))
            self.hi = max(self.hi, float(np.max(x)))

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            return 0.0, 0.0
        return self.lo, self.hi


class HistogramObserver(MinMaxObserver):
    """A histogram of |x| over [0, max |x|] (re-binned when the maximum grows), for the
    percentile and entropy methods."""

    BINS = 2048

    def __init__(self) -> None:
        super().__init__()
        self.hist = np.zeros(self.BINS, dtype=np.float64)
        self.top = 0.0

    def update(self, x: np.ndarray) -> None:
        super().update(x)
        a = np.abs(x.astype(np.float64).reshape(-1))
        if not a.size:
            return
        top = float(a.max())
        if top > self.top:
            if self.top > 0 and self.hist.any():  # spread old counts onto the new bins
                centers = (np.arange(self.BINS) + 0.5) * (self.top / self.BINS)
                self.hist = np.histogram(centers, bins=self.BINS, range=(0, top),
                                         weights=self.hist)[0]
            self.top = top
        if self.top > 0:
            self.hist += np.histogram(a, bins=self.BINS, range=(0, self.top))[0]

    def clip(self, threshold: float) -> tuple[float, float]:
        """The observed range with both ends cut at +-threshold."""
        lo, hi = MinMaxObserver.range(self)
        return max(lo, -threshold), min(hi, threshold)


class PercentileObserver(HistogramObserver):
    """|x| clipped at the 99.999th percentile (onnxruntime's Percentile default)."""

    def __init__(self, percentile: float = 99.999) -> None:
        super().__init__()
        self.percentile = percentile

    def range(self) -> tuple[float, float]:
        total = self.hist.sum()
        if total == 0 or self.top == 0:
            return MinMaxObserver.range(self)
        cdf = np.cumsum(self.hist) / total
        idx = int(np.searchsorted(cdf, self.percentile / 100.0))
        return self.clip((min(idx, self.BINS - 1) + 1) * self.top / self.BINS)


class EntropyObserver(HistogramObserver):
    """The |x| threshold whose 128-level quantization keeps the histogram closest in KL
    divergence (TensorRT's entropy calibration, as onnxruntime's Entropy method)."""

    LEVELS = 128

    def range(self) -> tuple[float, float]:
        hist = self.hist
        if hist.sum() == 0 or self.top == 0:
            return MinMaxObserver.range(self)
        best, best_kl = self.BINS, np.inf
        for i in range(self.LEVELS, self.BINS + 1, 16):
            p = hist[:i].copy()
            p[-1] += hist[i:].sum()
            # q: p merged into LEVELS bins, spread back over the non-empty bins
            chunks = np.array_split(np.arange(i), self.LEVELS)
            q = np.zeros(i)
            for c in chunks:
                nz = hist[c] > 0
                if nz.any():
                    q[c[nz]] = hist[c].sum() / nz.sum()
            kl = _kl(p, q)
            if kl < best_kl:
                best, best_kl = i, kl
        return self.clip(best * self.top / self.BINS)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum() if q.sum() else q
    mask = p > 0
    if np.any(q[mask] == 0):
        return np.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


OBSERVERS: dict[str, Callable[[], MinMaxObserver]] = {
    "minmax": MinMaxObserver, "percentile": PercentileObserver, "entropy": EntropyObserver}


# --------------------------------------------------------------------------- inputs


def calibration_samples(calibration: object) -> list[tuple[np.ndarray, ...] | dict]:
    """The calibration inputs as a list of tuples of arrays or dicts name -> array."""
    if isinstance(calibration, np.ndarray | Mapping):
        calibration = [calibration]
    try:
        items = list(calibration)  # type: ignore[call-overload]
    except TypeError:
        raise CompileError("calibration must be an iterable of input tuples (or dicts "
                           f"name -> array), got {type(calibration).__name__}") from None
    samples: list[tuple[np.ndarray, ...] | dict] = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            samples.append({str(k): np.asarray(v) for k, v in item.items()})
        elif isinstance(item, np.ndarray):
            samples.append((item,))
        elif isinstance(item, tuple | list):
            samples.append(tuple(np.asarray(v) for v in item))
        else:
            raise CompileError(f"calibration sample {i} is a {type(item).__name__}; "
                               "expected a tuple of arrays or a dict name -> array")
    if not samples:
        raise CompileError("calibration is empty: precision='int8' needs at least one "
                           "input sample to measure activation ranges")
    return samples


def samples_digest(samples: list[tuple[np.ndarray, ...] | dict]) -> str:
    """SHA-256 over the calibration data (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for s in samples:
        pairs = sorted(s.items()) if isinstance(s, dict) else list(enumerate(s))
        for name, a in pairs:
            a = np.ascontiguousarray(a)
            digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
            digest.update(a.tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def run_sample(model: Callable[..., list[np.ndarray]], sample: tuple | dict) -> list:
    return model(**sample) if isinstance(sample, dict) else model(*sample)


# --------------------------------------------------------------------------- the rewrite


@dataclass
class PrecisionRewrite:
    """What compile(precision=...) does to the optimized graph, and its cache key part."""

    precision: str
    samples: list = field(default_factory=list)
    method: str = "minmax"
    compile_float: Callable[[ModuleOp], Callable[..., list[np.ndarray]]] | None = None

    def key_options(self) -> dict[str, object]:
        if self.precision == "fp32":
            return {}
        options: dict[str, object] = {"precision": self.precision}
        if self.precision == "int8":
            options.update(calibration=samples_digest(self.samples), method=self.method)
        return options

    def apply(self, module: ModuleOp, stats: CompileStats) -> None:
        stats.weight_bytes_fp32 = referenced_weight_bytes(module)
        if self.precision == "fp16":
            PrecisionPass().apply(Context(), module)
        elif self.precision == "int8":
            quantize_static(module, self.samples, self.method, self.compile_float)
        elif self.precision == "int8-dynamic":
            quantize_dynamic(module)
        stats.op_precisions = op_precisions(module)


def precision_rewrite(precision: str, calibration: object, method: str,
                      compile_float: Callable[[ModuleOp], Callable[..., list[np.ndarray]]]
                      ) -> PrecisionRewrite:
    """Check compile()'s precision arguments; the rewrite they ask for."""
    if precision not in PRECISIONS:
        raise CompileError(f"unknown precision '{precision}'; supported: "
                           f"{', '.join(PRECISIONS)}")
    if method not in METHODS:
        raise CompileError(f"unknown calibration_method '{method}'; supported: "
                           f"{', '.join(METHODS)}")
    if precision != "int8":
        if calibration is not None:
            raise CompileError(f"calibration is for precision='int8' (static "
                               f"quantization); precision='{precision}' does not use it")
        return PrecisionRewrite(precision)
    if calibration is None:  # fine for a model that is already quantized (QDQ)
        return PrecisionRewrite(precision, [], method, compile_float)
    return PrecisionRewrite(precision, calibration_samples(calibration), method,
                            compile_float)


def referenced_weight_bytes(module: ModuleOp) -> int:
    """Bytes of the distinct weights the module's graph.weight ops name."""
    store = store_for(module)
    if store is None:
        return 0
    names = {op.weight_name.data for op in module.walk() if isinstance(op, g.WeightOp)}
    return sum(store[n].nbytes for n in names if n in store)


def quantize_static(module: ModuleOp, samples: list, method: str,
                    compile_float: Callable[[ModuleOp], Callable[..., list[np.ndarray]]] | None
                    ) -> None:
    """Calibrate the float graph on `samples`, insert Q/DQ pairs from the observed
    ranges, and turn them into integer ops (the quantize pass)."""
    count = len(calibration_values(module))
    if not samples and not any(isinstance(op, g.DequantizeLinearOp) for op in module.walk()):
        raise CompileError("precision='int8' needs calibration=: an iterable of input "
                           "tuples (or dicts name -> array) to measure activation ranges "
                           "on (or use precision='int8-dynamic'); only a model that is "
                           "already quantized (QuantizeLinear/DequantizeLinear) needs none")
    if samples and count and compile_float is not None:
        probe = module.clone()
        ExposeCalibrationValuesPass().apply(Context(), probe)
        model = compile_float(probe)
        observers = [OBSERVERS[method]() for _ in range(count)]
        first = len(model.outputs) - count  # type: ignore[attr-defined]
        for i, sample in enumerate(samples):
            try:
                results = run_sample(model, sample)
            except (ValueError, TypeError) as e:
                raise CompileError(f"calibration sample {i} does not fit the model: "
                                   f"{e}") from None
            for observer, value in zip(observers, results[first:], strict=True):
                observer.update(value)
        insert_qdq(module, [o.range() for o in observers])
    finish(module, QuantizePass())


def quantize_dynamic(module: ModuleOp) -> None:
    """int8 weights, activations quantized per call (passes/quantize.py)."""
    finish(module, QuantizeDynamicPass())


def finish(module: ModuleOp, rewrite: ModulePass) -> None:
    """Run `rewrite`, then merge the epilogues' elementwise chains and clean up."""
    ctx = Context()
    for p in (rewrite, GraphCSEPass(), GraphDCEPass(), FusePass(), GraphDCEPass()):
        p.apply(ctx, module)
    module.verify()
