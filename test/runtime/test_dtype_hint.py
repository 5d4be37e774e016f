"""The wrong-dtype input error names the conversion that exists: numpy's dtype for the
numpy types, ml_dtypes' for bfloat16 / float8 / float4 / 4- and 2-bit integers."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper

import compiler
from compiler.errors import InputError


def _identity(elem: int):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", elem, [2])],
                              [helper.make_tensor_value_info("y", elem, [2])])
    return compiler.compile(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21)]))


@pytest.mark.parametrize("elem,module,name", [
    (TensorProto.FLOAT, "np", "float32"), (TensorProto.BFLOAT16, "ml_dtypes", "bfloat16"),
    (TensorProto.FLOAT8E4M3FN, "ml_dtypes", "float8_e4m3fn"),
    (TensorProto.INT4, "ml_dtypes", "int4")])
def test_dtype_error_names_a_conversion_that_exists(elem, module, name):
    assert hasattr(np if module == "np" else ml_dtypes, name)
    with pytest.raises(InputError, match=rf"input 'x' has dtype float64, expected {name} "
                                         rf"\(convert it with \.astype\({module}\.{name}\)"):
        _identity(elem)(x=np.zeros(2, np.float64))
