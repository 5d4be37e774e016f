"""The ONNX importer's op table, built once from the op families' tables, and the entry
point `import_onnx`.

Every family module exports `RULES` (ONNX op type -> rule) and may export
`NON_DATA_INPUTS` and `CHECKS`; an op type has exactly one home, so a type listed by two
families is an error here.
"""

from __future__ import annotations

import os

import onnx
from xdsl.dialects.builtin import ModuleOp

from compiler.importers.onnx import (
    compositions,
    control_flow,
    conv,
    data,
    elementwise,
    linalg,
    norm,
    quantize,
    reduce,
    rnn,
    shape,
)
from compiler.importers.onnx.checker import check_model
from compiler.importers.onnx.context import ImportContext, OpTable, load_model, source_name
from compiler.importers.tables import merge_rule_tables

FAMILIES = (elementwise, linalg, conv, norm, reduce, shape, control_flow, rnn, compositions,
            quantize, data)
"""The op family modules, each the one home of the ops in its RULES."""


def _table(name: str) -> dict:
    return merge_rule_tables([(f.__name__, getattr(f, name, {})) for f in FAMILIES], "ONNX")


OPS = OpTable(rules=_table("RULES"), non_data_inputs=_table("NON_DATA_INPUTS"),
              checks=_table("CHECKS"))
"""Every op rule of the importer (default domain)."""

SUPPORTED_OPS = tuple(sorted(OPS.rules))
"""ONNX operator types (default domain) the importer handles."""


def import_onnx(model: str | os.PathLike | bytes | onnx.ModelProto, *,
                weights_key: str | None = None) -> ModuleOp:
    """Import an ONNX model (path, serialized bytes or ModelProto) as a graph module.

    Float initializers go to a WeightStore attached to the module. With `weights_key`
    (e.g. `file:<abs path>` of the model) the store is registered under that key, so IR
    printed from this module can find its weights again in another process.
    """
    source = source_name(model, weights_key)
    proto = load_model(model, source)
    check_model(proto, source)
    return ImportContext(proto, source, weights_key, OPS).run()
