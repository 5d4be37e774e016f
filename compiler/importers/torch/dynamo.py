"""The `torch.compile(model, backend="kiln")` backend's logic (the registered entry point is
compiler/torch_backend.py, which supplies the driver's compile).

Dynamo hands over one FX GraphModule per captured region. Kiln exports it (torch.export),
with the module's parameters and buffers made weights, and compiles it: a static graph
once per input shape (cached); a graph dynamo made dynamic (after a second shape, or
`torch._dynamo.mark_dynamic`) once, with its symbolic dims dynamic (its SymInt inputs
read from the tensor dims they come from), falling back to a compile per shape where
that export fails or a call leaves the exported ranges. Tensors go in and out as numpy
views of their storage (no copies for contiguous CPU tensors). A graph Kiln cannot
compile (an unsupported op, a side effect) runs in eager PyTorch from then on, after one
warning that names the reason. Outputs carry no autograd
history: the backend is for inference.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch.utils import _pytree

from compiler.errors import CompileError, InputError
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


def _concrete(value: object) -> bool:
    """Whether an example input is a real value (a graph dynamo made dynamic hands over
    SymInts and fake tensors with symbolic sizes: Kiln compiles at the call's shapes)."""
    if isinstance(value, torch.SymInt | torch.SymFloat | torch.SymBool):
        return False
    if isinstance(value, torch.Tensor):
        return not isinstance(value, torch._subclasses.FakeTensor) and \
            all(isinstance(d, int) for d in value.shape)
    return True


class _Frozen(torch.nn.Module):
    """The dynamo graph with its module state as this module's parameters/buffers, its int
    inputs either fixed or read from a tensor input's size (`sizes`: int input -> (tensor
    input, dim)), so torch.export lifts the state as weights and sees the sizes' origin."""

    def __init__(self, gm: torch.fx.GraphModule, args: Sequence[object],
                 fixed: Sequence[int], sizes: dict[int, tuple[int, int]] | None = None):
        super().__init__()
        self.gm = gm
        self.arity = len(args)
        self.sizes = dict(sizes or {})
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
        full: list[object] = []
        for i in range(self.arity):
            if i in self.ints:
                full.append(self.ints[i])
            elif i in self.fixed:
                full.append(getattr(self, self.fixed[i]))
            elif i in self.sizes:
                full.append(None)
            else:
                full.append(next(it))
        for i, (j, dim) in self.sizes.items():
            full[i] = full[j].shape[dim]  # type: ignore[union-attr]
        return self.gm(*full)


def _symbol(value: object) -> str | None:
    return str(value.node.expr) if isinstance(value, torch.SymInt) else None


def _dynamic_plan(example_values: Sequence[object], state: set[int]
                  ) -> tuple[dict[int, tuple[int, int]], dict[int, list[int]]] | None:
    """For a graph dynamo made dynamic: where each SymInt input comes from (a tensor input's
    dim with the same symbol) and the symbolic dims of each tensor input; None when an int
    input has no such origin (then Kiln compiles per shape)."""
    origins: dict[str, tuple[int, int]] = {}
    dims: dict[int, list[int]] = {}
    for j, value in enumerate(example_values):
        if isinstance(value, torch.Tensor) and j not in state:
            for k, d in enumerate(value.shape):
                if (symbol := _symbol(d)) is not None:
                    origins.setdefault(symbol, (j, k))
                    dims.setdefault(j, []).append(k)
    sizes = {}
    for i, value in enumerate(example_values):
        if isinstance(value, torch.SymInt):
            symbol = _symbol(value)
            if symbol not in origins:
                return None
            sizes[i] = origins[symbol]
    return sizes, dims


class KilnGraph:
    """What the backend returns for one dynamo graph: a callable that compiles it once with
    dynamic dims where dynamo made the graph dynamic, else once per input shape."""

    def __init__(self, gm: torch.fx.GraphModule, example_inputs: Sequence[object],
                 compile_module: Callable[..., object], **options: object):
        self.gm = gm
        self.compile_module = compile_module
        self.options = options
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        nodes = placeholders if len(placeholders) == len(example_inputs) else \
            [None] * len(example_inputs)
        state = {i for i, (n, v) in enumerate(zip(nodes, example_inputs, strict=True))
                 if _is_state(n, v)}
        self.fixed = sorted(state | {i for i, v in enumerate(example_inputs)
                                     if not isinstance(v, torch.Tensor | torch.SymInt)})
        self.compiled: OrderedDict[tuple, tuple[TorchModel, object]] = OrderedDict()
        self.eager = False
        self.dynamic: tuple[TorchModel, object] | None = None
        # dynamo's own view of the inputs: symbolic sizes where it made the graph dynamic
        values = [n.meta.get("example_value", v) if n is not None else v
                  for n, v in zip(nodes, example_inputs, strict=True)]
        symbolic = any(isinstance(v, torch.SymInt) or (isinstance(v, torch.Tensor) and any(
            _symbol(d) for d in v.shape)) for v in values)
        self.plan = _dynamic_plan(values, state) if symbolic else None
        if self.plan is None:  # per shape, the ints fixed
            self.fixed = sorted(set(self.fixed) | {i for i, v in enumerate(example_inputs)
                                                   if not isinstance(v, torch.Tensor)})
        if all(_concrete(a) for a in example_inputs):  # else at the first call
            if self.plan is not None:
                self.dynamic = self._compile_dynamic(example_inputs)
            else:
                self._compile(example_inputs)

    def _user(self, args: Sequence[object]) -> list[object]:
        sizes = self.plan[0] if self.plan is not None else {}
        return [a for i, a in enumerate(args) if i not in self.fixed and i not in sizes]

    def _key(self, args: Sequence[object]) -> tuple:
        return tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else ("v", a)
                     for i, a in enumerate(args) if i not in self.fixed or
                     not isinstance(a, torch.Tensor))

    def _compile_dynamic(self, args: Sequence[object]) -> tuple[TorchModel, object] | None:
        assert self.plan is not None
        sizes, dims = self.plan
        user_positions = [i for i in range(len(args)) if i not in self.fixed and i not in sizes]
        spec = tuple({k: torch.export.Dim.DYNAMIC for k in dims.get(i, [])} or None
                     for i in user_positions)
        try:  # forward(*inputs): the specs of the inputs are one tuple
            model = compile_torch(_Frozen(self.gm, args, self.fixed, sizes), self._user(args),
                                  (spec,), self.compile_module, **self.options)
        except CompileError:
            self.plan = None  # per shape from now on (the ints fixed)
            self.fixed = sorted(set(self.fixed) | {i for i, v in enumerate(args)
                                                   if not isinstance(v, torch.Tensor)})
            return None
        return model, model.info.out_spec

    def _compile(self, args: Sequence[object]) -> tuple[TorchModel, object] | None:
        key = self._key(args)
        if key in self.compiled:
            self.compiled.move_to_end(key)
            return self.compiled[key]
        try:
            frozen = _Frozen(self.gm, args, self.fixed, self.plan[0] if self.plan else None)
            model = compile_torch(frozen, self._user(args), None, self.compile_module,
                                  **self.options)
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
        if self.plan is not None and self.dynamic is None:
            self.dynamic = self._compile_dynamic(args)
        entry = self.dynamic if self.plan is not None else None
        if entry is not None:
            model, out_spec = entry
            user = [to_numpy(a) for a in self._user(args)]
            try:
                results = model(*user)
            except InputError:  # outside the exported dims' ranges: this shape alone
                entry = None
        if entry is None:
            entry = self._compile(args)
            if entry is None:
                return self.gm(*args)
            model, out_spec = entry
            results = model(*[to_numpy(a) for a in self._user(args)])
        tensors = [torch.from_numpy(r) for r in results]
        return _pytree.tree_unflatten(tensors, out_spec) if out_spec is not None else tensors

