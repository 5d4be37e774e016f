"""The PyTorch frontend (compiler/importers/torch): small blocks vs torch eager, errors,
dynamic dims and their ranges, weights, and the same graph as the ONNX importer's.

Needs torch (the `torch` extra): `make torch-ci` runs these; `make unit` does not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import compiler  # noqa: E402
from compiler.driver import cache_key, load_graph_module, run_pipeline  # noqa: E402
from compiler.importers.torch import import_torch  # noqa: E402
from compiler.importers.torch.registry import SUPPORTED_OPS  # noqa: E402
from compiler.pipeline import optimize_passes  # noqa: E402
from dialects import weights  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.library]

ROOT = Path(__file__).resolve().parents[2]
RTOL, ATOL = 1e-4, 1e-5


def _eager(module: nn.Module, args) -> list[np.ndarray]:
    with torch.no_grad():
        out = module(*args)
    outs = [out] if isinstance(out, torch.Tensor) else list(out)
    return [o.numpy() for o in outs]


def _check(module: nn.Module, args, **options) -> object:
    model = compiler.compile(module.eval(), example_inputs=args, **options)
    got = model(*args)
    for g, w in zip(got, _eager(module, args), strict=True):
        assert isinstance(g, torch.Tensor)
        np.testing.assert_allclose(g.numpy(), w, rtol=RTOL, atol=ATOL)
    return model


# ------------------------------------------------------------------ torchvision-like blocks


class VisionBlocks(nn.Module):
    """Depthwise-separable conv, a squeeze-and-excitation block, adaptive pooling to 1x1
    and to 2x2, and nearest/bilinear interpolation (by scale and to a size)."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.bn = nn.BatchNorm2d(16)
        self.se1 = nn.Conv2d(16, 4, 1)
        self.se2 = nn.Conv2d(4, 16, 1)

    def forward(self, x):
        y = F.relu6(self.bn(self.pw(self.dw(x))))
        w = torch.sigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(y, 1)))))
        y = y * w
        pooled = F.adaptive_avg_pool2d(y, (2, 2)) + F.adaptive_max_pool2d(y, 2)
        up = F.interpolate(y, scale_factor=2, mode="nearest")
        bi = F.interpolate(y, size=(5, 7), mode="bilinear", align_corners=False)
        ac = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)
        return pooled, up, bi, ac, F.hardswish(y).mean(dim=(2, 3))


def test_vision_blocks_match_eager():
    torch.manual_seed(0)
    module = VisionBlocks().eval()
    with torch.no_grad():
        module.bn.running_mean.normal_(0, 0.1)
        module.bn.running_var.uniform_(0.5, 1.5)
    _check(module, (torch.randn(2, 8, 6, 6),))


class Attention(nn.Module):
    """nn.MultiheadAttention (the math path) and F.scaled_dot_product_attention, causal
    and with an additive mask."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x, mask):
        a = self.mha(x, x, x, need_weights=False)[0]
        q = k = v = x.view(x.shape[0], x.shape[1], 4, 4).transpose(1, 2)
        b = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        c = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return a, b, c


def test_attention_matches_eager():
    torch.backends.mha.set_fastpath_enabled(False)  # the fast path does not export
    torch.manual_seed(1)
    _check(Attention().eval(), (torch.randn(2, 5, 16), torch.randn(5, 5)))


def test_module_with_several_inputs_and_outputs_by_name():
    class Two(nn.Module):
        def forward(self, a, b):
            return a @ b, (a.sum(1, keepdim=True) - b.t()).clamp(min=0.0)

    a, b = torch.randn(3, 4), torch.randn(4, 3)
    model = _check(Two(), (a, b))
    assert [s.name for s in model.inputs] == ["a", "b"]
    got = model.run({"a": a.numpy(), "b": b.numpy()})  # numpy in, numpy out
    assert list(got) == ["output_0", "output_1"] and isinstance(got["output_0"], np.ndarray)


def test_exported_program_compiles():
    module = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)).eval()
    x = torch.randn(3, 4)
    model = compiler.compile(torch.export.export(module, (x,)))
    np.testing.assert_allclose(model(x)[0].numpy(), _eager(module, (x,))[0], rtol=RTOL,
                               atol=ATOL)


# ------------------------------------------------------------------ weights


def test_parameters_are_weights_sharing_storage():
    module = nn.Linear(64, 32).eval()
    graph = import_torch(module, (torch.randn(2, 64),))
    store = weights.store_for(graph)
    assert store is not None and "weight" in store and "bias" in store
    assert np.shares_memory(store["weight"], module.weight.detach().numpy())
    text = str(graph)
    assert 'graph.weight "weight"' in text and "dense<" not in text  # never IR text


def test_torch_model_is_not_cached():
    assert cache_key(nn.Linear(2, 2), "cpu", None, True, "shapes", 1) is None


# ------------------------------------------------------------------ dynamic shapes


def test_dynamic_dims_are_named_and_their_ranges_checked():
    module = nn.Sequential(nn.Linear(8, 4), nn.Tanh()).eval()
    batch = torch.export.Dim("batch", min=2, max=16)
    model = _check(module, (torch.randn(3, 8),), dynamic_shapes=({0: batch},))
    assert model.inputs[0].shape == ("batch", 8)
    assert model.outputs[0].shape == ("batch", 4)
    x = torch.randn(11, 8)
    np.testing.assert_allclose(model(x)[0].numpy(), _eager(module, (x,))[0], rtol=RTOL,
                               atol=ATOL)
    with pytest.raises(compiler.InputError, match=r"dim 0 \('batch'\) is 17.*2 <= batch <= 16"):
        model(torch.randn(17, 8))


def test_an_exported_programs_dims_keep_their_names():
    """torch.export records each Dim's name with the program: compile(program) shows it
    in the signature and the outputs' dims, and its range is checked, as for a module."""
    class Scores(nn.Module):
        def forward(self, q, k):
            return (q @ k.transpose(1, 2)).softmax(-1), q.sum(1)

    batch, seq = torch.export.Dim("batch", max=8), torch.export.Dim("seq", max=64)
    dims = {"q": {0: batch, 1: seq}, "k": {0: batch, 1: seq}}
    program = torch.export.export(Scores(), (torch.randn(2, 5, 4), torch.randn(2, 5, 4)),
                                  dynamic_shapes=dims)
    model = compiler.compile(program, quiet=True, threads=1)
    assert [s.shape for s in model.inputs] == [("batch", "seq", 4)] * 2
    assert [s.shape for s in model.outputs] == [("batch", "seq", "seq"), ("batch", 4)]
    q, k = torch.randn(3, 7, 4), torch.randn(3, 7, 4)
    for g, w in zip(model(q, k), _eager(Scores(), (q, k)), strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=RTOL, atol=ATOL)
    with pytest.raises(compiler.InputError, match=r"'seq'\) is 65"):
        model(torch.randn(1, 65, 4), torch.randn(1, 65, 4))


