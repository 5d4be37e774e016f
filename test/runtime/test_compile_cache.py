"""The on-disk compile cache: hits in this and in new processes give the same model,
options and the host are part of the key, and a damaged entry is recompiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import compiler
from compiler import cache
from compiler.errors import BackendError, InputError
from compiler.importers.onnx import import_onnx

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "kiln-cache"
    monkeypatch.setenv("KILN_CACHE_DIR", str(directory))
    monkeypatch.setenv("KILN_CACHE", "1")
    return directory


def _gather_model() -> onnx.ModelProto:
    """A weight (so the weights file is used), a symbolic dim (so the call-time shape
    checks need the cached graph) and a run-time check (Gather's index range)."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [5, 3],
                           np.arange(15, dtype=np.float32).tolist())
    nodes = [helper.make_node("Gather", ["w", "i"], ["g"], axis=0),
             helper.make_node("Add", ["g", "x"], ["y"])]
    graph = helper.make_graph(
        nodes, "gather", [helper.make_tensor_value_info("i", TensorProto.INT64, ["n"]),
                          helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _entries(directory: Path) -> list[Path]:
    return sorted(p.parent for p in directory.glob("??/*/meta.json"))


def _expected(i: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.arange(15, dtype=np.float32).reshape(5, 3)[i] + x


INDICES = np.array([4, 0, -1])
ONES = np.ones((3, 3), np.float32)


def test_a_second_compile_is_a_hit_with_the_same_results(cache_dir):
    first = compiler.compile(_gather_model())
    assert first.stats.cache == "miss"
    assert len(_entries(cache_dir)) == 1
    second = compiler.compile(_gather_model())
    assert second.stats.cache == "hit"
    assert set(second.stats.seconds) == {"cache-load"}
    assert second.stats.graph_ops_optimized == first.stats.graph_ops_optimized
    assert second.stats.peak_bytes == first.stats.peak_bytes > 0
    assert [str(s) for s in second.inputs] == [str(s) for s in first.inputs]
    np.testing.assert_array_equal(second(INDICES, ONES)[0], _expected(INDICES, ONES))
    # a new shape is checked against the cached graph; the run-time check still names its op
    two = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(second(INDICES[:2], two)[0], _expected(INDICES[:2], two))
    with pytest.raises(InputError, match="symbolic dim 'n'"):
        second(INDICES, two)
    with pytest.raises(InputError, match="Gather: index out of range"):
        second(np.array([0, 5, 1]), ONES)
    with pytest.raises(BackendError, match="cache=False"):
        _ = second.llvm_ir


def test_a_new_process_hits_the_entry(cache_dir, tmp_path):
    path = tmp_path / "gather.onnx"
    onnx.save(_gather_model(), path)
    compiler.compile(str(path))
    script = ("import sys, numpy as np, compiler\n"
              "m = compiler.compile(sys.argv[1])\n"
              "y = m(np.array([4, 0, -1]), np.ones((3, 3), np.float32))[0]\n"
              "print(m.stats.cache, float(y.sum()))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=300, check=True).stdout.split()
    assert out == ["hit", str(float(_expected(INDICES, ONES).sum()))]


def test_options_and_model_bytes_are_part_of_the_key(cache_dir):
    def compile_(model=None, **options):
        options = {"threads": 1, "checks": "bounds", **options}
        return compiler.compile(model or _gather_model(), **options).stats.cache

    compile_()
    assert compile_(threads=2) == "miss"
    assert compile_(checks="shapes") == "miss"
    assert compile_(pipeline="O0") == "miss"
    other = _gather_model()
    other.graph.node[1].op_type = "Sub"
    assert compile_(other) == "miss"
    assert compile_() == "hit"
    assert len(_entries(cache_dir)) == 5


def test_cache_off_and_uncacheable_models_write_nothing(cache_dir, monkeypatch):
    assert compiler.compile(_gather_model(), cache=False).stats.cache == "off"
    assert compiler.compile(import_onnx(_gather_model())).stats.cache == "off"
    assert compiler.compile(_gather_model(), profile=True).stats.cache == "off"
    monkeypatch.setenv("KILN_CACHE", "0")
    assert compiler.compile(_gather_model()).stats.cache == "off"
    assert not _entries(cache_dir)
    assert compiler.compile(_gather_model(), cache=True).stats.cache == "miss"


@pytest.mark.parametrize("damage", ["flip-code", "truncate-weights", "garbage-meta",
                                    "missing-graph", "other-format"])
def test_a_damaged_entry_is_recompiled(cache_dir, damage):
    compiler.compile(_gather_model())
    (entry,) = _entries(cache_dir)
    if damage == "flip-code":
        code = bytearray((entry / "code.o").read_bytes())
        code[len(code) // 2] ^= 0xFF
        (entry / "code.o").write_bytes(bytes(code))
    elif damage == "truncate-weights":
        (entry / "weights.bin").write_bytes((entry / "weights.bin").read_bytes()[:7])
    elif damage == "garbage-meta":
        (entry / "meta.json").write_text("{not json")
    elif damage == "missing-graph":
        (entry / "graph_main.mlir").unlink()
    else:
        meta = json.loads((entry / "meta.json").read_text())
        meta["format"] = cache.FORMAT + 1
        (entry / "meta.json").write_text(json.dumps(meta))
    again = compiler.compile(_gather_model())
    assert again.stats.cache == "miss"
    np.testing.assert_array_equal(again(INDICES, ONES)[0], _expected(INDICES, ONES))
    assert compiler.compile(_gather_model()).stats.cache == "hit"


def test_an_unwritable_cache_warns_and_still_compiles(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KILN_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(cache, "_warned", False)
    with pytest.warns(RuntimeWarning, match="cannot be written"):
        model = compiler.compile(_gather_model(), cache=True)
    np.testing.assert_array_equal(model(INDICES, ONES)[0], _expected(INDICES, ONES))


def test_least_recently_used_entries_are_evicted(cache_dir, monkeypatch):
    compiler.compile(_gather_model(), threads=1)
    (first,) = _entries(cache_dir)
    os.utime(first / "meta.json", (1, 1))  # long unused
    size = sum(f.stat().st_size for f in first.iterdir())
    monkeypatch.setenv("KILN_CACHE_MAX_MB", str(1.5 * size / (1 << 20)))
    monkeypatch.setattr(cache, "_stores", 0)  # the size is checked on this store
    compiler.compile(_gather_model(), threads=2)
    (left,) = _entries(cache_dir)
    assert left != first


def test_kiln_version_covers_the_source_files():
    version = cache.kiln_version()
    assert "+" in version and len(version.split("+")[1]) == 16


def test_a_rewritten_model_file_is_a_new_key(cache_dir, tmp_path):
    path = tmp_path / "gather.onnx"
    onnx.save(_gather_model(), path)
    assert compiler.compile(str(path)).stats.cache == "miss"
    assert compiler.compile(str(path)).stats.cache == "hit"  # through the path index
    other = _gather_model()
    other.graph.node[1].op_type = "Sub"  # the same size on disk
    onnx.save(other, path)
    rewritten = compiler.compile(str(path))
    assert rewritten.stats.cache == "miss"
    np.testing.assert_array_equal(rewritten(INDICES, ONES)[0],
                                  _expected(INDICES, ONES) - 2 * ONES)
