"""ATen ops users hit, each against torch eager: adaptive pooling to sizes that do not
divide the input, max pooling with its indices, division with a rounding mode (floats
and integers) and remainder, indexing with several index tensors and boolean masks, and
torch.cond (graph.if).

Needs torch (the `torch` extra): `make torch-ci` runs these; `make unit` does not.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import compiler  # noqa: E402
from compiler.importers.torch import import_torch  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.library]

RTOL, ATOL = 1e-5, 1e-6


def _check(module: nn.Module, args, **options) -> object:
    """compile() of `module` matches eager on `args` (exactly for integer results)."""
    module = module.eval()
    model = compiler.compile(module, example_inputs=args, checks="shapes", threads=1,
                             quiet=True, **options)
    got = model(*args)
    with torch.no_grad():
        want = module(*args)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype and g.shape == w.shape, (i, g.dtype, w.dtype, g.shape)
        if w.dtype.is_floating_point:
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"output {i}")
    return model


def _ops(module: nn.Module, args) -> set[str]:
    return {op.name for op in import_torch(module.eval(), args).walk()}


class Pooling(nn.Module):
    def forward(self, x, s):
        avg = F.adaptive_avg_pool2d(x, (3, 4))  # 7 -> 3 and 10 -> 4: overlapping bins
        mx = F.adaptive_max_pool2d(x, (5, 3))
        one = F.adaptive_avg_pool1d(s, 4)  # 9 -> 4
        half = F.adaptive_avg_pool2d(x, (7, 5))  # H kept, W divides
        values, indices = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
        return avg, mx, one, half, values, indices


def test_adaptive_pooling_to_sizes_that_do_not_divide_and_max_pool_indices():
    torch.manual_seed(0)
    args = (torch.randn(2, 3, 7, 10), torch.randn(2, 3, 9))
    _check(Pooling(), args)
    assert "graph.max_pool_indices" in _ops(Pooling(), args)


def test_max_pool_indices_are_not_built_when_unused():
    class Values(nn.Module):
        def forward(self, x):
            return F.max_pool2d(x, 2, return_indices=True)[0]

    assert "graph.max_pool_indices" not in _ops(Values(), (torch.randn(1, 2, 4, 4),))


class Division(nn.Module):
    def forward(self, a, b, i, j):
        return (torch.div(a, b, rounding_mode="trunc"), torch.div(a, b, rounding_mode="floor"),
                torch.div(i, j, rounding_mode="trunc"), torch.div(i, j, rounding_mode="floor"),
                i // 3, torch.div(i, -4, rounding_mode="floor"), torch.remainder(i, j),
                torch.remainder(a, b), torch.fmod(i, j))


def test_rounding_mode_division_and_remainder():
    torch.manual_seed(1)
    a, b = torch.randn(4, 6) * 10, torch.randn(4, 6)
    i = torch.randint(-20, 20, (4, 6))
    j = torch.randint(1, 7, (4, 6)) * torch.where(torch.rand(4, 6) < 0.5, -1, 1)
    _check(Division(), (a, b, i, j))


class Indexing(nn.Module):
    def forward(self, x, r, c, mask, rows):
        return (x[r, c],  # [2, 3] broadcast with [3]: the indexed dims lead
                x[:, r, c],  # adjacent, after a sliced dim: they stay in place
                x[r, :, c],  # not adjacent: the indexed dims go in front
                x[mask],  # a boolean mask over the leading dims
                x[:, :, rows.sum(0) > 0])  # a mask over one trailing dim


def test_indexing_with_several_index_tensors_and_boolean_masks():
    torch.manual_seed(2)
    x = torch.randn(4, 5, 6)
    r = torch.tensor([[0, 3, -1], [2, 1, 0]])
    c = torch.tensor([1, -2, 3])
    mask = torch.rand(4, 5) < 0.5
    rows = torch.randn(3, 6)
    _check(Indexing(), (x, r, c, mask, rows))


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, y):
        def then(a, b):
            return self.lin(a) + b, a * 2.0

        def otherwise(a, b):
            return a - b, torch.relu(a)

        return torch.cond(x.sum() > 0, then, otherwise, (x, y))


def test_torch_cond_is_graph_if():
    torch.manual_seed(3)
    module = Branches().eval()
    x, y = torch.randn(3, 4).abs(), torch.randn(3, 4)
    model = _check(module, (x, y))
    assert "graph.if" in _ops(module, (x, y))
    got = model(-x, y)  # the other branch, same compiled model
    with torch.no_grad():
        want = module(-x, y)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=RTOL, atol=ATOL)
