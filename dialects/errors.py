"""Exceptions that form Kiln's user-facing error interface.

Every error says what went wrong, where (op type, node name, line:column, input name)
and why, in one paragraph. Deep tracebacks from xDSL or llvmlite are wrapped, never
leaked as the only message.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import FileLineColLoc, NameLoc
from xdsl.ir import Operation
from xdsl.utils.exceptions import PassFailedException


class KilnError(Exception):
    """Base class of all errors Kiln raises on purpose."""


@dataclass(frozen=True)
class UnsupportedOp:
    """One framework node that Kiln cannot import (opset 0: a framework without opsets,
    such as torch's ATen, and ONNX domains Kiln does not know)."""

    op_type: str
    opset: int
    node_name: str
    reason: str = "no importer rule"

    def __str__(self) -> str:
        node = f"'{self.node_name}'" if self.node_name else "<unnamed>"
        opset = f" (opset {self.opset})" if self.opset else ""
        return f"{self.op_type}{opset} at node {node}: {self.reason}"


class CompileError(KilnError):
    """A model cannot be compiled: bad file, unsupported ops, or a failing pass."""

    def __init__(self, message: str, unsupported: list[UnsupportedOp] | None = None):
        self.unsupported = list(unsupported or [])
        if self.unsupported:
            listing = "\n".join(f"  - {u}" for u in self.unsupported)
            message = f"{message}\n{listing}"
        super().__init__(message)


ISSUE_TRACKER = "the Kiln issue tracker"


class InternalError(CompileError):
    """A bug in Kiln, not in the model: an unexpected exception inside the compiler.

    The message says where (import, which pass) and what was raised, and asks for a report
    with the model attached; the original exception is chained as `__cause__`.
    """

    def __init__(self, where: str, cause: BaseException):
        self.where = where
        super().__init__(
            f"internal error in Kiln while {where}: {type(cause).__name__}: {cause}. "
            f"This is a bug in the compiler, not in your model or input; please report it "
            f"on {ISSUE_TRACKER} with the model (or IR) that triggers it.")


class InputError(KilnError, ValueError):
    """A call-time input does not fit the compiled model (count, name, dtype, shape)."""


class BackendError(KilnError):
    """LLVM translation or native code generation failed (carries LLVM's message)."""


class InvalidIRError(CompileError):
    """IR text that does not parse or verify, or that exceeds Kiln's limits.

    `location` is "file:line:col" where it is known (None otherwise) and `context` the
    source line with a caret under the position ("" when not known).
    """

    def __init__(self, message: str, location: str | None = None, context: str = ""):
        self.message = message
        self.location = location
        self.context = context
        super().__init__(f"{location}: error: {message}" if location else f"error: {message}")


def op_location(op: object) -> str | None:
    """`file:line:col` of an op (or of its nearest located ancestor), or a node name.

    Ops parsed from .mlir text carry the position they start at; ops made by a pass have
    none, so the enclosing op's position is the best one to show.
    """
    current = op if isinstance(op, Operation) else None
    while current is not None:
        loc = current.location
        if isinstance(loc, FileLineColLoc):
            return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
        if isinstance(loc, NameLoc):
            return f"node '{loc.desc.data}'"
        current = current.parent_op()
    return None


def unexpected_op(pass_name: str, op: object, expected: str, detail: str = "") -> Exception:
    """The PassFailedException a pass raises for IR it does not handle (to `raise`):
    "<pass>: expected <expected>, found <op name> (<detail>) at file:line:col"."""
    name = getattr(op, "name", type(op).__name__)
    where = op_location(op)
    return PassFailedException(
        f"{pass_name}: expected {expected}, found {name}" + (f" ({detail})" if detail else "")
        + (f" at {where}" if where else ""))
