"""Shared fixtures: the bundled example models and a reference runtime.

Every model the tests compile runs in the `checks="bounds"` mode (unless KILN_CHECKS is
set otherwise): an out-of-bounds access anywhere becomes a failing InputError, not
garbage that a tolerance might let through. The compile cache is off (KILN_CACHE=0):
tests that patch the compiler must never be served code compiled before the patch, and
test/runtime/test_compile_cache.py turns it on with its own directory.
"""

from __future__ import annotations

import os

os.environ.setdefault("KILN_CHECKS", "bounds")
os.environ.setdefault("KILN_CACHE", "0")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pytest  # noqa: E402
from xdsl.dialects.builtin import ModuleOp  # noqa: E402
from xdsl.parser import Parser  # noqa: E402

from compiler.context import make_context  # noqa: E402
from lowering.to_llvm import ConvertToLLVMPass  # noqa: E402


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs of onnxruntime (one thread, CPU) for `model` on `feeds`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.fixture(scope="session")
def mlp_proto() -> onnx.ModelProto:
    from examples.make_models import make_mlp

    return make_mlp()


@pytest.fixture(scope="session")
def cnn_proto() -> onnx.ModelProto:
    from examples.make_models import make_cnn

    return make_cnn()


def lower_to_llvm(text: str) -> ModuleOp:
    """Parse memref/scf-level IR text, run convert-to-llvm, and check that the result
    verifies, prints and re-parses."""
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    ConvertToLLVMPass().apply(ctx, module)
    module.verify()
    Parser(make_context(), str(module)).parse_module().verify()
    return module


# ---------------------------------------------------------------- sharding (make unit)

DURATIONS_FILE = os.path.join(os.path.dirname(__file__), "durations.json")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shard", default=None, metavar="K/N",
                     help="run the K-th of N parts of the collected tests (whole test files, "
                          "balanced by the seconds test/durations.json records for them)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spec = config.getoption("--shard")
    if not spec:
        return
    k, _, n = spec.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise pytest.UsageError(f"--shard takes K/N with 1 <= K <= N, got '{spec}'")
    chosen = shard_files([item.nodeid.split("::")[0] for item in items], int(n))[int(k) - 1]
    keep = [item for item in items if item.nodeid.split("::")[0] in chosen]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def shard_files(files: list[str], n: int) -> list[set[str]]:
    """Split test files into `n` sets of about equal recorded time (longest first into the
    lightest set); a file without a record weighs its test count times the mean per test.
    Whole files, so module-scoped fixtures (compiled models) are built in one shard only."""
    import json

    try:
        with open(DURATIONS_FILE, encoding="utf-8") as f:
            recorded: dict[str, float] = json.load(f)
    except (OSError, ValueError):
        recorded = {}
    counts: dict[str, int] = {}
    for name in files:
        counts[name] = counts.get(name, 0) + 1
    per_test = (sum(recorded.values()) / max(1, sum(counts.get(f, 0) for f in recorded))
                if recorded else 1.0)
    weight = {f: recorded.get(f, c * per_test) for f, c in counts.items()}
    shards: list[set[str]] = [set() for _ in range(n)]
    loads = [0.0] * n
    for name in sorted(weight, key=lambda f: (-weight[f], f)):
        lightest = loads.index(min(loads))
        shards[lightest].add(name)
        loads[lightest] += weight[name]
    return shards
