"""gpu-block-reductions without a GPU: the block-per-output kernels run in the SIMT
simulator (test/gpu_simt.py) and match numpy for short, long and dynamic rows, several
reduction dims, max/sum/product combiners and inputs read once per output; what must stay
a loop nest stays one."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_simt import Machine
from xdsl.dialects.linalg.ops import GenericOp
from xdsl.parser import Parser

from compiler.context import make_context
from lowering.gpu_reduce import GpuBlockReductionsPass, block_threads


def _module(args: str, maps: list[str], iters: str, ins: str, outs: str, body: str,
            types: str = "f32, f32") -> str:
    return f"""
builtin.module {{
  func.func @main({args}) {{
    linalg.generic {{indexing_maps = [{", ".join(f"affine_map<{m}>" for m in maps)}],
        iterator_types = [{iters}]}} ins({ins}) outs({outs}) {{
    ^bb0({", ".join(f"%a{i}: {t.strip()}" for i, t in enumerate(types.split(",")))}):
{body}
    }}
    func.return
  }}
}}
"""


# rows of exp(x - m) summed (softmax's denominator): x walks the row, m is read once
SUM_EXP = _module(
    "%x: memref<?x?xf32>, %m: memref<?xf32>, %s: memref<?xf32>",
    ["(d0, d1) -> (d0, d1)", "(d0, d1) -> (d0)", "(d0, d1) -> (d0)"],
    '"parallel", "reduction"', "%x, %m : memref<?x?xf32>, memref<?xf32>",
    "%s : memref<?xf32>", """      %d = arith.subf %a0, %a1 : f32
      %e = math.exp %d : f32
      %r = arith.addf %a2, %e : f32
      linalg.yield %r : f32""", "f32, f32, f32")

# max over H and W of NCHW (a global max pool, keeping unit dims): two reduction dims, a
# static K of 77
MAX_HW = _module(
    "%x: memref<?x3x7x11xf32>, %y: memref<?x3x1x1xf32>",
    ["(d0, d1, d2, d3) -> (d0, d1, d2, d3)", "(d0, d1, d2, d3) -> (d0, d1, 0, 0)"],
    '"parallel", "parallel", "reduction", "reduction"', "%x : memref<?x3x7x11xf32>",
    "%y : memref<?x3x1x1xf32>", """      %r = arith.maximumf %a1, %a0 : f32
      linalg.yield %r : f32""")

# a column sum: the reduction is not along the contiguous dim
COLUMNS = _module(
    "%x: memref<?x?xf32>, %y: memref<?xf32>",
    ["(d0, d1) -> (d1, d0)", "(d0, d1) -> (d0)"], '"parallel", "reduction"',
    "%x : memref<?x?xf32>", "%y : memref<?xf32>", """      %r = arith.addf %a1, %a0 : f32
      linalg.yield %r : f32""")


def _reduced(text: str):
    module = Parser(make_context(), text).parse_module()
    GpuBlockReductionsPass().apply(make_context(), module)
    module.verify()
    return module


@pytest.mark.parametrize("rows, length", [(5, 300), (3, 7), (4, 256), (2, 1), (3, 0),
                                          (0, 9)])
def test_row_sums_of_exp_match_numpy(rows, length):
    machine = Machine(_reduced(SUM_EXP))
    rng = np.random.default_rng(length)
    x = rng.standard_normal((rows, length)).astype(np.float32)
    m = rng.standard_normal(rows).astype(np.float32)
    s = rng.standard_normal(rows).astype(np.float32)
    want = s + np.exp(x.astype(np.float64) - m[:, None]).sum(axis=1)
    machine.call("main", x, m, s)
    np.testing.assert_allclose(s, want, rtol=1e-5)
    assert machine.launches == 1


def test_max_over_two_dims():
    module = _reduced(MAX_HW)
    assert not any(isinstance(o, GenericOp) for o in module.walk())
    machine = Machine(module)
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 11)).astype(np.float32)
    y = np.full((2, 3, 1, 1), -np.inf, np.float32)
    machine.call("main", x, y)
    np.testing.assert_array_equal(y, x.max(axis=(2, 3), keepdims=True))


def test_column_sums_stay_a_loop_nest():
    module = _reduced(COLUMNS)
    assert sum(isinstance(o, GenericOp) for o in module.walk()) == 1


def test_block_size_follows_a_static_length():
    assert [block_threads(n) for n in (32, 33, 77, 256, 1000, None)] == [32, 64, 128, 256,
                                                                        256, 256]
