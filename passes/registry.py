"""Every pass Kiln provides, by its `--pipeline` name.

Passes are imported lazily (by "module:Class") so that opt-tool starts fast and a
broken pass module cannot take the others down.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from xdsl.passes import ModulePass

KILN_PASSES: dict[str, str] = {
    # graph-level optimizations (passes/)
    "fold": "passes.fold:FoldPass",
    "fuse": "passes.fuse:FusePass",
    "simplify": "passes.simplify:SimplifyPass",
    "replace": "passes.replace:ReplacePass",
    "layout": "passes.layout:LayoutPass",
    "cse": "passes.cse:GraphCSEPass",
    "dce": "passes.dce:GraphDCEPass",
    # progressive lowering (lowering/)
    "convert-graph-to-tensor": "lowering.graph_to_tensor:ConvertGraphToTensorPass",
    "bufferize": "lowering.bufferize:BufferizePass",
    "lower-linalg-to-loops": "lowering.linalg_to_loops:LowerLinalgToLoopsPass",
    "insert-bounds-checks": "lowering.bounds_checks:InsertBoundsChecksPass",
    "convert-to-llvm": "lowering.to_llvm:ConvertToLLVMPass",
}


def _lazy(spec: str) -> Callable[[], type[ModulePass]]:
    module_name, class_name = spec.split(":")

    def factory() -> type[ModulePass]:
        return getattr(importlib.import_module(module_name), class_name)

    return factory


def kiln_pass_factories() -> dict[str, Callable[[], type[ModulePass]]]:
    """Kiln's own passes (names above)."""
    return {name: _lazy(spec) for name, spec in KILN_PASSES.items()}


def all_pass_factories() -> dict[str, Callable[[], type[ModulePass]]]:
    """xDSL's passes (cse, dce, canonicalize, ...) plus Kiln's, Kiln's winning on a clash."""
    from xdsl.universe import Universe

    passes = dict(Universe.get_multiverse().all_passes)
    passes.update(kiln_pass_factories())
    return passes
