"""Whole models through the JIT, compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ort_run

import compiler

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def mlp(mlp_proto):
    return compiler.compile(mlp_proto)


@pytest.fixture(scope="module")
def cnn(cnn_proto):
    return compiler.compile(cnn_proto)


@pytest.mark.parametrize("batch", [1, 64, 3])
def test_mlp_matches_onnxruntime_for_any_batch_from_one_compile(mlp, mlp_proto, batch):
    x = np.random.default_rng(batch).standard_normal((batch, 32)).astype(np.float32)
    (got,) = mlp(x)
    (want,) = ort_run(mlp_proto, {"x": x})
    assert got.shape == (batch, 10)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_mlp_signature_has_symbolic_batch(mlp):
    (spec,) = mlp.inputs
    assert spec.name == "x" and spec.shape == ("batch", 32) and spec.dtype == np.float32
    assert [o.name for o in mlp.outputs] == ["y"]


def test_cnn_matches_onnxruntime(cnn, cnn_proto):
    x = np.random.default_rng(7).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (got,) = cnn(x)
    (want,) = ort_run(cnn_proto, {cnn.inputs[0].name: x})
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_cnn_graph_is_fused(cnn):
    # conv+bn+relu, conv+bn+add+relu: batch norms, relus and the add are folded away
    assert cnn.stats.graph_ops_optimized < cnn.stats.graph_ops_imported


@pytest.mark.parametrize("pipeline", ["O0", "O1", "fuse"])
def test_cnn_every_pipeline_matches(cnn_proto, pipeline):
    model = compiler.compile(cnn_proto, pipeline=pipeline)
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (want,) = ort_run(cnn_proto, {model.inputs[0].name: x})
    np.testing.assert_allclose(model(x)[0], want, rtol=RTOL, atol=ATOL)


def test_inputs_by_name_and_run_dict(mlp, mlp_proto):
    x = np.ones((2, 32), np.float32)
    by_position = mlp(x)[0]
    by_name = mlp(x=x)[0]
    as_dict = mlp.run({"x": x})
    np.testing.assert_array_equal(by_position, by_name)
    np.testing.assert_array_equal(as_dict["y"], by_position)


def test_non_contiguous_input_is_accepted(mlp, mlp_proto):
    x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32).T
    assert not x.flags.c_contiguous
    (want,) = ort_run(mlp_proto, {"x": np.ascontiguousarray(x)})
    np.testing.assert_allclose(mlp(x)[0], want, rtol=RTOL, atol=ATOL)


def test_repeated_calls_give_fresh_outputs(mlp):
    x = np.ones((4, 32), np.float32)
    first = mlp(x)[0]
    second = mlp(2 * x)[0]
    assert not np.shares_memory(first, second)
    assert not np.allclose(first, second)


def test_compile_from_path_and_bytes(tmp_path, mlp_proto):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(mlp_proto.SerializeToString())
    x = np.ones((2, 32), np.float32)
    from_path = compiler.compile(str(path))(x)[0]
    from_bytes = compiler.compile(mlp_proto.SerializeToString())(x)[0]
    np.testing.assert_array_equal(from_path, from_bytes)
