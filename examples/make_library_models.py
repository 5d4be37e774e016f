"""Models that other people wrote: `transformers` and `torchvision` architectures, exported.

    python examples/make_library_models.py [--out DIR] [--only NAME ...] [--list]

writes DIR/<name>.onnx (default `.cache/library_models/`) for each of MODELS: BERT,
DistilBERT, GPT-2, LLaMA (grouped-query attention, RoPE, RMSNorm), the T5 encoder and the
full T5 encoder-decoder from the `transformers` library (built from config classes, reduced
width, random weights, no downloads), and ResNet-50, MobileNetV3, EfficientNet-B0,
DenseNet-121, ConvNeXt-Tiny and a Vision Transformer from `torchvision` (the real
definitions at full width, random weights, randomized BatchNorm statistics). Each is exported
with the TorchScript exporter (`dynamo=False`) at opset 17 with dynamic axes, and checked
against PyTorch with onnxruntime at the two shapes of its spec before it is written.

These models exercise what Kiln's own examples never do: run-time dims that broadcast
(attention masks), position tables indexed by a run-time length, Shape -> Reshape chains,
masked fills, GQA head repetition, relative-position buckets, channels-last LayerNorm.

Needs the `library-models` extra (`pip install -e '.[library-models]'`, then
`pip install --no-deps torchvision==0.28.0 pillow`; see the README). Importable:
`from examples.make_library_models import MODELS, export`.
"""

from __future__ import annotations

import argparse
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

OPSET = 17
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(ROOT, ".cache", "library_models")
VOCAB = 1000

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class LibraryModel:
    """One model from a library: how to build it, its inputs, and the two test shapes."""

    name: str
    library: str  # "transformers" or "torchvision"
    make: Callable[[], object]  # -> torch.nn.Module in eval mode, seeded
    inputs: dict[str, str]  # input name -> kind: "ids", "mask" or "image"
    outputs: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    shapes: tuple[Shapes, Shapes]  # the example shape (export) and a second one
    description: str = ""

    def feeds(self, shapes: Shapes, seed: int = 0) -> dict[str, np.ndarray]:
        """Random inputs: token ids in [0, VOCAB), masks with right padding, N(0,1) images."""
        rng = np.random.default_rng(seed)
        feeds: dict[str, np.ndarray] = {}
        for name, kind in self.inputs.items():
            shape = shapes[name]
            if kind == "ids":
                feeds[name] = rng.integers(0, VOCAB, size=shape, dtype=np.int64)
            elif kind == "mask":
                mask = np.ones(shape, dtype=np.int64)
                for row in range(1, shape[0]):  # every row but the first has some padding
                    mask[row, max(1, shape[1] - 2 * row):] = 0
                feeds[name] = mask
            else:
                feeds[name] = rng.standard_normal(shape).astype(np.float32)
        return feeds


# --------------------------------------------------------------------------- transformers


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _transformer(config_class: str, model_class: str, seed: int, **config: object):
    def make():
        import_torchvision()  # transformers imports it when installed
        import transformers

        _seed(seed)
        cfg = getattr(transformers, config_class)(**config)
        # eager attention: the sdpa path exports the same math, but eager is what every
        # exporter version handles
        cfg._attn_implementation = "eager"
        return randomize(getattr(transformers, model_class)(cfg)).eval()
    return make


class _T5Full:
    """T5Model with (input_ids, attention_mask, decoder_input_ids) -> last hidden state."""

    def __new__(cls, seed: int):
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = _transformer("T5Config", "T5Model", seed, vocab_size=VOCAB,
                                          d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                          num_decoder_layers=2, num_heads=4,
                                          use_cache=False)()

            def forward(self, input_ids, attention_mask, decoder_input_ids):
                return self.model(input_ids=input_ids, attention_mask=attention_mask,
                                  decoder_input_ids=decoder_input_ids, use_cache=False,
                                  return_dict=False)[0]

        return Wrapper().eval()


