"""TorchModel: what compiler.compile returns for a torch model. It checks the sizes of
dynamic dims against the ranges torch.export derived (a clear InputError), takes torch
tensors (as numpy views of their storage, no copy for contiguous CPU tensors) or numpy
arrays, and returns torch tensors for torch inputs (views of the result arrays)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from compiler.errors import InputError
from compiler.importers.torch.export import ProgramInfo
from compiler.importers.torch.registry import import_program


class TorchModel:
    """A compiled torch model: `model(x, ...)` -> list of outputs (torch tensors for torch
    inputs, numpy arrays for numpy inputs); `model.run({...})` by input name. Everything
    else (inputs, outputs, stats, llvm_ir, profile) is the wrapped CompiledModel's."""

    def __init__(self, compiled: object, info: ProgramInfo):
        self.compiled = compiled
        self.info = info
        self._checked: set[tuple[tuple[int, ...], ...]] = set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.__dict__["compiled"], name)

    def __call__(self, *args: object, **kwargs: object) -> list:
        as_torch = any(isinstance(a, torch.Tensor) for a in (*args, *kwargs.values()))
        arrays = [to_numpy(a) for a in args]
        named = {k: to_numpy(v) for k, v in kwargs.items()}
        self.check_ranges(arrays, named)
        results = self.compiled(*arrays, **named)  # type: ignore[operator]
        return [torch.from_numpy(r) for r in results] if as_torch else results

    def run(self, feeds: Mapping[str, object]) -> dict[str, object]:
        results = self(**feeds)
        return {spec.name: value for spec, value in
                zip(self.compiled.outputs, results, strict=True)}  # type: ignore[attr-defined]

    def check_ranges(self, args: Sequence[np.ndarray], kwargs: Mapping[str, np.ndarray]
                     ) -> None:
        """Every dynamic dim within the range torch.export allowed (InputError if not)."""
        specs = self.compiled.inputs  # type: ignore[attr-defined]
        given = dict(zip([s.name for s in specs], args, strict=False)) | dict(kwargs)
        shapes = tuple(tuple(getattr(given.get(s.name), "shape", ())) for s in specs)
        if shapes in self._checked:
            return
        for spec, shape in zip(specs, shapes, strict=True):
            for axis, (dim, size) in enumerate(zip(spec.shape, shape, strict=False)):
                bounds = self.info.ranges.get(dim) if isinstance(dim, str) else None
                if bounds is None:
                    continue
                if size < bounds.lower or (bounds.upper is not None and size > bounds.upper):
                    upper = "" if bounds.upper is None else f" <= {bounds.upper}"
                    raise InputError(
                        f"input '{spec.name}' has shape {list(shape)}: dim {axis} ('{dim}') "
                        f"is {size}, but the model was exported for {bounds.lower} <= "
                        f"{dim}{upper} (torch.export's range for it; export again with a "
                        "wider torch.export.Dim to accept it)")
        if len(self._checked) < 64:
            self._checked.add(shapes)

    def __repr__(self) -> str:
        return f"TorchModel({self.compiled!r})"


def to_numpy(value: object) -> object:
    """A torch tensor as a numpy array sharing its storage (CPU) or copied (other
    devices); anything else as it is."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        if tensor.dtype == torch.bfloat16:
            raise InputError("bfloat16 tensors are not supported as inputs")
        return tensor.numpy()
    return value


def compile_torch(model: object, example_inputs: Sequence[object] | None,
                  dynamic_shapes: object, compile_module: Callable[..., object],
                  **options: object) -> TorchModel:
    """Import a torch model, compile its graph module with `compile_module`, wrap it."""
    module, info = import_program(model, example_inputs, dynamic_shapes)
    return TorchModel(compile_module(module, **options), info)
