"""The on-disk compile cache: a compiled model's machine code, weights and signature.

A CPU compile of an ONNX model (a path, bytes or a ModelProto) or of an .mlir file is
stored under a key made of the model's bytes, the compile options, Kiln's version (the
package version and a digest of its own source files, so an edited checkout never loads
code an older checkout compiled), the xDSL/llvmlite/onnx versions and the host CPU (name
and features: the code uses the host's instructions). A hit in a new process skips import,
optimization, lowering and LLVM: it maps the stored object code into a fresh MCJIT engine,
reads the weights and returns the same CompiledModel.

Where: `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`. `cache=False`
(or `KILN_CACHE=0`) bypasses it. An entry is a directory written under a temporary name
and renamed into place, so a reader never sees half of one; every file of an entry is
checked against the SHA-256 its metadata records, and an entry that fails any check
(corrupt, truncated, another format) is deleted and recompiled, never trusted. The
cache keeps at most `$KILN_CACHE_MAX_MB` (default 4096) MiB, evicting the least recently
used entries. A cache that cannot be written (read-only, full) only costs the saving.

Not cached: graph-dialect ModuleOps built in memory (their weights live in this process),
and profiling builds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from compiler.runtime.cpu import CompiledModel, NativeInterface
from compiler.runtime.jit import JITEngine, host_cpu_description
from compiler.signature import CompileStats, TensorSpec

FORMAT = 2
"""The entry layout's version (part of the key: another layout is another key)."""

_ALIGNMENT = 64  # weights start at cache-line boundaries, as the kernels' loads prefer
_DEFAULT_MAX_MB = 4096
_KILN_PACKAGES = ("compiler", "dialects", "passes", "lowering")
_META, _CODE, _WEIGHTS, _GRAPH = "meta.json", "code.o", "weights.bin", "graph_main.mlir"


