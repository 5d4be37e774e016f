"""The `torch.compile(model, backend="kiln")` backend's logic (the registered entry point is
compiler/torch_backend.py, which supplies the driver's compile).

Dynamo hands over one FX GraphModule per captured region with real example inputs. Kiln
exports it (torch.export, static shapes), with the module's parameters and buffers made
weights, and compiles it; a call with new input shapes compiles again, once per shape
(cached). Tensors go in and out as numpy views of their storage (no copies for contiguous
CPU tensors). A graph Kiln cannot compile (an unsupported op, a side effect) runs in eager
PyTorch from then on, after one warning that names the reason. Outputs carry no autograd
history: the backend is for inference.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch.utils import _pytree

from compiler.errors import CompileError
from compiler.importers.torch.model import TorchModel, compile_torch, to_numpy

_MAX_SHAPES = 16
"""Compiled shapes kept per graph (least recently used dropped beyond it)."""


class KilnFallbackWarning(UserWarning):
    """A graph handed to the kiln backend runs in eager PyTorch instead (why: the message)."""


def _is_state(node: torch.fx.Node | None, value: object) -> bool:
    """Whether a graph input is module state (a parameter or buffer dynamo lifted into an
    input): those become weights of the compiled graph instead of call arguments."""
    if isinstance(value, torch.nn.Parameter):
        return True
    source = getattr(node.meta.get("grapharg"), "source", None) if node is not None else None
    name = getattr(source, "name", "") if source is not None else ""
    name = name() if callable(name) else str(name)
    return isinstance(value, torch.Tensor) and ("_buffers" in name or "buffers[" in name)


class _Frozen(torch.nn.Module):
    """The dynamo graph with its module state as this module's parameters/buffers and its
    int inputs fixed, so torch.export lifts them as weights."""

    def __init__(self, gm: torch.fx.GraphModule, args: Sequence[object],
                 fixed: Sequence[int]):
        super().__init__()
        self.gm = gm
        self.arity = len(args)
        self.fixed = {i: f"state_{k}" for k, i in enumerate(fixed)}
        self.ints: dict[int, object] = {}
        for i, name in self.fixed.items():
            value = args[i]
            if isinstance(value, torch.nn.Parameter):
                self.register_parameter(name, value)
            elif isinstance(value, torch.Tensor):
                self.register_buffer(name, value, persistent=False)
            else:
                self.ints[i] = value

    def forward(self, *inputs: object) -> object:
        it = iter(inputs)
        full = [self.ints[i] if i in self.ints else getattr(self, self.fixed[i])
                if i in self.fixed else next(it) for i in range(self.arity)]
        return self.gm(*full)


class KilnGraph:
    """What the backend returns for one dynamo graph: a callable compiling per shape."""

    def __init__(self, gm: torch.fx.GraphModule, example_inputs: Sequence[object],
                 compile_module: Callable[..., object], **options: object):
        self.gm = gm
        self.compile_module = compile_module
        self.options = options
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        nodes = placeholders if len(placeholders) == len(example_inputs) else \
            [None] * len(example_inputs)
        self.fixed = [i for i, (n, v) in enumerate(zip(nodes, example_inputs, strict=True))
                      if _is_state(n, v) or not isinstance(v, torch.Tensor)]
        self.compiled: OrderedDict[tuple, tuple[TorchModel, object]] = OrderedDict()
        self.eager = False
        self._compile(example_inputs)

    def _key(self, args: Sequence[object]) -> tuple:
        return tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else ("v", a)
                     for i, a in enumerate(args) if i not in self.fixed or
                     not isinstance(a, torch.Tensor))

    def _compile(self, args: Sequence[object]) -> tuple[TorchModel, object] | None:
        key = self._key(args)
        if key in self.compiled:
            self.compiled.move_to_end(key)
            return self.compiled[key]
        user = [a for i, a in enumerate(args) if i not in self.fixed]
        try:
            model = compile_torch(_Frozen(self.gm, args, self.fixed), user, None,
                                  self.compile_module, **self.options)
        except CompileError as e:
            self._fall_back(e)
            return None
        entry = (model, model.info.out_spec)
        self.compiled[key] = entry
        if len(self.compiled) > _MAX_SHAPES:
            self.compiled.popitem(last=False)
        return entry

    def _fall_back(self, error: CompileError) -> None:
        self.eager = True
        if error.unsupported:
            ops = sorted({u.op_type for u in error.unsupported})
            reason = (f"unsupported op{'s' if len(ops) > 1 else ''} {', '.join(ops)}:\n"
                      + "\n".join(f"  - {u}" for u in error.unsupported))
        else:
            reason = str(error)
        warnings.warn(f"kiln: a torch.compile graph runs in eager PyTorch: {reason}",
                      KilnFallbackWarning, stacklevel=3)

    def __call__(self, *args: object) -> object:
        if self.eager:
            return self.gm(*args)
        entry = self._compile(args)
        if entry is None:
            return self.gm(*args)
        model, out_spec = entry
        user = [to_numpy(a) for i, a in enumerate(args) if i not in self.fixed]
        results = [torch.from_numpy(r) for r in model(*user)]
        return _pytree.tree_unflatten(results, out_spec) if out_spec is not None else results
