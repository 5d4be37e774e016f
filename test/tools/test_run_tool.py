"""run-tool: run a model, --check against onnxruntime, --profile, --threads."""

from __future__ import annotations

import onnx

from examples.make_models import make_mlp
from tools.run_tool import main


def test_profile_prints_the_per_op_table(tmp_path, capsys):
    path = tmp_path / "mlp.onnx"
    onnx.save(make_mlp(), path)
    assert main([str(path), "--dim", "batch=4", "--profile", "--repeat", "3",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "(threads 1)" in out
    assert "profile:" in out and "op kind" in out and "graph.gemm" in out
    assert "GFLOP/s" in out  # the gemm rows know their work once the batch is known


def test_bad_thread_count_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "mlp.onnx"
    onnx.save(make_mlp(), path)
    assert main([str(path), "--dim", "batch=4", "--threads", "0"]) == 1
    assert "threads must be a positive integer" in capsys.readouterr().err