def enabled(cache: bool | None) -> bool:
    """Whether a compile uses the cache: `cache`, else `$KILN_CACHE` (0/off/false/no turn
    it off), else on."""
    if cache is not None:
        return bool(cache)
    return os.environ.get("KILN_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def cache_dir() -> Path:
    """The cache's directory (not created here)."""
    if env := os.environ.get("KILN_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kiln"


def model_digest(model: object) -> str | None:
    """SHA-256 of the bytes that identify `model`, or None when it cannot be cached (a
    ModuleOp, an unreadable path: compile reports those itself)."""
    digest = hashlib.sha256()
    # a ModelProto exists only once onnx is imported: the torch path never imports it
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        digest.update(b"onnx:")
        digest.update(model.SerializeToString(deterministic=True))
    elif isinstance(model, bytes | bytearray | memoryview):
        digest.update(b"onnx:")
        digest.update(model)
    elif isinstance(model, str | os.PathLike):
        path = str(model)
        is_mlir = path.endswith(".mlir")
        digest.update(b"mlir:" if is_mlir else b"onnx:")
        try:
            with open(path, "rb") as f:
                if is_mlir:
                    text = f.read()
                    digest.update(text)
                    # IR naming a weights file (graph.weights = "file:...") depends on it
                    for d in _file_digests(text):
                        digest.update(d)
                else:
                    return _onnx_file_digest(path, f)
        except OSError:
            return None
    else:
        return None
    return digest.hexdigest()


def _onnx_file_digest(path: str, f: BinaryIO) -> str:
    """model_digest of an .onnx file: read from the cache's path index while the file's
    size, inode and modification and change times are what they were when its bytes were
    last hashed (so a hit does not read a big model twice), else hashed and recorded."""
    st = os.fstat(f.fileno())
    absolute = os.path.abspath(path)
    stamp = [absolute, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    index = cache_dir() / "paths" / f"{hashlib.sha256(absolute.encode()).hexdigest()[:32]}.json"
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
        if record.get("stamp") == stamp and isinstance(record.get("digest"), str):
            return record["digest"]
    except (OSError, ValueError, AttributeError):
        pass
    digest = hashlib.sha256(b"onnx:")
    while chunk := f.read(1 << 22):  # no copy of a big model in memory
        digest.update(chunk)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        staging = index.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(json.dumps({"stamp": stamp, "digest": digest.hexdigest()}),
                           encoding="utf-8")
        os.replace(staging, index)
    except OSError:
        pass  # (an unwritable cache: store() says so)
    return digest.hexdigest()


def _file_digests(text: bytes) -> list[bytes]:
    digests = []
    start = 0
    while (at := text.find(b'"file:', start)) >= 0:
        end = text.find(b'"', at + 6)
        if end < 0:
            break
        try:
            with open(text[at + 6:end].decode(errors="replace"), "rb") as f:
                digests.append(hashlib.sha256(f.read()).digest())
        except OSError:
            digests.append(b"missing")
        start = end + 1
    return digests


@functools.cache
def kiln_version() -> str:
    """Kiln's package version and a digest of its source files (computed once)."""
    from importlib import metadata

    try:
        version = metadata.version("kiln")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in _KILN_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:16]}"


@functools.cache
def _environment() -> str:
    # versions from the installed distributions: importing onnx to ask would cost a cache
    # hit more than the whole load (and the torch path never imports it)
    from importlib import metadata

    def version(distribution: str) -> str:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return "?"

    return json.dumps({
        "format": FORMAT, "kiln": kiln_version(), "xdsl": version("xdsl"),
        "llvmlite": version("llvmlite"), "onnx": version("onnx"),
        "numpy": np.__version__, "host": host_cpu_description(),
    }, sort_keys=True)


def entry_key(model: str, options: dict[str, object]) -> str:
    """The key of a compile of the model whose `model_digest` is `model`, with `options`."""
    digest = hashlib.sha256(model.encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    digest.update(_environment().encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading


@dataclass
class Entry:
    """A compile as the cache stores it."""

    objects: list[bytes]
    interface: NativeInterface
    graph_main_text: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    weights: list[np.ndarray]
    stats: CompileStats


def _entry_dir(key: str) -> Path:
    return cache_dir() / key[:2] / key


def load(key: str, parse_graph_main: Callable[[str], object]) -> CompiledModel | None:
    """The cached model of `key`, or None (missing, or corrupt: then it is deleted)."""
    directory = _entry_dir(key)
    if not directory.is_dir():
        return None
    start = time.perf_counter()
    try:
        entry = _read(directory)
        engine = JITEngine.from_objects(entry.objects)
    except Exception:  # whatever is wrong with it, the entry is not to be trusted
        _remove(directory)
        return None
    _touch(directory)
    stats = entry.stats
    stats.cache = "hit"
    stats.seconds = {"cache-load": time.perf_counter() - start}
    text = entry.graph_main_text
    return CompiledModel(engine, entry.interface, lambda: parse_graph_main(text),
                         entry.inputs, entry.outputs, entry.weights, entry.weights, stats)


def _read(directory: Path) -> Entry:
    meta = json.loads((directory / _META).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError("another entry format")
    blobs: dict[str, bytes | np.ndarray] = {}
    for name in (_CODE, _WEIGHTS, _GRAPH):
        data = _read_aligned(directory / name) if name == _WEIGHTS else \
            (directory / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"][name]:
            raise ValueError(f"{name} does not match its digest")
        blobs[name] = data
    code = blobs[_CODE]
    objects, offset = [], 0
    for size in meta["objects"]:
        objects.append(code[offset:offset + size])
        offset += size
    buffer = blobs[_WEIGHTS]
    weights = []
    for w in meta["weights"]:
        dtype = np.dtype(w["dtype"])
        count = int(np.prod(w["shape"], dtype=np.int64))
        array = buffer[w["offset"]:w["offset"] + count * dtype.itemsize].view(dtype)
        weights.append(array.reshape(w["shape"]))
    interface = NativeInterface(tuple(meta["assert_messages"]), tuple(meta["packed_slots"]))
    stats = CompileStats(graph_ops_imported=meta["graph_ops"][0],
                         graph_ops_optimized=meta["graph_ops"][1], threads=meta["threads"],
                         arena_bytes=meta["planned_bytes"][0],
                         peak_bytes=meta["planned_bytes"][1])
    (stats.precision, stats.weight_bytes, stats.weight_bytes_fp32,
     stats.op_precisions) = meta["precision"]
    return Entry(objects, interface, bytes(blobs[_GRAPH]).decode("utf-8"),
                 [_spec(s) for s in meta["inputs"]], [_spec(s) for s in meta["outputs"]],
                 weights, stats)


def _read_aligned(path: Path) -> np.ndarray:
    """The file's bytes in a buffer that starts at an _ALIGNMENT boundary."""
    size = path.stat().st_size
    raw = np.empty(size + _ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % _ALIGNMENT
    buffer = raw[start:start + size]
    with open(path, "rb") as f:
        if f.readinto(memoryview(buffer)) != size:
            raise ValueError(f"{path.name} is shorter than it was")
    return buffer


def _spec(d: dict) -> TensorSpec:
    return TensorSpec(d["name"], np.dtype(d["dtype"]), tuple(d["shape"]))


# --------------------------------------------------------------------------- writing

_warned = False
_EVICT_EVERY = 32
_stores = 0


def store(key: str, entry: Entry) -> None:
    """Save `entry` under `key` (best effort: a failure to write only warns, once)."""
    global _warned, _stores
    root = cache_dir()
    final = _entry_dir(key)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            _write(staging, entry)
            try:
                staging.rename(final)
            except OSError:  # another process stored the same compile first
                pass
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        # (the size scan reads every entry: the first store of a process and every 32nd)
        if _stores % _EVICT_EVERY == 0:
            _evict(root, _max_bytes())
        _stores += 1
    except OSError as e:
        if not _warned:
            _warned = True
            warnings.warn(f"Kiln's compile cache at {root} cannot be written ({e}); "
                          "compiling without saving (set KILN_CACHE_DIR, or KILN_CACHE=0)",
                          RuntimeWarning, stacklevel=3)


def _write(directory: Path, entry: Entry) -> None:
    code = b"".join(entry.objects)
    weights, layout = _pack(entry.weights)
    graph = entry.graph_main_text.encode("utf-8")
    for name, data in ((_CODE, code), (_WEIGHTS, weights), (_GRAPH, graph)):
        (directory / name).write_bytes(data)
    meta = {
        "format": FORMAT,
        "objects": [len(o) for o in entry.objects],
        "weights": layout,
        "assert_messages": list(entry.interface.assert_messages),
        "packed_slots": list(entry.interface.packed_slots),
        "inputs": [_spec_dict(s) for s in entry.inputs],
        "outputs": [_spec_dict(s) for s in entry.outputs],
        "graph_ops": [entry.stats.graph_ops_imported, entry.stats.graph_ops_optimized],
        "threads": entry.stats.threads,
        "planned_bytes": [entry.stats.arena_bytes, entry.stats.peak_bytes],
        "precision": [entry.stats.precision, entry.stats.weight_bytes,
                      entry.stats.weight_bytes_fp32, entry.stats.op_precisions],
        "sha256": {name: hashlib.sha256(data).hexdigest()
                   for name, data in ((_CODE, code), (_WEIGHTS, weights), (_GRAPH, graph))},
    }
    (directory / _META).write_text(json.dumps(meta), encoding="utf-8")


def _pack(arrays: Sequence[np.ndarray]) -> tuple[bytes, list[dict]]:
    parts: list[bytes] = []
    layout = []
    offset = 0
    for a in arrays:
        pad = -offset % _ALIGNMENT
        parts.append(b"\0" * pad)
        offset += pad
        layout.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset})
        data = np.ascontiguousarray(a).tobytes()
        parts.append(data)
        offset += len(data)
    return b"".join(parts), layout


def _spec_dict(spec: TensorSpec) -> dict:
    return {"name": spec.name, "dtype": spec.dtype.str, "shape": list(spec.shape)}


# --------------------------------------------------------------------------- upkeep


def _max_bytes() -> int:
    try:
        return int(float(os.environ.get("KILN_CACHE_MAX_MB", _DEFAULT_MAX_MB)) * (1 << 20))
    except ValueError:
        return _DEFAULT_MAX_MB << 20


def _touch(directory: Path) -> None:
    try:
        os.utime(directory / _META)
    except OSError:
        pass


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def _evict(root: Path, limit: int) -> None:
    """Delete the least recently used entries until the cache holds at most `limit`."""
    entries = []
    total = 0
    for meta in root.glob(f"??/*/{_META}"):
        try:
            used = meta.stat().st_mtime
            size = sum(f.stat().st_size for f in meta.parent.iterdir())
        except OSError:
            continue
        entries.append((used, size, meta.parent))
        total += size
    for _, size, directory in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        _remove(directory)
        total -= size


def clear() -> None:
    """Delete every entry of the cache (and its path index)."""
    root = cache_dir()
    for sub in [*root.glob("??"), root / "paths"]:
        shutil.rmtree(sub, ignore_errors=True)
