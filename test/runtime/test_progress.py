"""The progress line of long compiles: shown on a terminal, never in logs or when quiet."""

from __future__ import annotations

import io
import sys
import time

import onnx
import pytest
from onnx import TensorProto, helper

import compiler
from compiler import progress


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def tiny_model(tmp_path) -> str:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny", [x], [y])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def _compile_with_stderr(monkeypatch, stream, path: str, **options):
    monkeypatch.setattr(progress, "THRESHOLD_SECONDS", 0.0)  # show even a fast compile
    monkeypatch.setattr(sys, "stderr", stream)
    return compiler.compile(path, cache=False, kernels=False, **options)


def test_a_terminal_shows_one_updating_line(monkeypatch, tiny_model):
    stream = FakeTerminal()
    model = _compile_with_stderr(monkeypatch, stream, tiny_model)
    text = stream.getvalue()
    assert "\n" not in text  # one line, redrawn in place
    frames = [f for f in text.split("\r\x1b[K") if f]
    assert frames[0].startswith("kiln: compiling tiny.onnx [1/")
    assert any("] fuse, " in f for f in frames)
    assert any("] llvm codegen, " in f for f in frames)
    assert all(f.endswith(" s") for f in frames)
    assert text.endswith("\r\x1b[K")  # erased when the compile is done
    # the per-pass times stay in the stats
    assert {"import", "fuse", "convert-to-llvm", "jit"} <= set(model.stats.seconds)


def test_quiet_and_non_terminals_show_nothing(monkeypatch, tiny_model):
    stream = FakeTerminal()
    _compile_with_stderr(monkeypatch, stream, tiny_model, quiet=True)
    assert stream.getvalue() == ""
    log = io.StringIO()  # CI: stderr is a file or a pipe
    _compile_with_stderr(monkeypatch, log, tiny_model)
    assert log.getvalue() == ""


def test_the_line_keeps_moving_during_a_long_stage(monkeypatch):
    monkeypatch.setattr(progress, "THRESHOLD_SECONDS", 0.0)
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.01)
    stream = FakeTerminal()
    line = progress.Progress("m.onnx", 3, stream=stream)
    line.step("llvm codegen")
    time.sleep(0.2)
    line.close()
    frames = [f for f in stream.getvalue().split("\r\x1b[K") if f]
    assert len(frames) > 2 and all(f.startswith("kiln: compiling m.onnx [1/3] llvm codegen")
                                   for f in frames)
    assert stream.getvalue().endswith("\r\x1b[K")


def test_below_the_threshold_nothing_is_drawn():
    stream = FakeTerminal()
    line = progress.Progress("m.onnx", 3, stream=stream)
    line.step("import")
    line.close()
    assert stream.getvalue() == ""
