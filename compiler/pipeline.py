"""Kiln's passes by name, and the pipelines `compiler.compile` runs, as pass objects.

A pipeline is a list of ModulePass instances. Text specs (`opt-tool -p`, `compile(...,
pipeline="fold,fuse")`) are parsed once, by xDSL's pass-pipeline parser, with the presets
(O0-O3, lower) expanded into their passes; nothing edits pipeline strings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.passes import ModulePass, PassPipeline
from xdsl.universe import Universe
from xdsl.utils.arg_spec import ArgSpecParseError

from dialects.errors import CompileError
from lowering.bounds_checks import InsertBoundsChecksPass
from lowering.bufferize import BufferizePass
from lowering.contraction import LowerContractionsToKernelsPass
from lowering.fuse_casts import FuseWideningCastsPass
from lowering.gpu_outline import GpuOutlineKernelsPass
from lowering.gpu_reduce import GpuBlockReductionsPass
from lowering.gpu_tile import GpuTileContractionsPass
from lowering.gpu_to_nvvm import ConvertGpuToNvvmPass
from lowering.graph_to_tensor import ConvertGraphToTensorPass
from lowering.linalg_to_loops import LowerLinalgToLoopsPass
from lowering.outline_kernels import OutlineLoopKernelsPass
from lowering.plan_memory import PlanMemoryPass
from lowering.to_llvm import ConvertToLLVMPass
from passes.cse import GraphCSEPass
from passes.dce import GraphDCEPass
from passes.fold import FoldPass
from passes.fuse import FusePass
from passes.layout import LayoutPass
from passes.precision import PrecisionPass
from passes.profile import InsertProfileMarksPass
from passes.quantize import ExposeCalibrationValuesPass, QuantizeDynamicPass, QuantizePass
from passes.replace import ReplacePass
from passes.simplify import SimplifyPass

KILN_PASSES: tuple[type[ModulePass], ...] = (
    # graph-level optimizations (passes/)
    FoldPass, FusePass, SimplifyPass, ReplacePass, LayoutPass, GraphCSEPass, GraphDCEPass,
    InsertProfileMarksPass, PrecisionPass, QuantizePass, QuantizeDynamicPass,
    ExposeCalibrationValuesPass,
    # progressive lowering (lowering/)
    ConvertGraphToTensorPass, FuseWideningCastsPass, BufferizePass,
    LowerContractionsToKernelsPass, LowerLinalgToLoopsPass, InsertBoundsChecksPass,
    PlanMemoryPass, OutlineLoopKernelsPass, ConvertToLLVMPass,
    # the cuda target (lowering/gpu_*.py)
    GpuTileContractionsPass, GpuBlockReductionsPass, GpuOutlineKernelsPass,
    ConvertGpuToNvvmPass,
)


def pass_factories() -> dict[str, Callable[[], type[ModulePass]]]:
    """xDSL's passes (cse, dce, canonicalize, ...) plus Kiln's, Kiln's winning on a clash."""
    factories = dict(Universe.get_multiverse().all_passes)
    factories.update({p.name: (lambda p=p: p) for p in KILN_PASSES})
    return factories


CHECK_MODES = ("shapes", "bounds")
"""`compile(checks=...)`: "shapes" proves or checks every dim relation the kernels rely
on (the default); "bounds" also checks every load, store, view and kernel call at run time
and trusts no symbolic proof (slow: for tests, fuzzing and tracking down problems)."""


def optimize_passes(level: int = 2) -> list[ModulePass]:
    """The graph optimizations of O`level` (O2 is what `compiler.compile` runs)."""
    if level <= 0:
        return []
    cleanup = [FoldPass(), SimplifyPass(), GraphCSEPass(), GraphDCEPass()]
    if level == 1:
        return cleanup
    passes: list[ModulePass] = [FoldPass(), SimplifyPass(), GraphCSEPass(), FusePass(),
                                ReplacePass(conv1x1=False), *cleanup]
    if level >= 3:  # NHWC convolutions
        passes += [LayoutPass(), SimplifyPass(), FoldPass(), GraphCSEPass(), GraphDCEPass()]
    return passes


def to_tensor_pass(checks: str = "shapes") -> ModulePass:
    """graph -> linalg on tensors (the first lowering step; weights become arguments)."""
    return ConvertGraphToTensorPass(check_proofs=checks == "bounds")


def lower_passes(kernels: bool = True, checks: str = "shapes",
                 threads: int = 1) -> list[ModulePass]:
    """linalg on tensors -> memref -> (GEMM kernel calls) -> scf loops -> llvm dialect."""
    bounds = checks == "bounds"
    return [
        FuseWideningCastsPass(),
        BufferizePass(),
        *([LowerContractionsToKernelsPass(bounds=bounds, threads=threads)] if kernels else []),
        LowerLinalgToLoopsPass(),
        *([InsertBoundsChecksPass()] if bounds else []),
        PlanMemoryPass(),
        OutlineLoopKernelsPass(),
        ConvertToLLVMPass(),
    ]


PRESETS: dict[str, Callable[[], list[ModulePass]]] = {
    "O0": lambda: optimize_passes(0),
    "O1": lambda: optimize_passes(1),
    "O2": lambda: optimize_passes(2),
    "O3": lambda: optimize_passes(3),
    "lower": lambda: [to_tensor_pass(), *lower_passes()],
}


def parse_pipeline(spec: str | Sequence[ModulePass]) -> list[ModulePass]:
    """The passes of a comma-separated pipeline spec (presets expanded), or `spec` itself
    when it is already a list of passes; a bad spec is a CompileError."""
    if not isinstance(spec, str):
        return list(spec)
    passes: list[ModulePass] = []
    for part in split_top_level(spec):
        part = part.strip()
        if part in PRESETS:
            passes += PRESETS[part]()
        elif part:
            try:
                passes += PassPipeline.parse_spec(pass_factories(), part).passes
            except (ValueError, TypeError, ArgSpecParseError) as e:
                raise CompileError(f"bad pass pipeline '{spec}': {e}") from None
    return passes


def expand_presets(spec: str) -> str:
    """`spec` with preset names replaced by their passes' text (for xDSL's opt driver)."""
    parts = []
    for part in split_top_level(spec):
        part = part.strip()
        if part in PRESETS:
            parts += [str(p.pipeline_pass_spec()) for p in PRESETS[part]()]
        elif part:
            parts.append(part)
    return ",".join(parts)


def split_top_level(spec: str) -> list[str]:
    """Split on commas that are not inside `{...}` pass options."""
    parts, depth, current = [], 0, ""
    for ch in spec:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts
