"""What the model tests of the PyTorch frontend share (test_torch_models: compile(module);
test_torch_dynamo: torch.compile(backend="kiln")): the models of
examples/make_torch_models.py, their inputs, the comparison with torch eager.

What is tested there is the frontend, so the models are their shallow variants (SHALLOW:
one block per ResNet stage, at most two per MobileNetV2 stage, one BERT/GPT-2 layer:
every block and op kind of the full model), compiled with checks="shapes", not the
suite's bounds mode, and the conv models without the generated GEMM kernels (naive
loops: LLVM spends four fifths of their compile on those kernels). The full-depth models
are the ones examples/models/*.onnx hold: test_torch_import compares their optimized
graphs from both importers, and test/models/test_real_models.py runs those, with the
kernels and bounds checks. KILN_TORCH_ALL=1 runs the full-depth models, with the
kernels, here too.
"""

from __future__ import annotations

import os

import numpy as np
import torch

RTOL, ATOL = 1e-4, 1e-5
PAIRS = [(1, 7), (3, 16)]  # (batch, seq) for the token models
STATIC = ["resnet18", "mobilenetv2", "lstm", "gru"]
TOKENS = ["bert", "gpt2"]
FULL = os.environ.get("KILN_TORCH_ALL") == "1"
CONV = ("resnet18", "mobilenetv2")


def options(name: str) -> dict:
    """compile()'s options for model `name` (see above)."""
    return {"checks": "shapes", "threads": 1, "quiet": True,
            "kernels": FULL or name not in CONV}


def model_spec(name: str):
    """(ModelSpec, seeded module) of model `name`."""
    from examples.make_torch_models import MODELS, build, build_shallow

    return MODELS[name], (build if FULL else build_shallow)(name)


def model_inputs(spec, seed: int = 0, shapes=None) -> list:
    return [torch.from_numpy(a) for a in spec.example_inputs(seed, shapes).values()]


def compare(got, module, args) -> None:
    """Kiln's outputs `got` match `module(*args)` in eager mode to RTOL/ATOL."""
    with torch.no_grad():
        want = module(*args)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    got = [got] if isinstance(got, torch.Tensor) else list(got)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, torch.Tensor) and g.shape == w.shape
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=RTOL, atol=ATOL)
