"""Build the models of `bench-tool --suite realistic`: common architectures at real sizes.

    python -m examples.make_bench_models [--out DIR] [--only NAME ...] [--force] [--list]

writes DIR/<name>.onnx (default examples/bench_models/, git-ignored) for each of MODELS:

* resnet18     torchvision resnet18 (full width, 1000 classes), input [1, 3, 224, 224]
* mobilenetv2  torchvision mobilenet_v2 (width 1.0, 1000 classes), input [1, 3, 224, 224]
* lstm         nn.LSTM(256, 256, num_layers=2) over [seq 32, batch 4, 256] (ONNX LSTM ops)
* bert_tiny    BERT encoder: 2 layers, hidden 128, 2 heads, FFN 512, seq 128, batch 1
* gpt2_tiny    GPT-2 decoder: 2 blocks, hidden 128, 4 heads, causal mask, seq 64, batch 1
* mlp          784-512-256-10 with ReLU, batch 64

Every model has random weights from a fixed seed and static input shapes (no symbolic
dims), so each compiles for exactly the benchmark size. The architectures come from
torchvision (through `examples.make_library_models`, which knows how to import it beside
the CPU torch build) and from `examples.make_torch_models` (BERT, GPT-2). BatchNorm running
statistics are calibrated on random images (torchvision's defaults with random weights make
the logits vanish); LayerNorm and embedding weights are randomized. BERT and GPT-2 use a
vocabulary of VOCAB tokens: the table size does not change the encoder's work, and a
50k-token LM head would make the GPT-2 benchmark one large GEMM.

Each model is exported in eval mode with the TorchScript exporter (`dynamo=False`) at
opset 17 and checked against PyTorch with onnxruntime (relative error <= 1e-4) before it is
written. Needs torch==2.13.0 and torchvision (`make library-setup`).

Importable without torch: `from examples.make_bench_models import MODELS, feeds, ensure`;
only building a model (`export`, `ensure`, `main`) imports torch.
"""

from __future__ import annotations

import argparse
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

OPSET = 17
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_models")
VOCAB = 1000
SEED = 0

Shape = tuple[int, ...]


@dataclass(frozen=True)
class BenchModel:
    """One benchmark model: how to build it (torch) and what its static inputs are."""

    name: str
    make: Callable[[], Any]  # -> a seeded torch.nn.Module in eval mode
    inputs: dict[str, tuple[Shape, str]]  # input name -> (shape, kind: float, ids or mask)
    outputs: tuple[str, ...]
    description: str = ""

    def feeds(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Inputs of the benchmark size: N(0, 1) floats, token ids in [0, VOCAB), masks of 1."""
        rng = np.random.default_rng(seed)
        result: dict[str, np.ndarray] = {}
        for name, (shape, kind) in self.inputs.items():
            if kind == "ids":
                result[name] = rng.integers(0, VOCAB, size=shape, dtype=np.int64)
            elif kind == "mask":
                result[name] = np.ones(shape, dtype=np.int64)  # batch 1: no padding
            else:
                result[name] = rng.standard_normal(shape).astype(np.float32)
        return result


# ----------------------------------------------------------------------------- builders


def _vision(factory: str, seed: int) -> Callable[[], Any]:
    """A torchvision classifier at full size with random weights and calibrated BatchNorm."""

    def make() -> Any:
        import torch

        from examples.make_library_models import (
            calibrate_batch_norm,
            import_torchvision,
            randomize,
        )

        tv = import_torchvision()
        torch.manual_seed(seed)
        model = randomize(getattr(tv.models, factory)(weights=None, num_classes=1000))
        return calibrate_batch_norm(model, 224, seed)

    return make


def _lstm(seed: int) -> Any:
    import torch
    from torch import nn

    class LSTMStack(nn.Module):
        """nn.LSTM(256, 256, num_layers=2) over [seq, batch, 256]; returns every step's h."""

        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(256, 256, num_layers=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)[0]

    torch.manual_seed(seed)
    return LSTMStack().eval()


def _bert_tiny(seed: int) -> Any:
    import torch

    from examples.make_torch_models import Bert, randomize

    torch.manual_seed(seed)
    return randomize(Bert(vocab=VOCAB, max_pos=128, hidden=128, heads=2, layers=2,
                           intermediate=512))


def _gpt2_tiny(seed: int) -> Any:
    import torch

    from examples.make_torch_models import GPT2, randomize

    torch.manual_seed(seed)
    return randomize(GPT2(vocab=VOCAB, max_pos=64, hidden=128, heads=4, layers=2))


def _mlp(seed: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10)).eval()


