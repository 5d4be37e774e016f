"""Tests of tools/conformance_tool.py's machinery on a handful of ONNX node cases.

The backends here are fakes (selected with --backend <this file>:Class), so the tool's
data generation, worker pool, classification and report are tested whether or not the
Kiln compiler handles these cases yet.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from compiler.errors import CompileError, UnsupportedOp
from tools import conformance_tool as ct

# one case per category the fake backend produces (see FakeBackend)
CASES = ("test_abs", "test_sqrt", "test_neg", "test_relu", "test_floor", "test_ceil",
         "test_sigmoid", "test_exp")
FILTER = "^(" + "|".join(CASES) + ")$"
EXPECTED = {"test_abs": ct.PASSED, "test_sqrt": ct.PASSED, "test_neg": ct.WRONG_RESULT,
            "test_relu": ct.UNSUPPORTED, "test_floor": ct.COMPILE_ERROR,
            "test_ceil": ct.RUNTIME_ERROR, "test_sigmoid": ct.CRASH, "test_exp": ct.TIMEOUT}
_NUMPY_OPS = {"Abs": np.abs, "Sqrt": np.sqrt, "Neg": np.negative, "Relu": lambda x: x * (x > 0),
              "Floor": np.floor, "Ceil": np.ceil, "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
              "Exp": np.exp}


class _Rep:
    """Runs a one-node unary model with numpy; misbehaves on purpose for some cases."""

    def __init__(self, name: str, op: str):
        self.name, self.op = name, op

    def run(self, inputs, **kwargs):
        if self.name == "test_neg":
            return (np.asarray(inputs[0]) + 1,)  # wrong values
        if self.name == "test_ceil":
            raise RuntimeError("simulated failure at run time")
        if self.name == "test_sigmoid":
            os.abort()  # a native crash
        if self.name == "test_exp":
            time.sleep(60)  # a hang
        return (_NUMPY_OPS[self.op](inputs[0]).astype(inputs[0].dtype),)


class FakeBackend:
    """A backend whose behaviour depends on the case (the model's graph name)."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs):
        name, op = model.graph.name, model.graph.node[0].op_type
        if name == "test_relu":
            raise CompileError("cannot import the model",
                               [UnsupportedOp("Relu", 14, "", "no importer rule")])
        if name == "test_floor":
            raise CompileError("pass 'bufferize' failed: simulated")
        return _Rep(name, op)


class OrtBackend:
    """onnxruntime behind the backend interface: every case here should pass."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        class Rep:
            def run(self, inputs, **kw):
                return tuple(session.run(None, dict(zip(names, inputs, strict=True))))

        return Rep()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx-node-tests")
    assert ct.main(["--data-dir", str(path), "--filter", FILTER, "--generate-only"]) == 0
    return path


def test_generates_only_the_selected_cases_once(data_dir: Path, monkeypatch) -> None:
    names = sorted(p.name for p in (data_dir / "node").iterdir())
    assert names == sorted(CASES)
    case = data_dir / "node" / "test_abs"
    assert (case / "model.onnx").is_file()
    assert (case / "test_data_set_0" / "input_0.pb").is_file()
    assert (case / "test_data_set_0" / "output_0.pb").is_file()
    manifest = json.loads((data_dir / ct.MANIFEST).read_text())
    assert manifest["onnx_version"] == onnx.__version__
    assert len(manifest["cases"]) > 1000  # every case is listed, only selected ones written

    def no_collect():
        raise AssertionError("the data were regenerated although complete")

    monkeypatch.setattr(ct, "_collect_node_cases", no_collect)
    infos = ct.ensure_data(data_dir, lambda c: c.name in CASES)
    assert sorted(c.name for c in infos) == sorted(CASES)
    assert {c.name: c.op_type for c in infos}["test_abs"] == "Abs"


def test_classifies_every_category(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    status = ct.main(["--data-dir", str(data_dir), "--filter", FILTER, "--timeout", "3",
                      "--backend", f"{__file__}:FakeBackend", "--json", str(out),
                      "--min-pass", "3", "--verbose"])
    assert status == 1  # 2 passed < --min-pass 3
    text = capsys.readouterr().out
    assert text.splitlines()[0] == f"passed 2 / total {len(CASES)}"
    data = json.loads(out.read_text())
    got = {r["name"]: r for r in data["results"]}
    assert {n: r["status"] for n, r in got.items()} == EXPECTED
    assert got["test_relu"]["unsupported_ops"] == ["Relu"]
    assert "SIGABRT" in got["test_sigmoid"]["reason"]
    assert got["test_sigmoid"]["stage"] == "run"
    assert "simulated failure" in got["test_ceil"]["reason"]
    assert "values differ" in got["test_neg"]["reason"]
    assert data["summary"]["passed"] == 2 and data["summary"]["total"] == len(CASES)
    assert "  Sigmoid" in text and "crash 1" in text
    assert "test_exp: timeout" in text  # --verbose lists each failing case


def test_min_pass_met_exits_zero(data_dir: Path, capsys) -> None:
    status = ct.main(["--data-dir", str(data_dir), "--filter", "^test_abs$", "--jobs", "1",
                      "--backend", f"{__file__}:FakeBackend", "--min-pass", "1"])
    assert status == 0
    assert capsys.readouterr().out.splitlines()[0] == "passed 1 / total 1"


def test_reference_runtime_passes_everything(data_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    cases = ct.ensure_data(data_dir, lambda c: c.name in CASES)
    results = ct.run_cases(cases, data_dir, f"{__file__}:OrtBackend", jobs=2, timeout=30)
    assert [r.status for r in results] == [ct.PASSED] * len(CASES), results


def test_unloadable_backend_fails_every_case(data_dir: Path) -> None:
    cases = ct.ensure_data(data_dir, lambda c: c.name == "test_abs")
    warnings: list[str] = []
    results = ct.run_cases(cases, data_dir, "no_such_module_xyz:Backend", jobs=1,
                           warn=warnings.append)
    assert results[0].status == ct.COMPILE_ERROR
    assert "cannot load backend" in results[0].reason and warnings


def test_usage_errors_exit_2(data_dir: Path) -> None:
    assert ct.main(["--data-dir", str(data_dir), "--filter", "("]) == 2
    assert ct.main(["--data-dir", str(data_dir), "--filter", "^no_such_case$"]) == 2


def test_compare_outputs_like_onnx() -> None:
    f = np.array([1.0, np.nan, 3.0], dtype=np.float32)
    assert ct.compare_outputs([f], [f.copy()], 1e-3, 1e-7) is None  # NaN == NaN
    assert ct.compare_outputs([f], [f * (1 + 1e-4)], 1e-3, 1e-7) is None
    assert "values differ" in ct.compare_outputs([f], [f + 1], 1e-3, 1e-7)
    assert "dtype float64" in ct.compare_outputs([f], [f.astype(np.float64)], 1e-3, 1e-7)
    assert "shape (1, 3)" in ct.compare_outputs([f], [f.reshape(1, 3)], 1e-3, 1e-7)
    assert "2 output(s)" in ct.compare_outputs([f], [f, f], 1e-3, 1e-7)
    seq = [np.zeros(2, np.int64)]
    assert ct.compare_outputs([seq], [list(seq)], 1e-3, 1e-7) is None


def test_report_format() -> None:
    results = [ct.CaseResult("test_a", "Add", ct.PASSED),
               ct.CaseResult("test_b", "Conv", ct.UNSUPPORTED, "x", ["Conv"]),
               ct.CaseResult("test_c", "Conv", ct.CRASH, "worker died (SIGSEGV) during run"),
               ct.CaseResult("test_d", "Add", ct.WRONG_RESULT, "output 0: values differ")]
    report = ct.format_report(results, verbose=True).splitlines()
    assert report[0] == "passed 1 / total 4"
    assert report[1] == "by category: passed 1, unsupported 1, wrong result 1, crash 1"
    assert report[3].split() == ["Add", "1", "wrong", "result", "1"]
    assert report[5].split() == ["Conv", "2", "unsupported", "1,", "crash", "1"]
    assert "test_c: crash: worker died (SIGSEGV) during run" in report[7]
    assert report[-1] == "unsupported op types (cases): Conv 1"


def test_kiln_backend_devices() -> None:
    from compiler import backend

    assert backend.supports_device("CPU")
    assert not backend.supports_device("CUDA")
    assert not backend.supports_device("TPU")
    with pytest.raises(CompileError, match="device 'CUDA'"):
        backend.prepare(onnx.ModelProto(), "CUDA")
