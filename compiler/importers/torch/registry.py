"""The torch importer's op table, built once from the op families' tables, and the entry
points `import_torch` / `import_program`.

Every family module exports `RULES` (FX target name -> rule); a name has exactly one home,
so a name listed by two families is an error here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.export import ExportedProgram
from xdsl.dialects.builtin import ModuleOp

from compiler.errors import CompileError
from compiler.importers.tables import merge_rule_tables
from compiler.importers.torch import (
    control,
    conv,
    elementwise,
    linalg,
    norm,
    reduce,
    rnn,
    shape,
    symbolic,
)
from compiler.importers.torch.context import OpTable, TorchImportContext
from compiler.importers.torch.export import (
    ProgramInfo,
    decompose,
    dim_names,
    export_module,
    program_info,
)

FAMILIES = (elementwise, linalg, conv, norm, reduce, shape, rnn, symbolic, control)
"""The op family modules, each the one home of the ops in its RULES."""


def _table(name: str) -> dict:
    return merge_rule_tables([(f.__name__, getattr(f, name, {})) for f in FAMILIES], "ATen")


OPS = OpTable(rules=_table("RULES"), hints=_table("HINTS"))
"""Every op rule of the torch importer."""

SUPPORTED_OPS = tuple(sorted(name for name in OPS.rules if name.startswith("aten.")))
"""The Core ATen op overloads the importer handles (`aten.convolution.default`, ...)."""


def import_program(model: object, example_inputs: Sequence[object] | None = None,
                   dynamic_shapes: object = None) -> tuple[ModuleOp, ProgramInfo]:
    """The graph module of a torch model, and what its calls need (dim ranges, outputs).

    `model` is a torch.nn.Module (exported here with `example_inputs` and
    `dynamic_shapes`, as torch.export.export takes them) or an ExportedProgram.
    """
    if isinstance(model, ExportedProgram):
        if example_inputs is not None or dynamic_shapes is not None:
            raise CompileError("an ExportedProgram carries its own example inputs and "
                               "dynamic shapes; pass neither")
        program, module = model, model.module()
        source = "<exported program>"
    elif isinstance(model, torch.nn.Module):
        program, module = export_module(model, example_inputs, dynamic_shapes), model
        source = f"<torch module {type(model).__name__}>"
    else:
        raise CompileError(f"expected a torch.nn.Module or ExportedProgram, got "
                           f"{type(model).__name__}")
    program = decompose(program)
    names = dim_names(program, module, dynamic_shapes)
    graph = TorchImportContext(program, source, OPS, names).run()
    return graph, program_info(program, names)


def import_torch(model: object, example_inputs: Sequence[object] | None = None,
                 dynamic_shapes: object = None) -> ModuleOp:
    """Import a torch.nn.Module (through torch.export) or an ExportedProgram as a graph
    module: one func.func @main over graph ops, weights in a WeightStore."""
    return import_program(model, example_inputs, dynamic_shapes)[0]