def randomize(model):
    """Non-trivial normalization: random affine parameters and BatchNorm statistics."""
    import torch
    from torch import nn

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.LayerNorm) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.Linear) and not m.weight.any():
                m.weight.normal_(0.0, 0.05)  # zero-initialized heads (ViT) output only 0
    return model


# --------------------------------------------------------------------------- torchvision


def import_torchvision():
    """torchvision's model definitions beside a CPU torch build (NOTES.md).

    The index's torchvision wheel is a CUDA build whose compiled ops do not load beside the
    CPU torch; the Python model code only needs the op schemas to exist.
    """
    import torch

    global _TORCHVISION_LIB
    try:
        import torchvision
        return torchvision
    except RuntimeError:
        pass
    if "_TORCHVISION_LIB" not in globals():
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_LIB = lib
    import sys

    for name in [m for m in sys.modules if m.startswith("torchvision")]:
        del sys.modules[name]
    import torchvision
    return torchvision


def calibrate_batch_norm(model, image_size: int, seed: int):
    """Running statistics from a few train-mode passes over random images.

    torchvision's default statistics (mean 0, var 1) with random weights make activations
    explode or vanish through 50+ layers (outputs ~1e-9 or ~1e9): relative tolerances
    would mean nothing.
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, image_size, image_size, generator=gen))
    return model.eval()


def _vision(factory: str, seed: int, calibration_size: int, **kwargs: object):
    def make():
        tv = import_torchvision()
        _seed(seed)
        if factory == "vit":
            from torchvision.models.vision_transformer import VisionTransformer

            model = VisionTransformer(**kwargs)
        else:
            model = getattr(tv.models, factory)(weights=None, **kwargs)
        randomize(model)
        return calibrate_batch_norm(model, calibration_size, seed)
    return make


_TEXT_AXES = {0: "batch", 1: "seq"}


def _text(names: tuple[str, ...], outputs: tuple[str, ...],
          output_axes: dict[str, dict[int, str]]) -> tuple[dict, dict, tuple[Shapes, Shapes]]:
    kinds = {n: ("mask" if "mask" in n else "ids") for n in names}
    axes = {n: _TEXT_AXES for n in names} | output_axes
    shapes = ({n: (2, 16) for n in names}, {n: (3, 9) for n in names})
    return kinds, axes, shapes


def _image(size: int, second: int, output: str = "logits", spatial: bool = True):
    axes = {"pixels": {0: "batch", 2: "height", 3: "width"} if spatial else {0: "batch"},
            output: {0: "batch"}}
    return ({"pixels": "image"}, axes,
            ({"pixels": (1, 3, size, size)}, {"pixels": (2, 3, second, second)}))


def _models() -> list[LibraryModel]:
    small = dict(vocab_size=VOCAB, max_position_embeddings=128)
    bert_kinds, bert_axes, bert_shapes = _text(
        ("input_ids", "attention_mask"), ("last_hidden_state", "pooler_output"),
        {"last_hidden_state": _TEXT_AXES, "pooler_output": {0: "batch"}})
    distil_kinds, distil_axes, distil_shapes = _text(
        ("input_ids", "attention_mask"), ("last_hidden_state",),
        {"last_hidden_state": _TEXT_AXES})
    gpt_kinds, gpt_axes, gpt_shapes = _text(
        ("input_ids", "attention_mask"), ("logits",), {"logits": _TEXT_AXES})
    llama_kinds, llama_axes, llama_shapes = _text(
        ("input_ids", "attention_mask"), ("logits",), {"logits": _TEXT_AXES})
    t5e_kinds, t5e_axes, t5e_shapes = _text(
        ("input_ids", "attention_mask"), ("last_hidden_state",),
        {"last_hidden_state": _TEXT_AXES})
    t5_names = ("input_ids", "attention_mask", "decoder_input_ids")
    t5_kinds = {"input_ids": "ids", "attention_mask": "mask", "decoder_input_ids": "ids"}
    t5_axes = {"input_ids": _TEXT_AXES, "attention_mask": _TEXT_AXES,
               "decoder_input_ids": {0: "batch", 1: "target"},
               "last_hidden_state": {0: "batch", 1: "target"}}
    t5_shapes = ({"input_ids": (2, 16), "attention_mask": (2, 16), "decoder_input_ids": (2, 5)},
                 {"input_ids": (3, 9), "attention_mask": (3, 9), "decoder_input_ids": (3, 7)})
    assert set(t5_names) == set(t5_kinds)
    models = [
        LibraryModel("bert", "transformers",
                     _transformer("BertConfig", "BertModel", 11, hidden_size=64,
                                  num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, **small),
                     bert_kinds, ("last_hidden_state", "pooler_output"), bert_axes,
                     bert_shapes, "BertModel: hidden 64, 4 heads, 2 layers"),
        LibraryModel("distilbert", "transformers",
                     _transformer("DistilBertConfig", "DistilBertModel", 12, dim=64,
                                  n_layers=2, n_heads=4, hidden_dim=128, **small),
                     distil_kinds, ("last_hidden_state",), distil_axes, distil_shapes,
                     "DistilBertModel: dim 64, 4 heads, 2 layers"),
        LibraryModel("gpt2", "transformers",
                     _transformer("GPT2Config", "GPT2LMHeadModel", 13, n_embd=64, n_layer=2,
                                  n_head=4, n_positions=128, vocab_size=VOCAB,
                                  use_cache=False),
                     gpt_kinds, ("logits",), gpt_axes, gpt_shapes,
                     "GPT2LMHeadModel: 64 wide, 4 heads, 2 blocks, causal mask + padding mask"),
        LibraryModel("llama", "transformers",
                     _transformer("LlamaConfig", "LlamaForCausalLM", 14, hidden_size=64,
                                  intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2,
                                  use_cache=False, **small),
                     llama_kinds, ("logits",), llama_axes, llama_shapes,
                     "LlamaForCausalLM: GQA (4 query / 2 key-value heads), RoPE, RMSNorm, SwiGLU"),
        LibraryModel("t5_encoder", "transformers",
                     _transformer("T5Config", "T5EncoderModel", 15, vocab_size=VOCAB,
                                  d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                                  use_cache=False),
                     t5e_kinds, ("last_hidden_state",), t5e_axes, t5e_shapes,
                     "T5EncoderModel: relative position buckets, RMS LayerNorm"),
        LibraryModel("t5", "transformers", lambda: _T5Full(16), t5_kinds,
                     ("last_hidden_state",), t5_axes, t5_shapes,
                     "T5Model (encoder-decoder): cross attention, causal decoder mask"),
    ]
    vision = [
        ("resnet50", _vision("resnet50", 21, 64), _image(64, 96),
         "torchvision resnet50 (bottleneck blocks)"),
        ("mobilenet_v3", _vision("mobilenet_v3_small", 22, 64), _image(64, 96),
         "torchvision mobilenet_v3_small (hardswish, squeeze-excitation)"),
        ("efficientnet", _vision("efficientnet_b0", 23, 64), _image(64, 96),
         "torchvision efficientnet_b0 (SiLU, squeeze-excitation, depthwise)"),
        ("densenet", _vision("densenet121", 24, 64), _image(64, 96),
         "torchvision densenet121 (dense concatenation)"),
        ("convnext", _vision("convnext_tiny", 25, 64), _image(64, 96),
         "torchvision convnext_tiny (7x7 depthwise, channels-last LayerNorm, layer scale)"),
        ("vit", _vision("vit", 26, 64, image_size=64, patch_size=16, num_layers=2,
                        num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=100),
         _image(64, 64, spatial=False),
         "torchvision VisionTransformer (64x64, patch 16, 2 layers, hidden 64)"),
    ]
    for name, make, (kinds, axes, shapes), description in vision:
        models.append(LibraryModel(name, "torchvision", make, kinds, ("logits",), axes,
                                   shapes, description))
    return models


MODELS: dict[str, LibraryModel] = {m.name: m for m in _models()}


# ------------------------------------------------------------------------------ export


def available() -> str | None:
    """None when torch, transformers and torchvision can be used, else what is missing."""
    missing = []
    for module in ("torch", "transformers", "torchvision"):
        try:
            if module == "torchvision":
                import_torchvision()
            else:
                __import__(module)
        except Exception as e:  # an ImportError, or torchvision's op registration
            missing.append(f"{module} ({type(e).__name__}: {e})")
    return "; ".join(missing) or None


def export(name: str, check: bool = True) -> onnx.ModelProto:
    """Export model `name` (TorchScript exporter, opset 17); check it against torch."""
    import torch

    spec = MODELS[name]
    model = spec.make()
    if spec.library == "torchvision":
        torch.backends.mha.set_fastpath_enabled(False)  # the fast path does not export
    feeds = spec.feeds(spec.shapes[0])
    args = tuple(torch.from_numpy(a) for a in feeds.values())
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation of the exporter, tracer warnings
        kwargs = {}
        if spec.library == "transformers" and name != "t5":
            kwargs = {"return_dict": False}
            if hasattr(model.config, "use_cache"):
                kwargs["use_cache"] = False
        module = _KwargsWrapper(model, list(spec.inputs), kwargs) if kwargs else model
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=OPSET,
                          input_names=list(spec.inputs), output_names=list(spec.outputs),
                          dynamic_axes=spec.dynamic_axes, do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = f"kiln-examples ({spec.library}, torch.onnx TorchScript exporter)"
    onnx.checker.check_model(proto)
    if check:
        _check_against_torch(spec, module, proto)
    return proto


class _KwargsWrapper:
    """Calls a transformers model with inputs by name and fixed keyword options."""

    def __new__(cls, model, names: list[str], kwargs: dict[str, object]):
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, *args):
                out = self.model(**dict(zip(names, args, strict=True)), **kwargs)
                return tuple(out) if isinstance(out, tuple | list) else out

        return Wrapper().eval()


def _check_against_torch(spec: LibraryModel, model, proto: onnx.ModelProto) -> None:
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    for shapes in spec.shapes:
        feeds = spec.feeds(shapes, seed=1)
        with torch.no_grad():
            want = model(*(torch.from_numpy(a) for a in feeds.values()))
        want = [want] if isinstance(want, torch.Tensor) else list(want)[:len(spec.outputs)]
        got = session.run(None, feeds)
        for w, g in zip(want, got, strict=True):
            error = relative_error(g, w.numpy())
            assert error <= 1e-4, f"{spec.name}: onnxruntime != torch ({error:.2e})"


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want|: the error relative to the output's scale.

    Deep networks with random weights carry float32 rounding differences of ~1e-6 of the
    output's scale into every element; an element that happens to be near 0 has no
    meaningful elementwise relative error.
    """
    if got.shape != want.shape:
        raise AssertionError(f"shape {list(got.shape)} != {list(want.shape)}")
    if want.size == 0:
        return 0.0
    scale = float(np.max(np.abs(want.astype(np.float64))))
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    return diff / scale if scale > 0 else diff


def model_path(name: str, directory: str = DEFAULT_DIR) -> str:
    """The exported file of `name` under `directory`, exported first if it is not there."""
    path = os.path.join(directory, f"{name}.onnx")
    if not os.path.exists(path):
        write_atomically(path, export(name).SerializeToString())
    return path


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: parallel test workers
    and readers never see half a file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_DIR, help="output directory")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), metavar="NAME",
                        help=f"models to make (default: all of {', '.join(MODELS)})")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    args = parser.parse_args(argv)
    if args.list:
        for spec in MODELS.values():
            print(f"{spec.name:14} {spec.library:13} {spec.description}")
        return
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or MODELS:
        path = os.path.join(args.out, f"{name}.onnx")
        data = export(name).SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        print(f"{path}  {len(data) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
