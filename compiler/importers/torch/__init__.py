"""The PyTorch importer: a `torch.nn.Module` (through torch.export) or an
`torch.export.ExportedProgram`, decomposed to Core ATen, becomes a `builtin.module` with
one `func.func @main` over graph ops (ARCHITECTURE.md, level 1) — the same op set the
ONNX importer produces; no ONNX on the way.

    context.py        the FX graph walk and the import context API the rules use
    export.py         torch.export, decompositions, dim names, and its errors explained
    registry.py       the one op table (from every family's RULES) and import_torch
    model.py          TorchModel: range checks of dynamic dims, torch tensors in and out
    dynamo.py         the `torch.compile(backend="kiln")` backend
    elementwise.py, linalg.py, conv.py, norm.py, reduce.py, shape.py, rnn.py,
    control.py, symbolic.py
                      the op families (control.py: torch.cond; symbolic.py: SymInt
                      arithmetic and comparisons)

torch is an optional dependency (`kiln[torch]`): this package's `__init__` does not import
it, so `import compiler` stays torch-free; the entry points import the rest lazily.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def is_torch_model(model: object) -> bool:
    """Whether `model` is a torch.nn.Module or an ExportedProgram (without importing
    torch: a torch object exists only once torch is imported)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(model, torch.nn.Module | torch.export.ExportedProgram)


def import_torch(model: object, example_inputs: Sequence[object] | None = None,
                 dynamic_shapes: object = None):
    """Import a torch.nn.Module (run through torch.export with `example_inputs` and
    `dynamic_shapes`) or an ExportedProgram as a graph module; see registry.import_torch."""
    from compiler.importers.torch.registry import import_torch as run

    return run(model, example_inputs, dynamic_shapes)


def compile_torch(model: object, example_inputs: Sequence[object] | None,
                  dynamic_shapes: object, compile_module: Callable[..., object],
                  **options: object):
    """compiler.compile for a torch model: import it, compile the graph module with
    `compile_module` (the driver's compile) and wrap the result in a TorchModel."""
    from compiler.importers.torch.model import compile_torch as run

    return run(model, example_inputs, dynamic_shapes, compile_module, **options)


__all__ = ["compile_torch", "import_torch", "is_torch_model"]
