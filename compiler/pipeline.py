"""Named pass pipelines: what `compiler.compile` runs, and the presets opt-tool accepts."""

from __future__ import annotations

OPTIMIZE_PIPELINE = "fold,simplify,cse,fuse,replace{conv1x1=false},fold,simplify,cse,dce"
"""Graph-level optimizations run by `compiler.compile` by default (= O2)."""

LOWER_PIPELINE = "convert-graph-to-tensor,bufferize,lower-linalg-to-loops,convert-to-llvm"
"""graph -> linalg on tensors -> memref -> scf loops -> llvm dialect."""

CHECK_MODES = ("shapes", "bounds")
"""`compile(checks=...)`: "shapes" proves or checks every dim relation the kernels rely
on (the default); "bounds" also checks every load, store, view and kernel call at run time
and trusts no symbolic proof (slow: for tests, fuzzing and tracking down problems)."""


def lower_pipeline(kernels: bool = True, checks: str = "shapes") -> str:
    """The lowering passes for `compile(kernels=..., checks=...)`."""
    bounds = checks == "bounds"
    loops = []
    if not kernels:
        loops.append("kernels=false")
    if bounds:
        loops.append("bounds=true")
    steps = [
        "convert-graph-to-tensor{check-proofs=true}" if bounds else "convert-graph-to-tensor",
        "bufferize",
        "lower-linalg-to-loops" + (f"{{{' '.join(loops)}}}" if loops else ""),
        *(["insert-bounds-checks"] if bounds else []),
        "convert-to-llvm",
    ]
    return ",".join(steps)


PRESETS: dict[str, str] = {
    "O0": "",
    "O1": "fold,simplify,cse,dce",
    "O2": OPTIMIZE_PIPELINE,
    "O3": OPTIMIZE_PIPELINE + ",layout,simplify,fold,cse,dce",  # NHWC convolutions
    "lower": LOWER_PIPELINE,
}


def expand_presets(spec: str) -> str:
    """Replace preset names (O1, O2, lower, ...) in a comma-separated pipeline."""
    parts = [PRESETS.get(p.strip(), p.strip()) for p in _split_top_level(spec)]
    return ",".join(p for p in parts if p)


def _split_top_level(spec: str) -> list[str]:
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
