"""Shared fixtures: the bundled example models and a reference runtime.

Every model the tests compile runs in the `checks="bounds"` mode (unless KILN_CHECKS is
set otherwise): an out-of-bounds access anywhere becomes a failing InputError, not
garbage that a tolerance might let through. The compile cache is off (KILN_CACHE=0):
tests that patch the compiler must never be served code compiled before the patch, and
test/runtime/test_compile_cache.py turns it on with its own directory.
"""

from __future__ import annotations

import os

os.environ.setdefault("KILN_CHECKS", "bounds")
os.environ.setdefault("KILN_CACHE", "0")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pytest  # noqa: E402
from xdsl.dialects.builtin import ModuleOp  # noqa: E402
from xdsl.parser import Parser  # noqa: E402

from compiler.context import make_context  # noqa: E402
from lowering.to_llvm import ConvertToLLVMPass  # noqa: E402


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs of onnxruntime (one thread, CPU) for `model` on `feeds`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.fixture(scope="session")
def mlp_proto() -> onnx.ModelProto:
    from examples.make_models import make_mlp

    return make_mlp()


@pytest.fixture(scope="session")
def cnn_proto() -> onnx.ModelProto:
    from examples.make_models import make_cnn

    return make_cnn()


def lower_to_llvm(text: str) -> ModuleOp:
    """Parse memref/scf-level IR text, run convert-to-llvm, and check that the result
    verifies, prints and re-parses."""
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    ConvertToLLVMPass().apply(ctx, module)
    module.verify()
    Parser(make_context(), str(module)).parse_module().verify()
    return module
