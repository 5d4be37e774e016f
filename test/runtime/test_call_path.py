"""The call path of a CompiledModel: the prepared fast path (a shape already checked,
C-contiguous arrays of the right dtypes) gives the same results as the checked path, and
anything else still goes through the checks."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import compiler
from compiler.errors import InputError
from compiler.runtime.abi import Invoker


def _model() -> onnx.ModelProto:
    """y = a + b over [n, 4]; z = a (an output that is an input: it must not be freed)."""
    nodes = [helper.make_node("Add", ["a", "b"], ["y"]),
             helper.make_node("Identity", ["a"], ["z"])]
    graph = helper.make_graph(
        nodes, "add", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 4])
                       for n in "ab"],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 4]) for n in "yz"])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def model():
    return compiler.compile(_model(), cache=False)


def _arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 4)).astype(np.float32),
            rng.standard_normal((n, 4)).astype(np.float32))


def test_alternating_shapes_rewrite_the_descriptors(model):
    for step, n in enumerate([3, 3, 5, 3, 1, 5, 5]):
        a, b = _arrays(n, step)
        y, z = model(a, b) if step % 2 else model(a=a, b=b)
        np.testing.assert_array_equal(y, a + b)
        np.testing.assert_array_equal(z, a)
        assert y.shape == z.shape == (n, 4)
        assert not np.shares_memory(z, a)  # outputs are the caller's own arrays


def test_a_known_shape_takes_the_prepared_path(model, monkeypatch):
    calls = []
    prepared = Invoker.call_prepared

    def counting(self, arrays, shapes):
        calls.append(shapes)
        return prepared(self, arrays, shapes)

    monkeypatch.setattr(Invoker, "call_prepared", counting)
    a, b = _arrays(6, 2)
    model(a, b)  # a new shape: checked, then remembered
    model(a, b)
    model(b=b, a=a)
    model(a, b.astype(np.float64).astype(np.float32))
    assert calls == [((6, 4), (6, 4))] * 3


def test_read_only_and_strided_inputs(model):
    a, b = _arrays(3, 0)
    model(a, b)  # the shape is now known: later calls may take the prepared path
    a.flags.writeable = False
    np.testing.assert_array_equal(model(a, b)[0], a + b)
    wide = np.zeros((3, 8), np.float32)
    wide[:, ::2] = b
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(model(a, strided)[0], a + b)


def test_wrong_inputs_after_a_good_call_are_still_checked(model):
    a, b = _arrays(3, 1)
    model(a, b)
    with pytest.raises(InputError, match="dtype float64"):
        model(a.astype(np.float64), b)
    with pytest.raises(InputError, match="symbolic dim 'n'"):
        model(a, _arrays(2, 1)[1])
    with pytest.raises(InputError, match="unknown input 'c'"):
        model(a=a, c=b)
    with pytest.raises(InputError, match="2 input"):
        model(a, b, a)
    np.testing.assert_array_equal(model(a, b)[0], a + b)


def test_lists_are_converted_and_checked(model):
    a = [[1.0, 2.0, 3.0, 4.0]]
    with pytest.raises(InputError, match="dtype float64"):
        model(a, a)
    (y, _) = model(np.float32(1) * np.asarray(a, np.float32), np.asarray(a, np.float32))
    np.testing.assert_array_equal(y, [[2, 4, 6, 8]])
