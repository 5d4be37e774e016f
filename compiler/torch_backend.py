"""The `torch.compile(model, backend="kiln")` backend, registered through the
`torch_dynamo_backends` entry point (pyproject.toml), so no import is needed.

The logic is compiler/importers/torch/dynamo.py; this module only hands it the driver's
compile (the importer package cannot import the driver, which imports it)."""

from __future__ import annotations

from collections.abc import Sequence

from compiler.driver import compile as compile_module
from compiler.importers.torch.dynamo import KilnFallbackWarning, KilnGraph


def kiln(gm: object, example_inputs: Sequence[object], **options: object) -> KilnGraph:
    """Compile one dynamo FX graph with Kiln (options: compile()'s, e.g. threads=1)."""
    return KilnGraph(gm, example_inputs, compile_module, **options)  # type: ignore[arg-type]


__all__ = ["KilnFallbackWarning", "kiln"]
