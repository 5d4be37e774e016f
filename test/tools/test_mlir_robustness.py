"""IR text never crashes Kiln: opt-tool, translate-tool and compiler.compile turn every
parse, verify and pass failure into a diagnostic with file:line:col (tools/fuzz_mlir.py)."""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path

import pytest

import compiler
from compiler.errors import CompileError, InternalError, InvalidIRError
from tools import opt_tool, translate_tool
from tools.fuzz_mlir import CATEGORIES, MlirCase, mlir_cases, run_mlir_case

ROOT = Path(__file__).resolve().parents[2]
LOCATION = re.compile(r"\.mlir:\d+:\d+")


def run_opt(*argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of opt-tool's main; no exception may escape it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = opt_tool.main(list(argv))
    return status, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str, name: str = "case.mlir") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def graph_main(body: str, arg: str = "tensor<4xf32>", result: str = "tensor<4xf32>") -> str:
    return (f"func.func @main(%a: {arg}) -> {result} {{\n{body}\n"
            f"  func.return %r : {result}\n}}\n")


HUGE_FLOAT = graph_main(
    "  %c = graph.constant dense<1.0e39> : tensor<4xf32>\n"
    "  %r = graph.add %a, %c : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>")
HUGE_DIM = graph_main(
    "  %r = graph.relu %a : (tensor<9223372036854775807xf32>) -> "
    "tensor<9223372036854775807xf32>",
    "tensor<9223372036854775807xf32>", "tensor<9223372036854775807xf32>")
HUGE_SPLAT = graph_main(
    "  %r = graph.constant dense<1.0> : tensor<9223372036854775807xf32>",
    "tensor<4xf32>", "tensor<9223372036854775807xf32>")
BAD_AXIS = (
    "func.func @main(%x: tensor<?x4xf32>, %i: tensor<2xi64>) -> tensor<?x2xf32> {\n"
    "  %r = graph.gather %x, %i {axis = 4294967296 : i64} : "
    "(tensor<?x4xf32>, tensor<2xi64>) -> tensor<?x2xf32>\n"
    "  func.return %r : tensor<?x2xf32>\n}\n")


@pytest.mark.parametrize("text, line, message", [
    (HUGE_FLOAT, 2, "out of range"),
    (HUGE_DIM, 1, "2^48"),
    (HUGE_SPLAT, 2, "dense literal"),
    (BAD_AXIS, 2, "axis 4294967296 out of range"),
])
def test_known_failures_are_diagnostics(tmp_path, text, line, message):
    path = write(tmp_path, text)
    status, _, err = run_opt(path, "-p", "O2")
    assert status == 1
    assert f"case.mlir:{line}:" in err and message in err
    assert "Traceback" not in err and "internal error" not in err
    with pytest.raises(InvalidIRError) as info:
        compiler.compile(path)
    assert f"case.mlir:{line}:" in str(info.value) and message in str(info.value)
    assert info.value.location is not None


def test_pass_on_ir_of_the_wrong_level(tmp_path):
    # the project's own memref-level test file through the whole lowering
    path = str(ROOT / "test/filecheck/lowering/linalg-to-loops.mlir")
    status, _, err = run_opt(path, "-p", "lower")
    assert status == 1
    assert "bufferize: expected tensor-level IR" in err
    assert LOCATION.search(err) and "zip()" not in err and "internal error" not in err


def test_bufferized_ir_is_not_bufferized_again(tmp_path):
    text = ("func.func @f(%a: memref<4xf32>) -> f32 {\n"
            "  %c0 = arith.constant 0 : index\n"
            "  %x = memref.load %a[%c0] : memref<4xf32>\n"
            "  func.return %x : f32\n}\n")
    status, _, err = run_opt(write(tmp_path, text), "-p", "bufferize")
    assert status == 1 and "bufferize: expected tensor-level IR" in err
    assert "case.mlir:1:1" in err


def test_loops_need_bufferized_ir(tmp_path):
    path = str(ROOT / "test/filecheck/lowering/bufferize.mlir")
    status, _, err = run_opt(path, "--split-input-file", "-p", "lower-linalg-to-loops")
    assert status == 1 and "expected memref-level IR" in err and LOCATION.search(err)


def test_verifier_error_has_the_op_position(tmp_path):
    text = ("func.func @main(%a: tensor<3x4xf32>, %b: tensor<5x6xf32>) -> tensor<3x6xf32> {\n"
            "  %c = graph.gemm %a, %b : tensor<3x4xf32>, tensor<5x6xf32> -> tensor<3x6xf32>\n"
            "  func.return %c : tensor<3x6xf32>\n}\n")
    status, _, err = run_opt(write(tmp_path, text))
    assert status == 1
    assert "case.mlir:2:3: graph.gemm: contraction dims differ (4 vs 5)" in err


