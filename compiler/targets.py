"""Extra opt-tool output targets (-t NAME): LLVM IR text and PTX come from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from xdsl.dialects.builtin import ModuleOp

from compiler.graph_dot import graph_to_dot
from compiler.runtime.llvm_translate import translate_to_llvm_ir


def _emit_llvm_ir(module: ModuleOp, output: IO[str]) -> None:
    output.write(str(translate_to_llvm_ir(module)))


def _emit_dot(module: ModuleOp, output: IO[str]) -> None:
    output.write(graph_to_dot(module))


def register_targets(targets: dict[str, Any]) -> None:
    """Add Kiln's targets to opt-tool's table."""
    emitters: dict[str, Callable[[ModuleOp, IO[str]], None]] = {"llvm-ir": _emit_llvm_ir,
                                                                 "dot": _emit_dot}
    targets.update(emitters)
