"""torch.compile(module, backend="kiln") on the models of examples/make_torch_models.py
(model_cases.py: which, and with what options) against torch eager to 1e-4 relative:
every graph dynamo hands over compiled by Kiln; the token models' one dynamic graph
compiled once for two (batch, seq) pairs; per-shape caching and the one fallback warning.

Needs torch (the `torch` extra): `make torch-ci` runs these; `make unit` does not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_frontend import model_cases as cases  # noqa: E402

from compiler.importers.torch.dynamo import KilnFallbackWarning, KilnGraph  # noqa: E402
from compiler.torch_backend import kiln  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.library]


@pytest.mark.parametrize("name", cases.STATIC + cases.TOKENS)
def test_torch_compile_backend(name):
    """The token models' first call marks batch and seq dynamic (dynamo would specialize
    a batch of 1), so dynamo hands over one dynamic graph and Kiln compiles it once, with
    dynamic dims, for both pairs."""
    spec, module = cases.model_spec(name)
    torch._dynamo.reset()
    graphs: list[KilnGraph] = []

    def backend(gm, example_inputs):
        graphs.append(kiln(gm, example_inputs, **cases.options(name)))
        return graphs[-1]

    compiled = torch.compile(module, backend=backend)
    pairs = [(2, 7), (3, 16)] if name in cases.TOKENS else [None]
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True), warnings.catch_warnings():
        warnings.simplefilter("error", KilnFallbackWarning)  # Kiln runs every graph
        for n, pair in enumerate(pairs):
            shapes = {k: pair for k in spec.inputs} if pair else None
            args = cases.model_inputs(spec, seed=2, shapes=shapes)
            if pair and n == 0:
                for a in args:
                    torch._dynamo.mark_dynamic(a, 0)
                    torch._dynamo.mark_dynamic(a, 1)
            cases.compare(compiled(*args), module, args)
    assert len(graphs) == 1
    if name in cases.TOKENS:
        assert graphs[0].dynamic is not None and not graphs[0].compiled


def test_torch_compile_caches_per_shape_and_falls_back_with_one_warning():
    calls: list[KilnGraph] = []

    def backend(gm, example_inputs):
        graph = kiln(gm, example_inputs, **cases.options("plain"))
        calls.append(graph)
        return graph

    class Mixed(torch.nn.Module):
        def forward(self, x):
            return torch.cumprod(torch.tanh(x) * 2.0, 0)  # cumprod: not in Kiln

    class Plain(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x) + 1.0

    torch._dynamo.reset()
    plain = torch.compile(Plain(), backend=backend, dynamic=False)
    for n in (3, 4, 3):
        x = torch.randn(n, 5)
        np.testing.assert_allclose(plain(x).numpy(), (torch.relu(x) + 1.0).numpy())
    assert sum(len(c.compiled) for c in calls) == 2  # one Kiln compile per shape

    torch._dynamo.reset()
    mixed = torch.compile(Mixed(), backend=backend)
    x = torch.randn(4, 3)
    with pytest.warns(KilnFallbackWarning, match="aten.cumprod.default") as record:
        got = mixed(x)
        mixed(x)
    assert len([w for w in record if w.category is KilnFallbackWarning]) == 1
    np.testing.assert_allclose(got.numpy(), torch.cumprod(torch.tanh(x) * 2.0, 0).numpy(),
                               rtol=1e-6)