def test_internal_error_in_a_pass_is_one_paragraph(tmp_path, monkeypatch):
    from passes.dce import GraphDCEPass

    def broken(self, ctx, op):
        raise ValueError("zip() argument 2 is longer than argument 1")

    monkeypatch.setattr(GraphDCEPass, "apply", broken)
    path = write(tmp_path, graph_main("  %r = graph.relu %a : (tensor<4xf32>) -> tensor<4xf32>"))
    status, _, err = run_opt(path, "-p", "dce")
    assert status == 1
    assert "internal error in Kiln while running pass 'dce'" in err and "please report" in err
    assert "Traceback" not in err
    status, _, err = run_opt(path, "-p", "dce", "--traceback")
    assert status == 1 and "Traceback" in err and "internal error" in err
    with pytest.raises(InternalError, match="running pass 'dce'"):
        compiler.compile(path, pipeline="dce")


def test_deliberate_pass_failure_is_a_compile_error(tmp_path):
    path = str(ROOT / "test/filecheck/lowering/linalg-to-loops.mlir")
    with pytest.raises(CompileError, match="bufferize: expected tensor-level IR") as info:
        translate_tool.translate(Path(path).read_text(), "lower", name=path)
    assert not isinstance(info.value, InternalError)


def test_translate_tool_reports_instead_of_raising(tmp_path, capsys):
    path = write(tmp_path, HUGE_FLOAT)
    assert translate_tool.main([path, "--pipeline=lower"]) == 1
    err = capsys.readouterr().err
    assert "translate-tool: parse error:" in err and "case.mlir:2:" in err


def test_bad_pipeline_is_an_error(tmp_path):
    path = write(tmp_path, graph_main("  %r = graph.relu %a : (tensor<4xf32>) -> tensor<4xf32>"))
    for spec in ("fold{", "nosuch", "fold{x=1}"):
        status, _, err = run_opt(path, "-p", spec)
        assert status == 1 and "bad pass pipeline" in err and "Traceback" not in err
        with pytest.raises(CompileError, match="bad pass pipeline"):
            compiler.compile(path, pipeline=spec)


def test_compile_rejects_memref_level_main(tmp_path):
    text = "func.func @main(%a: memref<4xf32>) -> memref<4xf32> {\n  return %a : memref<4xf32>\n}\n"
    with pytest.raises(CompileError, match="takes and returns tensors"):
        compiler.compile(write(tmp_path, text))


def test_printed_inf_and_nan_constants_read_back(tmp_path):
    # fold can make inf/nan constants; xDSL prints them as hex bit patterns
    text = graph_main(
        "  %c = graph.constant dense<[0x7F800000, 0x7FC00000, 1.0, 2.0]> : tensor<4xf32>\n"
        "  %r = graph.add %a, %c : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>")
    status, out, _ = run_opt(write(tmp_path, text))
    assert status == 0 and "0x7f800000" in out
    status, again, _ = run_opt(write(tmp_path, out, "printed.mlir"))
    assert status == 0 and again == out


def test_multi_result_generic_reads_back(tmp_path):
    text = ("func.func @f(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {\n"
            "  %r:2 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, "
            "affine_map<(d0) -> (d0)>], iterator_types = [\"parallel\"]} "
            "outs(%a, %b : tensor<3xf32>, tensor<3xf32>) {\n"
            "  ^bb0(%x: f32, %y: f32):\n    linalg.yield %x, %y : f32, f32\n"
            "  } -> (tensor<3xf32>, tensor<3xf32>)\n"
            "  func.return %r#0 : tensor<3xf32>\n}\n")
    status, out, err = run_opt(write(tmp_path, text))
    assert status == 0, err
    assert run_opt(write(tmp_path, out, "printed.mlir"))[0] == 0


def test_mutant_cases_are_deterministic():
    a, b = mlir_cases(3, 20), mlir_cases(3, 20)
    assert a == b and len({c.name for c in a}) == 20
    assert mlir_cases(3, 5) == a[:5]
    assert all(isinstance(c, MlirCase) for c in a)


def test_run_mlir_case_categories(tmp_path):
    ok = MlirCase("ok", graph_main("  %r = graph.relu %a : (tensor<4xf32>) -> tensor<4xf32>"),
                  "O1", "inline", compile=True)
    assert run_mlir_case(ok) == ("ok", "")
    rejected = MlirCase("bad", HUGE_FLOAT, "O2", "inline", compile=True)
    category, detail = run_mlir_case(rejected)
    assert category == "rejected" and "out of range" in detail


def test_short_mutant_run_only_ok_or_rejected():
    start = time.perf_counter()
    results = [(c, *run_mlir_case(c)) for c in mlir_cases(1, 100)]
    bad = [f"{c.name} -p '{c.pipeline}': {cat}: {detail}" for c, cat, detail in results
           if cat not in ("ok", "rejected")]
    assert not bad, "\n".join(bad)
    assert {cat for _, cat, _ in results} <= set(CATEGORIES)
    assert time.perf_counter() - start < 120
