"""Kiln: compile trained models (ONNX first) to native code through an MLIR-style IR.

    import compiler
    model = compiler.compile("model.onnx")       # -> CompiledModel
    (y,) = model(x)                               # numpy in, numpy out

See README.md for the pipeline and docs/ARCHITECTURE.md for the IR levels.
"""

from compiler.driver import compile
from compiler.errors import CompileError, InputError, InternalError, KilnError, UnsupportedOp
from compiler.signature import CompileStats, TensorSpec

__all__ = [
    "compile",
    "CompileError",
    "CompileStats",
    "InputError",
    "InternalError",
    "KilnError",
    "TensorSpec",
    "UnsupportedOp",
]
