"""The fuzzer (tools/fuzz_tool.py, tools/fuzz_onnx.py): a short deterministic run finds
no failure, cases rebuild identically, and outcomes are classified as documented."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from compiler.errors import CompileError, InputError, InternalError
from tools import fuzz_tool
from tools.fuzz_onnx import MUTATORS, onnx_case
from tools.fuzz_seeds import SEEDS, seed_model


def test_short_run_finds_no_failures(tmp_path, capsys):
    report = tmp_path / "fuzz.json"
    status = fuzz_tool.main(["--onnx", "40", "--jobs", "2", "--seed", "0", "--examples",
                             "none", "--json", str(report), "--keep", str(tmp_path / "k")])
    data = json.loads(report.read_text())
    failing = [c for c in data["cases"] if c["category"] in fuzz_tool.FAILURES]
    assert status == 0, "\n".join(f"{c['name']}: {c['category']}: {c['detail'][:300]}"
                                  for c in failing)
    assert sum(data["counts"].values()) == 40
    assert data["counts"]["ok"] > 0
    assert "-- failures" in capsys.readouterr().out


def test_cases_rebuild_identically():
    for index in range(12):
        a, b = onnx_case(7, index, "none"), onnx_case(7, index, "none")
        assert a.model == b.model and a.mutations == b.mutations
        assert [f.note for f in a.feeds] == [f.note for f in b.feeds]
        for fa, fb in zip(a.feeds, b.feeds, strict=True):
            assert fa.arrays.keys() == fb.arrays.keys()
            assert all(np.array_equal(fa.arrays[k], fb.arrays[k], equal_nan=True)
                       for k in fa.arrays)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_models_are_valid(name):
    onnx.checker.check_model(seed_model(name, np.random.default_rng(0)), full_check=True)


def test_every_mutator_family_is_covered():
    families = {family for family, _ in MUTATORS.values()}
    assert families == {"attribute", "shape", "dtype", "initializer", "structure"}


def test_compare_outputs():
    a = np.array([1.0, np.nan, np.inf], np.float32)
    assert fuzz_tool.compare_outputs([a], [a.copy()]) is None
    assert "differ" in fuzz_tool.compare_outputs([a], [a + 1])
    assert "shape" in fuzz_tool.compare_outputs([a], [a[:2]])
    assert "dtype" in fuzz_tool.compare_outputs([a], [a.astype(np.float64)])
    assert fuzz_tool.compare_outputs([np.arange(3)], [np.array([0, 1, 3])]) is not None


def test_classification():
    def category(e: BaseException) -> str:
        try:
            raise e
        except BaseException as raised:
            return fuzz_tool.classify_kiln_error(raised, "compiling")[0]

    assert category(CompileError("bad axis")) == "rejected"
    assert category(InputError("bad input")) == "rejected"
    assert category(InternalError("importing", IndexError("x"))) == "internal-error"
    assert category(IndexError("list index out of range")) == "foreign-exception"
    assert category(CompileError(f"dim {-(2 ** 63)}")) == "bad-message"
