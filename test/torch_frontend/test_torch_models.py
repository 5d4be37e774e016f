"""The models of examples/make_torch_models.py (ResNet-, MobileNetV2-, LSTM-, GRU-, BERT-
and GPT-2-style; BERT has two inputs and two outputs) through compiler.compile(module,
example_inputs=...), against torch eager to 1e-4 relative. BERT and GPT-2 are compiled
once with dynamic (batch, seq) and run at two pairs. Which models and options:
model_cases.py; torch.compile of the same models: test_torch_dynamo.py.

Needs torch (the `torch` extra): `make torch-ci` runs these; `make unit` does not.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch_frontend import model_cases as cases  # noqa: E402

import compiler  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.library]


@pytest.mark.parametrize("name", cases.STATIC)
def test_compile_module(name):
    spec, module = cases.model_spec(name)
    model = compiler.compile(module, example_inputs=cases.model_inputs(spec), **cases.options(name))
    args = cases.model_inputs(spec, seed=1)
    cases.compare(model(*args), module, args)


@pytest.mark.parametrize("name", cases.TOKENS)
def test_compile_module_dynamic_batch_and_seq(name):
    spec, module = cases.model_spec(name)
    batch = torch.export.Dim("batch", min=1, max=8)
    seq = torch.export.Dim("seq", min=2, max=64)
    dynamic = {k: {0: batch, 1: seq} for k in spec.inputs}
    model = compiler.compile(module, example_inputs=cases.model_inputs(spec),
                             dynamic_shapes=dynamic, **cases.options(name))
    assert all(s.shape == ("batch", "seq") for s in model.inputs)
    for b, s in cases.PAIRS:
        args = cases.model_inputs(spec, seed=b, shapes={k: (b, s) for k in spec.inputs})
        cases.compare(model(*args), module, args)
    with pytest.raises(compiler.InputError, match="seq"):
        model(*cases.model_inputs(spec, shapes={k: (1, 65) for k in spec.inputs}))
