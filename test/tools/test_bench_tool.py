"""Tests of tools/bench_tool.py's report path (markdown table, JSON) on a tiny MLP.

No timing thresholds: speed is bench-tool's own business (`--max-ratio`); these only check
that every thread count is run, the outputs are compared and the report has its fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tools import bench_tool


def _tiny_mlp(path: Path) -> str:
    """x[4, 8] -> Gemm 16 -> Relu -> Gemm 3 -> y[4, 3], static shapes."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
             for name, shape in [("w0", (16, 8)), ("b0", (16,)), ("w1", (3, 16)), ("b1", (3,))]]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], transB=1),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w1", "b1"], ["y"], transB=1)],
        "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    file = path / "tiny_mlp.onnx"
    onnx.save(model, file)
    return str(file)


def test_markdown_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _tiny_mlp(tmp_path)
    report = tmp_path / "out" / "bench.json"
    rc = bench_tool.main([model, "--repeat", "2", "--threads", "1,2", "--markdown",
                          "--json", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out

    data = json.loads(report.read_text())
    assert {"date", "machine", "suite", "repeat", "threads", "kiln_threads_supported",
            "note", "models", "geomean", "failures"} <= set(data)
    assert data["threads"] == [1, 2] and data["repeat"] == 2 and data["failures"] == {}
    entry = data["models"]["tiny_mlp.onnx"]
    assert entry["inputs"] == "x[4, 8]"
    assert set(entry["threads"]) == {"1", "2"}
    for run in entry["threads"].values():
        assert {"kiln_ms", "ort_ms", "ratio", "max_abs_err", "rel_err", "mismatch",
                "compile_seconds", "kiln_threads"} <= set(run)
        assert run["kiln_ms"] > 0 and run["ort_ms"] > 0 and run["ratio"] > 0
        assert run["rel_err"] <= bench_tool.MISMATCH_REL and not run["mismatch"]
    # a new process finds the first thread count's compile in the (scratch) cache
    assert entry["threads"]["1"]["cache_hit_seconds"] > 0
    assert entry["threads"]["2"]["cache_hit_seconds"] is None
    assert set(data["geomean"]) == {"1", "2"}
    assert all(g > 0 for g in data["geomean"].values())
    if not data["kiln_threads_supported"]:
        assert "single-threaded" in data["note"] and "single-threaded" in out

    assert "| model | inputs | Kiln/ORT 1 thread | Kiln/ORT 2 threads | Kiln ms (1t) " \
           "| ORT ms (1t) | compile s | cache hit s |" in out
    assert "| tiny_mlp | x[4, 8] |" in out
    assert "| geomean |" in out


def test_single_thread_table_unchanged(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Without --threads / --suite the markdown table is the one `make bench` prints."""
    rc = bench_tool.main([_tiny_mlp(tmp_path), "--repeat", "2", "--markdown"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "| model | inputs | Kiln ms | onnxruntime ms | Kiln / ORT | compile s |" in out
    assert "| tiny_mlp.onnx | x[4, 8] |" in out


def test_output_error_is_relative_to_the_output_scale() -> None:
    want = [np.array([100.0, -200.0], dtype=np.float32)]
    got = [np.array([100.0, -199.0], dtype=np.float32)]
    abs_err, rel_err = bench_tool.output_error(got, want)
    assert abs_err == pytest.approx(1.0) and rel_err == pytest.approx(1.0 / 200.0)
    assert bench_tool.output_error([np.zeros(2)], [np.zeros(3)]) == (np.inf, np.inf)


def test_bad_threads_option() -> None:
    with pytest.raises(SystemExit):
        bench_tool.main(["--threads", "1,x"])


def test_compiles_per_thread_count_when_compile_takes_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_compile = bench_tool.compiler.compile
    calls: list[int] = []

    def compile_with_threads(model: object, *, threads: int = 1, **kwargs: object):
        calls.append(threads)
        return real_compile(model, **kwargs)

    monkeypatch.setattr(bench_tool.compiler, "compile", compile_with_threads)
    assert bench_tool.kiln_takes_threads()
    results = bench_tool.bench_model(_tiny_mlp(tmp_path), {}, 2, threads=[1, 2])
    assert calls == [1, 2]
    assert [(r.threads, r.kiln_threads) for r in results] == [(1, 1), (2, 2)]
    assert all(r.ratio > 0 and not r.mismatch for r in results)


def test_gpu_column_is_skipped_with_a_note_without_a_device(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import bench_gpu

    monkeypatch.setattr(bench_gpu, "gpu_device", lambda: (None, "GPU column skipped: no "
                                                          "CUDA device is present"))
    canned = bench_tool.BenchResult("tiny_mlp.onnx", "x[4, 8]", 1e-4, 1e-4, 1.0, 0.0)
    monkeypatch.setattr(bench_tool, "bench_model", lambda *args, **kw: [canned])
    report = tmp_path / "bench.json"
    rc = bench_tool.main([_tiny_mlp(tmp_path), "--repeat", "2", "--gpu", "--json",
                          str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "bench-tool: GPU column skipped: no CUDA device is present" in out
    assert "tiny_mlp.onnx" in out  # the CPU report is still there
    assert json.loads(report.read_text())["gpu"]["device"] is None


def test_gpu_table() -> None:
    from tools import bench_gpu

    table = bench_gpu.gpu_table("NVIDIA H200 (sm_90)", [
        bench_gpu.GpuResult("tiny_mlp.onnx", 2e-4, 1e-4, 3.0, 5, 2e-7),
        bench_gpu.GpuResult("other.onnx", 1e-3, None, 1.0, 2, 0.5)], 7)
    assert table.startswith("GPU: NVIDIA H200 (sm_90), ")
    assert "| tiny_mlp.onnx | 5 | 0.200 | 0.100 | 2.00 | 2.0e-07 | 3.0 |" in table
    assert "| other.onnx | 2 | 1.000 | - | - | 5.0e-01 MISMATCH | 1.0 |" in table
