"""The models of examples/make_torch_models.py (ResNet-, MobileNetV2-, LSTM-, GRU-, BERT-
and GPT-2-style; BERT has two inputs and two outputs) through both PyTorch paths, against
torch eager to 1e-4 relative: compiler.compile(module, example_inputs=...) and
torch.compile(module, backend="kiln"). BERT and GPT-2 are compiled once with dynamic
(batch, seq) and run at two pairs.

These compile with checks="shapes", not the suite's bounds mode: the graphs are the ones
the ONNX path builds (test_torch_import compares them), and test/models/test_real_models.py
runs those with bounds checks; what is tested here is the frontend. MobileNetV2 (the
slowest compile) goes through torch.compile only with KILN_TORCH_ALL=1.

Needs torch (the `torch` extra): `make torch-ci` runs these; `make unit` does not.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import compiler  # noqa: E402
from compiler.importers.torch.dynamo import KilnFallbackWarning, KilnGraph  # noqa: E402
from compiler.torch_backend import kiln  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.library]

RTOL, ATOL = 1e-4, 1e-5
PAIRS = [(1, 7), (3, 16)]  # (batch, seq) for the token models
STATIC = ["resnet18", "mobilenetv2", "lstm", "gru"]
TOKENS = ["bert", "gpt2"]
OPTIONS = {"checks": "shapes", "threads": 1, "quiet": True}
BACKEND = functools.partial(kiln, **OPTIONS)
DYNAMO = [n for n in STATIC + TOKENS
          if n != "mobilenetv2" or os.environ.get("KILN_TORCH_ALL") == "1"]


def _spec(name: str):
    from examples.make_torch_models import MODELS, build

    return MODELS[name], build(name)


def _inputs(spec, seed: int = 0, shapes=None) -> list:
    return [torch.from_numpy(a) for a in spec.example_inputs(seed, shapes).values()]


def _compare(got, module, args) -> None:
    with torch.no_grad():
        want = module(*args)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    got = [got] if isinstance(got, torch.Tensor) else list(got)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, torch.Tensor) and g.shape == w.shape
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", STATIC)
def test_compile_module(name):
    spec, module = _spec(name)
    model = compiler.compile(module, example_inputs=_inputs(spec), **OPTIONS)
    args = _inputs(spec, seed=1)
    _compare(model(*args), module, args)


@pytest.mark.parametrize("name", TOKENS)
def test_compile_module_dynamic_batch_and_seq(name):
    spec, module = _spec(name)
    batch = torch.export.Dim("batch", min=1, max=8)
    seq = torch.export.Dim("seq", min=2, max=64)
    dynamic = {k: {0: batch, 1: seq} for k in spec.inputs}
    model = compiler.compile(module, example_inputs=_inputs(spec), dynamic_shapes=dynamic,
                             **OPTIONS)
    assert all(s.shape == ("batch", "seq") for s in model.inputs)
    for b, s in PAIRS:
        args = _inputs(spec, seed=b, shapes={k: (b, s) for k in spec.inputs})
        _compare(model(*args), module, args)
    with pytest.raises(compiler.InputError, match="seq"):
        model(*_inputs(spec, shapes={k: (1, 65) for k in spec.inputs}))


@pytest.mark.parametrize("name", DYNAMO)
def test_torch_compile_backend(name):
    """The token models' first call marks batch and seq dynamic (dynamo would specialize
    a batch of 1), so dynamo hands over one dynamic graph and Kiln compiles it once, with
    dynamic dims, for both pairs."""
    spec, module = _spec(name)
    torch._dynamo.reset()
    graphs: list[KilnGraph] = []

    def backend(gm, example_inputs):
        graphs.append(BACKEND(gm, example_inputs))
        return graphs[-1]

    compiled = torch.compile(module, backend=backend)
    pairs = [(2, 7), (3, 16)] if name in TOKENS else [None]
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True), warnings.catch_warnings():
        warnings.simplefilter("error", KilnFallbackWarning)  # Kiln runs every graph
        for n, pair in enumerate(pairs):
            shapes = {k: pair for k in spec.inputs} if pair else None
            args = _inputs(spec, seed=2, shapes=shapes)
            if pair and n == 0:
                for a in args:
                    torch._dynamo.mark_dynamic(a, 0)
                    torch._dynamo.mark_dynamic(a, 1)
            _compare(compiled(*args), module, args)
    assert len(graphs) == 1
    if name in TOKENS:
        assert graphs[0].dynamic is not None and not graphs[0].compiled


def test_torch_compile_caches_per_shape_and_falls_back_with_one_warning():
    calls: list[KilnGraph] = []

    def backend(gm, example_inputs):
        graph = kiln(gm, example_inputs, **OPTIONS)
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
