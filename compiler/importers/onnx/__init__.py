"""The ONNX importer: an ONNX ModelProto becomes a `builtin.module` with one
`func.func @main` over graph ops (ARCHITECTURE.md, level 1).

    context.py        the graph walk and the import context API the rules use
    common.py         NodeError and helpers shared by the rules
    registry.py       the one op table (from every family's RULES) and import_onnx
    checker.py, checker_rules.py   validation before import (structure, then per-op rules)
    elementwise.py, linalg.py, conv.py, norm.py, reduce.py, shape.py, control_flow.py,
    rnn.py, compositions.py        the op families
"""

from compiler.importers.onnx.checker import check_model, check_semantics
from compiler.importers.onnx.common import NodeError
from compiler.importers.onnx.context import MIN_OPSET, ImportContext, OpTable
from compiler.importers.onnx.registry import OPS, SUPPORTED_OPS, import_onnx

__all__ = ["MIN_OPSET", "OPS", "SUPPORTED_OPS", "ImportContext", "NodeError", "OpTable",
           "check_model", "check_semantics", "import_onnx"]
