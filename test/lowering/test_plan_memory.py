"""plan-memory: placement never lets two buffers that are alive together share bytes, and
a model with planned temporaries computes exactly what it computes without the plan."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler import driver
from lowering.plan_memory import ALIGNMENT, Lifetime, place


def _lifetime(start: int, end: int, nbytes: int) -> Lifetime:
    return Lifetime(None, None, start, end, nbytes)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(20))
def test_placement_is_disjoint_for_overlapping_lifetimes(seed):
    rng = np.random.default_rng(seed)
    buffers = []
    for _ in range(int(rng.integers(1, 40))):
        start = int(rng.integers(0, 100))
        buffers.append(_lifetime(start, start + int(rng.integers(1, 30)),
                                 ALIGNMENT * int(rng.integers(1, 100))))
    offsets, size = place(buffers)
    for a, b in itertools.combinations(buffers, 2):
        if a.overlaps(b):
            assert offsets[a] + a.nbytes <= offsets[b] or offsets[b] + b.nbytes <= offsets[a]
    assert all(offsets[b] % ALIGNMENT == 0 and offsets[b] + b.nbytes <= size for b in buffers)
    # never more than all of them side by side, never less than the most alive at once
    most_alive = max(sum(b.nbytes for b in buffers if b.start <= t <= b.end)
                     for t in range(0, 130))
    assert most_alive <= size <= sum(b.nbytes for b in buffers)


def test_buffers_alive_one_after_another_share_bytes():
    first, second = _lifetime(0, 2, 4096), _lifetime(3, 5, 4096)
    offsets, size = place([first, second])
    assert offsets[first] == offsets[second] == 0 and size == 4096


def _chain_model() -> onnx.ModelProto:
    """Six 1x8x48x48 (72 KiB) conv/relu temporaries, so several go into the arena."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
                                       * 0.1, f"w{i}") for i in range(3)]
    nodes, last = [], "x"
    for i in range(3):
        nodes += [helper.make_node("Conv", [last, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        last = f"r{i}"
    nodes.append(helper.make_node("Add", ["r0", last], ["y"]))
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 48, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 48, 48])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_planned_model_matches_the_unplanned_one(monkeypatch):
    x = np.random.default_rng(1).standard_normal((1, 8, 48, 48)).astype(np.float32)
    planned = compiler.compile(_chain_model(), cache=False, checks="shapes")  # bounds: slow JIT
    assert planned.stats.arena_bytes >= 2 * 8 * 48 * 48 * 4
    assert planned.stats.peak_bytes >= planned.stats.arena_bytes
    lower = driver.lower_passes
    monkeypatch.setattr(driver, "lower_passes", lambda *a: [
        p for p in lower(*a) if p.name != "plan-memory"])
    unplanned = compiler.compile(_chain_model(), cache=False, checks="shapes")
    assert unplanned.stats.arena_bytes == 0
    for _ in range(2):  # the second call reuses the first call's freed memory
        np.testing.assert_array_equal(planned(x)[0], unplanned(x)[0])
