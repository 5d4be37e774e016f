"""Kiln's user-facing exceptions (defined in the dialect layer, which every layer uses)."""

from dialects.errors import (
    ISSUE_TRACKER,
    BackendError,
    CompileError,
    InputError,
    InternalError,
    InvalidIRError,
    KilnError,
    UnsupportedOp,
    op_location,
    unexpected_op,
)

__all__ = ["ISSUE_TRACKER", "BackendError", "CompileError", "InputError", "InternalError",
           "InvalidIRError", "KilnError", "UnsupportedOp", "op_location", "unexpected_op"]
