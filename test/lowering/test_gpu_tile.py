"""gpu-tile-contractions without a GPU: the tiled kernels run in the SIMT simulator
(test/gpu_simt.py: lockstep threads, every access bounds-checked, barriers checked for
uniformity) and match numpy for edge tiles, partial K slices, batches, transposed
operands, a strided and dilated conv and every tile size."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_simt import Machine, SimtError
from xdsl.dialects.builtin import ModuleOp, NoneAttr
from xdsl.parser import Parser

from compiler.context import make_context
from lowering.gpu_tile import GpuTileContractionsPass


def _contraction(args: str, maps: list[str], iters: str, ins: str, outs: str,
                 acc_first: bool = True) -> str:
    """A module whose @main runs one multiply-accumulate linalg.generic."""
    add = "%acc, %p" if acc_first else "%p, %acc"
    return f"""
builtin.module {{
  func.func @main({args}) {{
    linalg.generic {{indexing_maps = [{", ".join(f"affine_map<{m}>" for m in maps)}],
        iterator_types = [{iters}]}} ins({ins}) outs({outs}) {{
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %p = arith.mulf %x, %y : f32
      %s = arith.addf {add} : f32
      linalg.yield %s : f32
    }}
    func.return
  }}
}}
"""


MATMUL = _contraction(
    "%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>",
    ["(d0, d1, d2) -> (d0, d2)", "(d0, d1, d2) -> (d2, d1)", "(d0, d1, d2) -> (d0, d1)"],
    '"parallel", "parallel", "reduction"',
    "%a, %b : memref<?x?xf32>, memref<?x?xf32>", "%c : memref<?x?xf32>")

# C[b, n, m] = sum_k A[b, k, m] * B[n, k]: a batch, A transposed, B along k, output's
# last dim private to A (the roles swap), a static K of 48 (no partial slice)
BATCHED_T = _contraction(
    "%a: memref<?x48x?xf32>, %b: memref<?x48xf32>, %c: memref<?x?x?xf32>",
    ["(d0, d1, d2, d3) -> (d0, d3, d2)", "(d0, d1, d2, d3) -> (d1, d3)",
     "(d0, d1, d2, d3) -> (d0, d1, d2)"],
    '"parallel", "parallel", "parallel", "reduction"',
    "%a, %b : memref<?x48x?xf32>, memref<?x48xf32>", "%c : memref<?x?x?xf32>",
    acc_first=False)

# NCHW conv, stride 2, dilation 2 over an already padded input: out[n, f, i, j] +=
# x[n, c, 2i + 2u, 2j + 2v] * w[f, c, u, v]
CONV = _contraction(
    "%in: memref<?x3x11x13xf32>, %w: memref<20x3x3x3xf32>, %c: memref<?x20x3x4xf32>",
    ["(d0, d1, d2, d3, d4, d5, d6) -> (d0, d4, d2 * 2 + d5 * 2, d3 * 2 + d6 * 2)",
     "(d0, d1, d2, d3, d4, d5, d6) -> (d1, d4, d5, d6)",
     "(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)"],
    '"parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"',
    "%in, %w : memref<?x3x11x13xf32>, memref<20x3x3x3xf32>", "%c : memref<?x20x3x4xf32>")


def _tiled(text: str, **options) -> ModuleOp:
    module = Parser(make_context(), text).parse_module()
    GpuTileContractionsPass(**options).apply(make_context(), module)
    module.verify()
    return module


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max(
        initial=0.0)))


@pytest.mark.parametrize("m, n, k", [(37, 45, 70), (32, 32, 16), (1, 70, 5), (40, 3, 33),
                                     (5, 6, 0)])
def test_matmul_with_edge_tiles_matches_numpy(m, n, k):
    machine = Machine(_tiled(MATMUL))
    a, b, c = _rand(m, k), _rand(k, n, seed=1), _rand(m, n, seed=2)
    want = c.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    machine.call("main", a, b, c)
    _close(c, want)
    assert machine.launches == 1
    assert machine.barriers > 0 or k == 0 or m * n == 0


@pytest.mark.parametrize("tile, k_tile", [(16, 16), (64, 32)])
def test_other_tile_sizes(tile, k_tile):
    machine = Machine(_tiled(MATMUL, tile=tile, k_tile=k_tile))
    a, b, c = _rand(70, 41), _rand(41, 66, seed=1), np.zeros((70, 66), np.float32)
    machine.call("main", a, b, c)
    _close(c, a.astype(np.float64) @ b)


def test_batched_transposed_operands():
    machine = Machine(_tiled(BATCHED_T))
    a, b = _rand(3, 48, 35), _rand(19, 48, seed=1)
    c = np.zeros((3, 19, 35), np.float32)
    machine.call("main", a, b, c)
    _close(c, np.einsum("bkm,nk->bnm", a.astype(np.float64), b))


def test_strided_dilated_conv():
    machine = Machine(_tiled(CONV))
    x, w = _rand(2, 3, 11, 13), _rand(20, 3, 3, 3, seed=1)
    c = np.zeros((2, 20, 3, 4), np.float32)
    want = np.zeros(c.shape)
    for u in range(3):
        for v in range(3):
            patch = x[:, :, 2 * u: 2 * u + 5: 2, 2 * v: 2 * v + 7: 2].astype(np.float64)
            want += np.einsum("nchw,fc->nfhw", patch, w[:, :, u, v])
    machine.call("main", x, w, c)
    _close(c, want)


def test_the_simulator_catches_an_out_of_bounds_store():
    """The checks are not vacuous: a kernel writing past its buffer fails."""
    module = _tiled(MATMUL)
    from xdsl.dialects import arith, memref

    stores = [o for o in module.walk() if isinstance(o, memref.StoreOp)]
    store = next(o for o in stores if o.memref.type.memory_space == NoneAttr())
    guard = store.parent_op()
    assert guard is not None
    # store unguarded at an index one past the end
    bump = arith.ConstantOp.from_int_and_width(40, store.indices[0].type)
    bumped = arith.AddiOp(store.indices[0], bump)
    store.parent_block().insert_ops_before([bump, bumped], store)
    store.operands = [store.operands[0], store.operands[1], bumped.result, *store.indices[1:]]
    with pytest.raises(SimtError, match="out of bounds"):
        Machine(module).call("main", _rand(8, 4), _rand(4, 8), np.zeros((8, 8), np.float32))