# ------------------------------------------------------------------ errors


class Unsupported(nn.Module):
    def forward(self, x):
        y = torch.cumprod(x, 1)  # unsupported-1
        return torch.linalg.inv(y @ y.transpose(0, 1)) + y.sum()  # unsupported-2


def test_every_unsupported_op_is_listed_with_its_source_line():
    with pytest.raises(compiler.CompileError) as info:
        compiler.compile(Unsupported(), example_inputs=(torch.randn(3, 3),))
    error = info.value
    ops = {u.op_type for u in error.unsupported}
    assert "aten.cumprod.default" in ops and len(error.unsupported) >= 2
    message = str(error)
    assert "unsupported ATen operators" in message
    assert "test_torch_import.py" in message and "unsupported-1" in message
    assert "unsupported-2" in message


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


def test_data_dependent_control_flow_says_what_to_do():
    with pytest.raises(compiler.CompileError) as info:
        compiler.compile(DataDependent(), example_inputs=(torch.randn(4),))
    message = str(info.value)
    assert message.startswith("torch.export could not export DataDependent")
    assert "torch.where" in message and "What to do" in message


def test_example_inputs_are_required_and_only_for_torch():
    with pytest.raises(compiler.CompileError, match="needs example_inputs"):
        compiler.compile(nn.ReLU())
    with pytest.raises(compiler.CompileError, match="are for a torch.nn.Module"):
        compiler.compile(str(ROOT / "examples/models/mlp.onnx"), example_inputs=(1,))


def test_training_mode_batch_norm_is_refused_clearly():
    class Train(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            return F.batch_norm(x, self.bn.running_mean, self.bn.running_var, training=True)

    with pytest.raises(compiler.CompileError, match="model.eval"):
        compiler.compile(Train(), example_inputs=(torch.randn(3, 4),))


# ------------------------------------------------------------------ one graph, two importers


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2"])
def test_same_optimized_graph_as_the_onnx_importer(name):
    """examples/models/<name>.onnx is the same module (same seed) exported to ONNX."""
    from examples.make_torch_models import MODELS, build

    spec = MODELS[name]
    args = tuple(torch.from_numpy(a) for a in spec.example_inputs().values())
    kinds = []
    for module in (import_torch(build(name), args),
                   load_graph_module(str(ROOT / "examples" / "models" / f"{name}.onnx"))):
        run_pipeline(module, optimize_passes())
        kinds.append(Counter(op.name for op in module.walk() if op.name.startswith("graph.")))
    assert kinds[0] == kinds[1]


# ------------------------------------------------------------------ no ONNX on this path


def test_the_torch_path_never_imports_onnx(tmp_path):
    """In a fresh process: compile() of a module and torch.compile(backend="kiln") found by
    name through the installed entry point (run outside the checkout, so only the
    installed metadata counts), and no onnx module loaded."""
    script = textwrap.dedent("""
        import sys
        import torch
        import compiler
        model = compiler.compile(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()),
                                 example_inputs=(torch.randn(3, 4),))
        assert model(torch.randn(3, 4))[0].shape == (3, 2)
        compiled = torch.compile(torch.nn.Linear(4, 2), backend="kiln")
        assert compiled(torch.randn(3, 4)).shape == (3, 2)
        loaded = sorted(m for m in sys.modules if m == "onnx" or m.startswith("onnx."))
        print("ONNX:", loaded)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"KILN_CACHE": "0"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ONNX: []" in done.stdout


def test_supported_ops_cover_the_core_families():
    for op in ("aten.convolution.default", "aten.addmm.default", "aten.native_layer_norm.default",
               "aten._softmax.default", "aten.lstm.input", "aten.view.default"):
        assert op in SUPPORTED_OPS
