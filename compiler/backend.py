"""Kiln as an ONNX backend (`onnx.backend.base.Backend`), so ONNX's own tests can run on it.

    from compiler import backend
    rep = backend.prepare(model_proto)          # compiles once
    (y,) = rep.run([x])                         # tuple of numpy arrays
    outputs = backend.run_model(model_proto, [x])

Only the CPU device exists. Compilation errors are `compiler.errors.CompileError` (with
`.unsupported` listing unsupported nodes) and call-time errors `InputError`, exactly as
`compiler.compile` and `CompiledModel` raise them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from compiler.driver import compile as kiln_compile
from compiler.errors import CompileError


def _is_cpu(device: str) -> bool:
    """True for "CPU" (optionally "CPU:<id>"); False for other or malformed devices."""
    try:
        return Device(device).type == DeviceType.CPU
    except (AttributeError, ValueError):
        return False


class KilnBackendRep(BackendRep):
    """A compiled model, ready to run repeatedly (the handle `KilnBackend.prepare` returns)."""

    def __init__(self, compiled: Any):
        self.compiled = compiled

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run on `inputs`: a sequence (model input order), a name->array mapping, or one
        array. Returns the outputs as a tuple of numpy arrays in the model's output order."""
        if isinstance(inputs, Mapping):
            outputs = self.compiled(**inputs)
        elif isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence):
            outputs = self.compiled(inputs)
        else:
            outputs = self.compiled(*inputs)
        return tuple(np.asarray(o) for o in outputs)


class KilnBackend(Backend):
    """ONNX backend that compiles every model to native CPU code with Kiln."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """Kiln targets the host CPU only."""
        return _is_cpu(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto | bytes | str, device: str = "CPU",
                **kwargs: Any) -> KilnBackendRep:
        """Compile `model` (ModelProto, serialized bytes or an .onnx path) for `device`.

        onnx.checker is not run here: Kiln's importer checks what it relies on and reports
        problems as CompileError. Extra keyword arguments are accepted and ignored, as the
        ONNX backend API allows.
        """
        if not _is_cpu(device):
            raise CompileError(f"device '{device}' is not supported by Kiln; use 'CPU'")
        return KilnBackendRep(kiln_compile(model))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Compile `model` and run it once on `inputs`."""
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run one node: wrap it in a one-node model (types from `inputs`, output types from
        `outputs_info` or ONNX shape inference), compile and run it.

        `opset_version` in kwargs picks the default-domain opset (default: the newest onnx
        knows); inputs may be a sequence in node-input order or a name->array mapping.
        """
        super().run_node(node, inputs, device=device, outputs_info=outputs_info, **kwargs)
        model = _node_model(node, inputs, outputs_info, kwargs.get("opset_version"))
        return cls.prepare(model, device).run(inputs)


def _node_model(node: onnx.NodeProto, inputs: Any,
                outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None,
                opset_version: int | None) -> onnx.ModelProto:
    """A model holding just `node`, with typed inputs and (inferred) typed outputs."""
    from onnx import helper

    names = [n for n in node.input if n]
    if isinstance(inputs, Mapping):
        arrays = [np.asarray(inputs[n]) for n in names]
    else:
        arrays = [np.asarray(a) for a in inputs]
    if len(arrays) != len(names):
        raise CompileError(f"node {node.op_type} '{node.name}' has {len(names)} input(s) "
                           f"but {len(arrays)} were given")
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                                  a.shape)
                    for n, a in zip(names, arrays, strict=True)]
    out_names = [n for n in node.output if n]
    if outputs_info is not None:
        graph_outputs = [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
            for n, (dtype, shape) in zip(out_names, outputs_info, strict=True)]
    else:
        graph_outputs = [helper.make_empty_tensor_value_info(n) for n in out_names]
    graph = helper.make_graph([node], f"{node.op_type}_node", graph_inputs, graph_outputs)
    opsets = [helper.make_opsetid("", opset_version or onnx.defs.onnx_opset_version())]
    if node.domain not in ("", "ai.onnx"):
        opsets.append(helper.make_opsetid(node.domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    if outputs_info is None:
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        except Exception as e:  # inference errors are the node's fault: report them as such
            raise CompileError(f"cannot infer the output types of node {node.op_type} "
                               f"'{node.name}': {e}") from None
        known = {vi.name: vi for vi in inferred.graph.value_info}
        for out in model.graph.output:
            if out.name in known:
                out.CopyFrom(known[out.name])
    return model


prepare = KilnBackend.prepare
run_model = KilnBackend.run_model
run_node = KilnBackend.run_node
supports_device = KilnBackend.supports_device
