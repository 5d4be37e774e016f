"""Build Kiln's real-model test set: PyTorch models with random weights, exported to ONNX.

    python examples/make_torch_models.py [--out DIR] [--only NAME ...] [--readme PATH]

writes examples/models/<name>.onnx for each of MODELS (resnet18, mobilenetv2, lstm, gru,
bert, bert_static, gpt2) and prints each file's size and ONNX op-type histogram (with
--readme, also as the markdown of examples/README.md). Every
export is checked against PyTorch itself with onnxruntime before it is written.

The architectures are written here in plain PyTorch (no torchvision / transformers),
following the structure of the originals at reduced width so that the files stay small.
All weights come from `torch.manual_seed`; models are exported in eval mode with the
TorchScript exporter (`dynamo=False`) at opset 17. Needs the `models` extra
(`pip install -e '.[models]'`, i.e. torch==2.13.0).

Importable: `from examples.make_torch_models import MODELS, build, export`.
"""

from __future__ import annotations

import argparse
import collections
import io
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

OPSET = 17
MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


# --------------------------------------------------------------------------- ResNet-18


class BasicBlock(nn.Module):
    """conv3x3 - BN - ReLU - conv3x3 - BN (+ identity or 1x1/stride conv - BN) - ReLU."""

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's resnet18 topology; `width` scales the stage widths (64 in the original),
    `blocks` is the BasicBlocks per stage (2 in the original)."""

    def __init__(self, width: int = 16, num_classes: int = 100, blocks: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, 2 * width, 4 * width, 8 * width]
        in_ch = width
        stages = []
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(in_ch, w, stride),
                                        *(BasicBlock(w, w, 1) for _ in range(blocks - 1))))
            in_ch = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ------------------------------------------------------------------------- MobileNetV2


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn_relu6(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1):
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) - 3x3 depthwise (ReLU6) - 1x1 linear projection (+ residual)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(in_ch, hidden, 1, 1))
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False), nn.BatchNorm2d(out_ch)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's mobilenet_v2 structure with a width multiplier; `max_repeats` caps the
    inverted residual blocks per stage (None: the original 1-4)."""

    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]  # t, c, n, s

    def __init__(self, width_mult: float = 0.5, num_classes: int = 100,
                 last_channel: int = 640, max_repeats: int | None = None):
        super().__init__()
        in_ch = _make_divisible(32 * width_mult)
        features: list[nn.Module] = [_conv_bn_relu6(3, in_ch, 3, 2)]
        for t, c, n, s in self.SETTINGS:
            out_ch = _make_divisible(c * width_mult)
            n = n if max_repeats is None else min(n, max_repeats)
            for i in range(n):
                features.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        features.append(_conv_bn_relu6(in_ch, last_channel, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------- LSTM / GRU


class RNNClassifier(nn.Module):
    """A 2-layer bidirectional nn.LSTM / nn.GRU over [seq, batch, feat] + a Linear head."""

    def __init__(self, cell: type[nn.Module], features: int = 16, hidden: int = 32,
                 num_classes: int = 10):
        super().__init__()
        self.rnn = cell(features, hidden, num_layers=2, bidirectional=True)
        self.head = nn.Linear(2 * hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out)  # [seq, batch, num_classes]


# --------------------------------------------------------------------------------- BERT


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [b, s, h] -> [b, heads, s, d]
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + mask_bias, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class BertLayer(nn.Module):
    """Post-LN transformer encoder layer as in BERT (attention, add & norm, FFN, add & norm)."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float = 1e-12):
        super().__init__()
        self.attention = BertSelfAttention(hidden, heads)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.gelu = nn.GELU()  # erf form, as in BERT
        self.output = nn.Linear(intermediate, hidden)
        self.out_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.attn_norm(x + self.attn_out(self.attention(x, mask_bias)))
        return self.out_norm(x + self.output(self.gelu(self.intermediate(x))))


class Bert(nn.Module):
    """BERT-style encoder: token + position embeddings, LayerNorm, N post-LN layers, pooler."""

    def __init__(self, vocab: int = 1000, max_pos: int = 128, hidden: int = 64, heads: int = 4,
                 layers: int = 2, intermediate: int = 256):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_pos, hidden)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0), persistent=False)
        self.emb_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(hidden, heads, intermediate) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        seq = input_ids.shape[1]
        positions = self.position_ids[:, :seq]
        x = self.emb_norm(self.word_embeddings(input_ids) + self.position_embeddings(positions))
        # [batch, seq] 1/0 -> additive bias [batch, 1, 1, seq], as in HF's extended mask
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return x, pooled


# -------------------------------------------------------------------------------- GPT-2


class GPT2Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.hidden, self.heads, self.head_dim = hidden, heads, hidden // heads
        self.c_attn = nn.Linear(hidden, 3 * hidden)  # fused q, k, v as in GPT-2
        self.c_proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.c_attn(x).split(self.hidden, dim=2)
        q, k, v = (t.view(b, s, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        causal = torch.tril(torch.ones(s, s, dtype=torch.bool, device=x.device))
        scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.c_proj(out.transpose(1, 2).contiguous().view(b, s, h))


class GPT2Block(nn.Module):
    """Pre-LN decoder block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) with tanh-GELU."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=1e-5)
        self.attn = GPT2Attention(hidden, heads)
        self.ln_2 = nn.LayerNorm(hidden, eps=1e-5)
        self.c_fc = nn.Linear(hidden, 4 * hidden)
        self.act = nn.GELU(approximate="tanh")  # GPT-2's gelu_new
        self.c_proj = nn.Linear(4 * hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(self.act(self.c_fc(self.ln_2(x))))


class GPT2(nn.Module):
    """GPT-2-style LM: wte + wpe, N pre-LN blocks, final ln_f, LM head tied to wte."""

    def __init__(self, vocab: int = 1000, max_pos: int = 128, hidden: int = 64, heads: int = 4,
                 layers: int = 2):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_pos, hidden)
        self.h = nn.ModuleList(GPT2Block(hidden, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden, eps=1e-5)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied LM head


# ----------------------------------------------------------------------- weights, specs


def _randomize(model: nn.Module) -> nn.Module:
    """Make normalization layers non-trivial (random affine and running statistics)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.Embedding):
                m.weight.normal_(0.0, 0.5)
    return model.eval()


@dataclass(frozen=True)
class ModelSpec:
    """How to build, feed and export one model."""

    name: str
    make: Callable[[], nn.Module]
    inputs: dict[str, tuple[tuple[int, ...], str]]  # name -> (example shape, dtype)
    outputs: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    vocab: int = 0  # token inputs draw ids from [0, vocab)
    description: str = ""

    def example_inputs(self, seed: int = 0, shapes: dict[str, tuple[int, ...]] | None = None
                       ) -> dict[str, np.ndarray]:
        """Random inputs: floats ~N(0, 1), int64 ids, and an attention mask with padding."""
        rng = np.random.default_rng(seed)
        feeds: dict[str, np.ndarray] = {}
        for name, (shape, dtype) in self.inputs.items():
            shape = (shapes or {}).get(name, shape)
            if name == "attention_mask":
                mask = np.ones(shape, dtype=np.int64)
                for row in range(1, shape[0]):  # every row but the first has some padding
                    mask[row, max(1, shape[1] - row * 2):] = 0
                feeds[name] = mask
            elif dtype == "int64":
                feeds[name] = rng.integers(0, self.vocab, size=shape, dtype=np.int64)
            else:
                feeds[name] = rng.standard_normal(shape).astype(np.float32)
        return feeds


def _seeded(factory: Callable[[], nn.Module], seed: int) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(seed)
        return _randomize(factory())
    return make


_IDS_AXES = {0: "batch", 1: "seq"}

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    ModelSpec("resnet18", _seeded(lambda: ResNet18(width=16, num_classes=100), 18),
              {"input": ((1, 3, 64, 64), "float32")}, ("logits",),
              {"input": {0: "batch"}, "logits": {0: "batch"}},
              description="ResNet-18 topology at 1/4 width (16-32-64-128), 100 classes"),
    ModelSpec("mobilenetv2", _seeded(lambda: MobileNetV2(width_mult=0.5), 2),
              {"input": ((1, 3, 64, 64), "float32")}, ("logits",),
              {"input": {0: "batch"}, "logits": {0: "batch"}},
              description="MobileNetV2, width multiplier 0.5, last channel 640, 100 classes"),
    ModelSpec("lstm", _seeded(lambda: RNNClassifier(nn.LSTM), 3),
              {"input": ((7, 2, 16), "float32")}, ("output",),
              {"input": {0: "seq", 1: "batch"}, "output": {0: "seq", 1: "batch"}},
              description="nn.LSTM(16, 32, num_layers=2, bidirectional) + Linear(64, 10)"),
    ModelSpec("gru", _seeded(lambda: RNNClassifier(nn.GRU), 4),
              {"input": ((7, 2, 16), "float32")}, ("output",),
              {"input": {0: "seq", 1: "batch"}, "output": {0: "seq", 1: "batch"}},
              description="nn.GRU(16, 32, num_layers=2, bidirectional) + Linear(64, 10)"),
    ModelSpec("bert", _seeded(Bert, 5),
              {"input_ids": ((2, 16), "int64"), "attention_mask": ((2, 16), "int64")},
              ("last_hidden_state", "pooler_output"),
              {"input_ids": _IDS_AXES, "attention_mask": _IDS_AXES,
               "last_hidden_state": _IDS_AXES, "pooler_output": {0: "batch"}},
              vocab=1000,
              description="BERT encoder: vocab 1000, hidden 64, 4 heads, 2 layers, FFN 256"),
    ModelSpec("bert_static", _seeded(Bert, 5),
              {"input_ids": ((1, 16), "int64"), "attention_mask": ((1, 16), "int64")},
              ("last_hidden_state", "pooler_output"), vocab=1000,
              description="the same BERT (same weights), exported with static shape [1, 16]"),
    ModelSpec("gpt2", _seeded(GPT2, 6), {"input_ids": ((2, 16), "int64")}, ("logits",),
              {"input_ids": _IDS_AXES, "logits": _IDS_AXES}, vocab=1000,
              description="GPT-2 decoder: vocab 1000, hidden 64, 4 heads, 2 blocks, tied head"),
]}


# ------------------------------------------------------------------------------ export


def build(name: str) -> nn.Module:
    """The seeded PyTorch module of model `name` in eval mode."""
    return MODELS[name].make()


SHALLOW: dict[str, Callable[[], nn.Module]] = {
    "resnet18": _seeded(lambda: ResNet18(width=16, num_classes=100, blocks=1), 18),
    "mobilenetv2": _seeded(lambda: MobileNetV2(width_mult=0.5, max_repeats=2), 2),
    "bert": _seeded(lambda: Bert(layers=1), 5),
    "gpt2": _seeded(lambda: GPT2(layers=1), 6),
}
"""Shallower variants of some MODELS (one BasicBlock per ResNet stage, at most two
inverted residual blocks per MobileNetV2 stage (the first, and one with the residual),
one BERT/GPT-2 layer; same widths, inputs and seeds): every kind of block and op of the full
model at a fraction of the compile time (the torch frontend's tests use them)."""


def build_shallow(name: str) -> nn.Module:
    """The seeded shallow variant of model `name` (SHALLOW), else the model itself."""
    return SHALLOW[name]() if name in SHALLOW else build(name)


def export(name: str, check: bool = True) -> onnx.ModelProto:
    """Export model `name` with the TorchScript exporter at opset 17; check it with ORT."""
    spec = MODELS[name]
    model = build(name)
    feeds = spec.example_inputs()
    args = tuple(torch.from_numpy(a) for a in feeds.values())
    buffer = io.BytesIO()
    # PRESERVE on an eval-mode model keeps BatchNormalization nodes (inference form)
    # instead of letting the exporter fold them into the convolutions: Kiln folds them.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # legacy exporter
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")  # see below
        warnings.filterwarnings("ignore", message=".*constant folding be turned off.*")  # eval
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # static checks
        torch.onnx.export(model, args, buffer, dynamo=False, opset_version=OPSET,
                          input_names=list(spec.inputs), output_names=list(spec.outputs),
                          dynamic_axes=spec.dynamic_axes or None, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.PRESERVE)
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "kiln-examples (torch.onnx TorchScript exporter)"
    onnx.checker.check_model(proto)
    if check:
        _check_against_torch(spec, model, proto)
    return proto


def _check_against_torch(spec: ModelSpec, model: nn.Module, proto: onnx.ModelProto) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    shape_sets: list[dict[str, tuple[int, ...]] | None] = [None]
    if spec.dynamic_axes:  # also check other sizes on the dynamic axes
        shape_sets.append({n: tuple(d + 1 if i in spec.dynamic_axes.get(n, {}) else d
                                    for i, d in enumerate(shape))
                           for n, (shape, _) in spec.inputs.items()})
    for shapes in shape_sets:
        feeds = spec.example_inputs(seed=1, shapes=shapes)
        with torch.no_grad():
            want = model(*(torch.from_numpy(a) for a in feeds.values()))
        want = [want] if isinstance(want, torch.Tensor) else list(want)
        got = session.run(None, feeds)
        # this also covers the exporter's warning about LSTM batch sizes: the initial
        # states are built from the input's Shape, so other batch sizes work
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-4,
                                       err_msg=f"{spec.name}: onnxruntime != torch")


def op_histogram(proto: onnx.ModelProto) -> collections.Counter[str]:
    """ONNX op types of the model's nodes (including any subgraphs) and their counts."""
    counts: collections.Counter[str] = collections.Counter()

    def visit(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            counts[node.op_type] += 1
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    visit(sub)

    visit(proto.graph)
    return counts


README_HEAD = """\
# Example models

Everything here is generated; regenerate with

```sh
python examples/make_models.py                           # mlp.onnx, cnn.onnx (onnx.helper)
pip install -e '.[models]'                                # torch==2.13.0 (CPU)
python examples/make_torch_models.py --readme examples/README.md   # the PyTorch models below
```

`make_models.py` builds the two small hand-written models of `make demo` (`mlp.onnx`: Gemm +
Relu, dynamic batch; `cnn.onnx`: a residual Conv/BatchNormalization/Relu/MaxPool/Gemm net).

`make_torch_models.py` defines ResNet-18, MobileNetV2, LSTM, GRU, BERT and GPT-2 style
models in plain PyTorch (no torchvision / transformers), at reduced width so that the files
stay small, with seeded random weights and randomized normalization statistics, and exports
them in eval mode with the TorchScript exporter (`torch.onnx.export(..., dynamo=False)`)
at opset 17. BatchNormalization is kept as nodes (`TrainingMode.PRESERVE` on an eval-mode
model), so Kiln folds it, not the exporter. Each export is checked against PyTorch with
onnxruntime (at the example shape and one larger on every dynamic axis) before it is
written; the output is deterministic. `test/models/test_real_models.py` compiles every model and
compares it with onnxruntime (rtol 1e-4), at several shapes per compile where axes are
dynamic.

| model | size | inputs | outputs | what |
|---|---|---|---|---|
"""


def _dims(vi: onnx.ValueInfoProto) -> str:
    dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    dims = ", ".join(d.dim_param or str(d.dim_value) for d in vi.type.tensor_type.shape.dim)
    return f"{vi.name}: {dtype}[{dims}]"


def describe(name: str, proto: onnx.ModelProto, size: int) -> str:
    """Size, signature and op histogram of one exported model, as the script prints them."""
    hist = op_histogram(proto)
    return "\n".join([
        f"{name}.onnx  {size / 1e6:.2f} MB  ({sum(hist.values())} nodes)  "
        f"{MODELS[name].description}",
        "  inputs:  " + ", ".join(_dims(v) for v in proto.graph.input),
        "  outputs: " + ", ".join(_dims(v) for v in proto.graph.output),
        "  ops:     " + ", ".join(f"{op} {n}" for op, n in sorted(hist.items()))])


def readme(made: dict[str, tuple[onnx.ModelProto, int]]) -> str:
    """examples/README.md: a table of the models, then each model's ONNX op histogram."""
    rows, ops = [], []
    for name, (proto, size) in made.items():
        inputs = "<br>".join(f"`{_dims(v)}`" for v in proto.graph.input)
        outputs = "<br>".join(f"`{_dims(v)}`" for v in proto.graph.output)
        rows.append(f"| `{name}.onnx` | {size / 1e6:.2f} MB | {inputs} | {outputs} | "
                    f"{MODELS[name].description} |")
        hist = op_histogram(proto)
        ops.append(f"* `{name}` ({sum(hist.values())} nodes, {len(hist)} op types): "
                   + ", ".join(f"{op} {n}" for op, n in sorted(hist.items())))
    return (README_HEAD + "\n".join(rows)
            + "\n\nDims named `batch` / `seq` are dynamic (ONNX `dim_param`).\n\n"
            "## ONNX ops per model (count of nodes)\n\n" + "\n".join(ops) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=MODELS_DIR, help="output directory")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), metavar="NAME",
                        help=f"models to make (default: all of {', '.join(MODELS)})")
    parser.add_argument("--readme", metavar="PATH",
                        help="also write a markdown summary (examples/README.md) there")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    made: dict[str, tuple[onnx.ModelProto, int]] = {}
    for name in args.only or MODELS:
        proto = export(name)
        path = os.path.join(args.out, f"{name}.onnx")
        data = proto.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        made[name] = (proto, len(data))
        print(describe(name, proto, len(data)))
    if args.readme:
        with open(args.readme, "w") as f:
            f.write(readme(made))


if __name__ == "__main__":
    main()