def _seeded(build: Callable[[int], Any], seed: int) -> Callable[[], Any]:
    return lambda: build(seed)


MODELS: dict[str, BenchModel] = {m.name: m for m in [
    BenchModel("resnet18", _vision("resnet18", SEED + 1),
               {"input": ((1, 3, 224, 224), "float")}, ("logits",),
               "torchvision resnet18, 1000 classes"),
    BenchModel("mobilenetv2", _vision("mobilenet_v2", SEED + 2),
               {"input": ((1, 3, 224, 224), "float")}, ("logits",),
               "torchvision mobilenet_v2 (width 1.0), 1000 classes"),
    BenchModel("lstm", _seeded(_lstm, SEED + 3), {"input": ((32, 4, 256), "float")},
               ("output",), "nn.LSTM(256, 256, num_layers=2), seq 32, batch 4"),
    BenchModel("bert_tiny", _seeded(_bert_tiny, SEED + 4),
               {"input_ids": ((1, 128), "ids"), "attention_mask": ((1, 128), "mask")},
               ("last_hidden_state", "pooler_output"),
               f"BERT encoder: 2 layers, hidden 128, 2 heads, FFN 512, vocab {VOCAB}"),
    BenchModel("gpt2_tiny", _seeded(_gpt2_tiny, SEED + 5), {"input_ids": ((1, 64), "ids")},
               ("logits",),
               f"GPT-2 decoder: 2 blocks, hidden 128, 4 heads, causal, tied head, vocab {VOCAB}"),
    BenchModel("mlp", _seeded(_mlp, SEED + 6), {"x": ((64, 784), "float")}, ("y",),
               "MLP 784-512-256-10 (Gemm + Relu), batch 64"),
]}


# ------------------------------------------------------------------------------- export


def feeds(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The benchmark inputs of model `name` (numpy only; no torch needed)."""
    return MODELS[name].feeds(seed)


def export(name: str, check: bool = True) -> onnx.ModelProto:
    """Export model `name` with static shapes (TorchScript exporter, opset 17)."""
    import torch

    spec = MODELS[name]
    model = spec.make()
    args = tuple(torch.from_numpy(a) for a in spec.feeds().values())
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation, tracer warnings
        torch.onnx.export(model, args, buffer, dynamo=False, opset_version=OPSET,
                          input_names=list(spec.inputs), output_names=list(spec.outputs),
                          do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "kiln-bench (torch.onnx TorchScript exporter)"
    onnx.checker.check_model(proto)
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        if any(not d.HasField("dim_value") for d in dims):
            raise ValueError(f"{name}: input {value.name} has a symbolic dim")
    if check:
        _check_against_torch(spec, model, proto)
    return proto


def _check_against_torch(spec: BenchModel, model: Any, proto: onnx.ModelProto) -> None:
    import onnxruntime as ort
    import torch

    from examples.make_library_models import relative_error

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    inputs = spec.feeds(seed=1)
    with torch.no_grad():
        want = model(*(torch.from_numpy(a) for a in inputs.values()))
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    got = session.run(None, inputs)
    for output, w, g in zip(spec.outputs, want, got, strict=True):
        error = relative_error(g, w.numpy())
        if error > 1e-4:
            raise AssertionError(f"{spec.name}: {output}: onnxruntime != torch ({error:.2e})")


def ensure(directory: str = DEFAULT_DIR, names: list[str] | None = None,
           force: bool = False) -> dict[str, str]:
    """Paths of the models `names` (default all) under `directory`; builds missing ones."""
    paths: dict[str, str] = {}
    for name in names or list(MODELS):
        path = os.path.join(directory, f"{name}.onnx")
        if force or not os.path.exists(path):
            from examples.make_library_models import write_atomically

            write_atomically(path, export(name).SerializeToString())
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command line: build the models (those missing, or all with --force)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_DIR, help="output directory")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), metavar="NAME",
                        help=f"models to make (default: all of {', '.join(MODELS)})")
    parser.add_argument("--force", action="store_true", help="rebuild existing files too")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    args = parser.parse_args(argv)
    if args.list:
        for spec in MODELS.values():
            shapes = ", ".join(f"{n}{list(s)}" for n, (s, _) in spec.inputs.items())
            print(f"{spec.name:12} {shapes:44} {spec.description}")
        return
    for path in ensure(args.out, args.only, force=args.force).values():
        print(f"{path}  {os.path.getsize(path) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
