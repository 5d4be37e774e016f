"""Run-time checks (cf.assert) in native code surface as Python InputErrors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lower_to_llvm as lower

from compiler.errors import InputError
from compiler.runtime.abi import Invoker
from compiler.runtime.jit import JITEngine
from lowering.llvm_asserts import assert_messages

CHECKED = """
func.func private @checked_sum(%a: memref<?xf32>, %limit: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %n = memref.dim %a, %c0 : memref<?xf32>
  %small = arith.cmpi sle, %n, %limit : index
  cf.assert %small, "the input has more elements than the limit"
  %s = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (f32) {
    %x = memref.load %a[%i] : memref<?xf32>
    %nonneg = arith.cmpf oge, %x, %zero : f32
    cf.assert %nonneg, "negative element"
    %t = arith.addf %acc, %x : f32
    scf.yield %t : f32
  }
  func.return %s : f32
}

func.func @main(%a: memref<?xf32>) -> memref<1xf32> {
  %c0 = arith.constant 0 : index
  %limit = arith.constant 8 : index
  %s = func.call @checked_sum(%a, %limit) : (memref<?xf32>, index) -> f32
  %out = memref.alloc() : memref<1xf32>
  memref.store %s, %out[%c0] : memref<1xf32>
  func.return %out : memref<1xf32>
}
"""


@pytest.fixture(scope="module")
def checked():
    module = lower(CHECKED)
    messages = assert_messages(module)
    engine = JITEngine(module)
    invoker = Invoker(engine.address_of("_kiln_entry_main"), [(np.dtype("float32"), 1)],
                      [(np.dtype("float32"), 1)], messages)
    return engine, invoker, messages


def test_messages_are_recorded_in_order(checked):
    _, _, messages = checked
    # convert-to-llvm adds its own check after each allocation (malloc must not fail)
    ours = [m for m in messages if not m.startswith("out of memory")]
    assert ours == ["the input has more elements than the limit", "negative element"]
    assert "out of memory: cannot allocate {0} bytes" in messages


def test_passing_checks_return_results(checked):
    _, invoker, _ = checked
    (out,) = invoker(np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(out, [10.0])


def test_failing_top_level_check_raises(checked):
    _, invoker, _ = checked
    with pytest.raises(InputError, match="more elements than the limit"):
        invoker(np.ones(9, np.float32))


def test_failing_check_inside_a_loop_and_a_callee_raises(checked):
    _, invoker, _ = checked
    with pytest.raises(InputError, match="run-time check failed: negative element"):
        invoker(np.array([1, 2, -3], np.float32))
    # the invoker stays usable after a failure
    (out,) = invoker(np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(out, [6.0])
