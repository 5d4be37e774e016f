"""conformance-tool: run ONNX's own node test suite (onnx.backend.test) against Kiln.

    python -m tools.conformance_tool                       # all 1,884 node cases
    python -m tools.conformance_tool --subset ci --min-pass 100
    python -m tools.conformance_tool --filter '^test_(relu|conv)' --verbose --json out.json

The onnx wheel ships the case definitions but not their data, so the first run writes
every case (model.onnx + test_data_set_0/{input,output}_*.pb, onnx's own layout) under
--data-dir (default .cache/onnx-node-tests) with onnx's writer logic; later runs reuse it.

Each case runs in a pool of worker processes (--jobs) that are reused between cases, with
a per-case time limit (--timeout): a case that crashes its worker (segfault in native
code, abort) or hangs is recorded as `crash` / `timeout`, the worker is replaced and the
run goes on. Outputs are compared like onnx's BackendTest does (same shape, same dtype,
np.testing.assert_allclose with the case's rtol/atol, NaN equals NaN).

Each case gets one category: passed, unsupported (CompileError naming unsupported ops),
compile error (any other error from prepare), wrong result, runtime error (an error
while loading the data or running), crash, timeout. The report's first line is
`passed N / total M`; failures follow grouped by op type (the op the case tests).
Exit status: 0, or 1 when fewer than --min-pass cases pass, 2 on a usage/tool error.

--subset ci: the cases whose every op is in CI_OPS (fixed list below), a fast smoke set.
--backend module:Class or path/to/file.py:Class swaps the backend (tests use fakes).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import textwrap
import time
import warnings
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / ".cache" / "onnx-node-tests"
DEFAULT_BACKEND = "compiler.backend:KilnBackend"
MANIFEST = "manifest.json"

# --subset ci selects the cases whose ops are all in this list: the ops the example models
# (MLP, CNN) need, so CI guards the common path in a few hundred small cases.
CI_OPS = (
    "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Sqrt",
    "Gemm", "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
    "BatchNormalization", "Flatten", "Reshape", "Transpose", "Concat", "Softmax",
    "Identity", "Constant", "Dropout",
)
SUBSETS = {"ci": CI_OPS}

PASSED = "passed"
UNSUPPORTED = "unsupported"
COMPILE_ERROR = "compile error"
WRONG_RESULT = "wrong result"
RUNTIME_ERROR = "runtime error"
CRASH = "crash"
TIMEOUT = "timeout"
CATEGORIES = (PASSED, UNSUPPORTED, COMPILE_ERROR, WRONG_RESULT, RUNTIME_ERROR, CRASH, TIMEOUT)

_REASON_LIMIT = 4000          # characters of a reason kept in results / JSON
_STARTUP_TIMEOUT = 120.0      # seconds a fresh worker may take to import the backend
_MAX_STARTUP_FAILURES = 3     # consecutive worker deaths before the first case: give up


class ToolError(Exception):
    """A problem with the tool's inputs or environment (not with a case): exit status 2."""


@dataclass(frozen=True)
class CaseInfo:
    """One node test case as recorded in the data directory's manifest."""

    name: str
    op_type: str
    ops: tuple[str, ...]
    rtol: float
    atol: float


@dataclass
class CaseResult:
    """The outcome of one case: its category and, for failures, why."""

    name: str
    op_type: str
    status: str
    reason: str = ""
    unsupported_ops: list[str] = field(default_factory=list)
    stage: str = ""
    seconds: float = 0.0


# ----------------------------------------------------------------------------- test data


def _collect_node_cases() -> list[Any]:
    """onnx's node TestCases (this computes every expected output with numpy, ~5 s)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        # the case definitions overflow/divide by zero on purpose
        warnings.simplefilter("ignore")
        import numpy as np

        with np.errstate(all="ignore"):
            return list(collect_testcases())


def _base_name(name: str) -> str:
    """test_x_expanded / test_x_expanded_ver18 -> test_x (the function-expanded variants)."""
    return re.sub(r"_expanded(_ver\d+)?$", "", name)


def _case_infos(cases: Sequence[Any]) -> list[CaseInfo]:
    """Manifest entries; an expanded case is grouped under the op its base case tests."""
    single = {c.name: c.model.graph.node[0].op_type for c in cases
              if len(c.model.graph.node) == 1}
    infos = []
    for c in cases:
        ops = tuple(sorted({n.op_type for n in c.model.graph.node}))
        op_type = single.get(c.name) or single.get(_base_name(c.name))
        if op_type is None:
            op_type = c.model.graph.node[0].op_type if c.model.graph.node else "?"
        infos.append(CaseInfo(c.name, op_type, ops, float(c.rtol), float(c.atol)))
    return infos


def _serialize(value: Any, type_proto: Any, name: str) -> bytes:
    """One input/output value as onnx's `backend-test-tools generate-data` writes it."""
    from onnx import TensorProto, numpy_helper

    if type_proto.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if type_proto.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if type_proto.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def _write_case(case: Any, node_dir: Path) -> None:
    """Write one case into node_dir/<name>, atomically (temp dir + rename)."""
    final = node_dir / case.name
    tmp = node_dir / f".tmp-{case.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "model.onnx").write_bytes(case.model.SerializeToString())
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        set_dir = tmp / f"test_data_set_{i}"
        set_dir.mkdir()
        for j, value in enumerate(inputs):
            (set_dir / f"input_{j}.pb").write_bytes(
                _serialize(value, graph.input[j].type, graph.input[j].name))
        for j, value in enumerate(outputs):
            (set_dir / f"output_{j}.pb").write_bytes(
                _serialize(value, graph.output[j].type, graph.output[j].name))
    if final.exists():  # stale (older onnx) or written concurrently by another run
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:  # another run won the race: its copy is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)


def _read_manifest(data_dir: Path) -> list[CaseInfo] | None:
    """The manifest's cases if it exists and was written by this onnx version."""
    import onnx

    try:
        data = json.loads((data_dir / MANIFEST).read_text())
        if data.get("onnx_version") != onnx.__version__:
            return None
        return [CaseInfo(c["name"], c["op_type"], tuple(c["ops"]), c["rtol"], c["atol"])
                for c in data["cases"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_data(data_dir: Path, select: Callable[[CaseInfo], bool] = lambda c: True,
                log: Callable[[str], None] = lambda s: None) -> list[CaseInfo]:
    """Make sure the selected cases' data exist under data_dir; return the selected cases.

    Nothing is regenerated when the manifest matches the installed onnx and every selected
    case directory is there; otherwise the missing (or all, after an onnx upgrade) cases
    are written.
    """
    import onnx

    node_dir = data_dir / "node"
    infos = _read_manifest(data_dir)
    if infos is not None:
        selected = [c for c in infos if select(c)]
        if all((node_dir / c.name).is_dir() for c in selected):
            return selected
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if infos is None and (data_dir / MANIFEST).exists() and node_dir.exists():
            shutil.rmtree(node_dir)  # written by another onnx version: start over
        node_dir.mkdir(exist_ok=True)
        log(f"generating ONNX node test data (onnx {onnx.__version__}) in {data_dir} ...")
        cases = _collect_node_cases()
        infos = _case_infos(cases)
        manifest = {"onnx_version": onnx.__version__, "cases": [asdict(c) for c in infos]}
        tmp_manifest = data_dir / f".{MANIFEST}.{os.getpid()}"
        tmp_manifest.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp_manifest, data_dir / MANIFEST)
        selected = [c for c in infos if select(c)]
        wanted = {c.name for c in selected if not (node_dir / c.name).is_dir()}
        for case in cases:
            if case.name in wanted:
                _write_case(case, node_dir)
    except OSError as e:
        raise ToolError(f"cannot write the test data under {data_dir}: {e}") from None
    log(f"wrote {len(wanted)} case(s)")
    return selected


# ----------------------------------------------------------------------------- one case
# (runs inside a worker process)


def load_backend(spec: str) -> Any:
    """The backend named by 'module:attr' or 'path/to/file.py:attr'."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ToolError(f"--backend must look like module:Class or file.py:Class, got '{spec}'")
    if module_name.endswith(".py"):
        path = Path(module_name)
        mod_spec = importlib.util.spec_from_file_location(f"_conformance_backend_{path.stem}",
                                                          path)
        if mod_spec is None or mod_spec.loader is None or not path.is_file():
            raise ToolError(f"backend file {path} does not exist")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ToolError(f"backend module {module_name} has no attribute '{attr}'") from None


def _load_value(path: Path, type_proto: Any) -> Any:
    """One .pb value as onnx's runner loads it (tensor, sequence or optional)."""
    import onnx
    from onnx import numpy_helper

    content = path.read_bytes()
    if type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(content)
        return numpy_helper.to_list(seq)
    if type_proto.HasField("optional_type"):
        opt = onnx.OptionalProto()
        opt.ParseFromString(content)
        return numpy_helper.to_optional(opt)
    if type_proto.HasField("tensor_type"):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(content)
        return numpy_helper.to_array(tensor)
    raise ValueError(f"{path.name}: values of this type (map/sparse) cannot be loaded")


def _load_data_sets(case_dir: Path, model: Any) -> list[tuple[list[Any], list[Any]]]:
    sets = []
    for set_dir in sorted(case_dir.glob("test_data_set_*")):
        n_in = len(list(set_dir.glob("input_*.pb")))
        n_out = len(list(set_dir.glob("output_*.pb")))
        inputs = [_load_value(set_dir / f"input_{i}.pb", model.graph.input[i].type)
                  for i in range(n_in)]
        outputs = [_load_value(set_dir / f"output_{i}.pb", model.graph.output[i].type)
                   for i in range(n_out)]
        sets.append((inputs, outputs))
    if not sets:
        raise ValueError(f"{case_dir} has no test_data_set_*")
    return sets


def compare_outputs(expected: Sequence[Any], actual: Sequence[Any], rtol: float,
                    atol: float) -> str | None:
    """None if `actual` matches `expected` as onnx's BackendTest judges it, else why not."""
    import numpy as np

    if len(actual) != len(expected):
        return f"{len(actual)} output(s), expected {len(expected)}"
    for i, (ref, out) in enumerate(zip(expected, actual, strict=True)):
        if isinstance(ref, list):
            if not isinstance(out, list | tuple):
                return f"output {i}: got {type(out).__name__}, expected a sequence"
            why = compare_outputs(ref, list(out), rtol, atol)
            if why:
                return f"output {i}: {why}"
            continue
        if ref is None or out is None:
            if ref is not out:
                return f"output {i}: got {out!r:.60}, expected {ref!r:.60}"
            continue
        if not isinstance(out, np.ndarray):
            return f"output {i}: got {type(out).__name__}, expected a numpy array"
        if out.shape != ref.shape:
            return f"output {i}: shape {out.shape}, expected {ref.shape}"
        try:
            if ref.dtype == object:
                np.testing.assert_array_equal(out, ref)
                continue
            if out.dtype != ref.dtype:
                return f"output {i}: dtype {out.dtype}, expected {ref.dtype}"
            tol = rtol
            if out.dtype.name in ("bfloat16",) or out.dtype.name.startswith("float8"):
                tol = max(rtol, 2**-6) if out.dtype.name == "bfloat16" else rtol
                out, ref = out.astype(np.float32), ref.astype(np.float32)
            np.testing.assert_allclose(out, ref, rtol=tol, atol=atol)
        except AssertionError as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            detail = "; ".join(ln for ln in lines if ln.startswith(("Mismatch", "Max")))
            return f"output {i}: values differ (rtol={rtol:g}, atol={atol:g}): " + (
                detail or " ".join(lines)[:300])
        except Exception as e:  # incomparable dtypes and the like
            return f"output {i}: cannot compare: {type(e).__name__}: {e}"
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:_REASON_LIMIT]


def run_case(backend: Any, case_dir: Path, rtol: float, atol: float,
             on_stage: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Load, compile and run one case; return {status, reason, unsupported_ops}.

    Every Python-level failure becomes a category here; only native crashes and hangs
    escape, and the parent process records those.
    """
    import numpy as np
    import onnx

    on_stage("load")
    try:
        model = onnx.load(str(case_dir / "model.onnx"))
        data_sets = _load_data_sets(case_dir, model)
    except Exception as e:
        return {"status": RUNTIME_ERROR, "reason": f"cannot load the test data: {_error_text(e)}"}
    on_stage("compile")
    try:
        rep = backend.prepare(model, "CPU")
    except Exception as e:
        unsupported = getattr(e, "unsupported", None) or []
        if unsupported:
            ops = sorted({getattr(u, "op_type", str(u)) for u in unsupported})
            return {"status": UNSUPPORTED, "reason": str(e)[:_REASON_LIMIT],
                    "unsupported_ops": ops}
        text = str(e) if type(e).__name__ == "CompileError" else _error_text(e)
        return {"status": COMPILE_ERROR, "reason": text[:_REASON_LIMIT]}
    on_stage("run")
    for k, (inputs, expected) in enumerate(data_sets):
        try:
            with np.errstate(all="ignore"):
                actual = list(rep.run(inputs))
        except Exception as e:
            return {"status": RUNTIME_ERROR, "reason": f"data set {k}: {_error_text(e)}"}
        why = compare_outputs(expected, actual, rtol, atol)
        if why:
            return {"status": WRONG_RESULT, "reason": f"data set {k}: {why}"[:_REASON_LIMIT]}
    return {"status": PASSED}


def _limit_memory(megabytes: int) -> None:
    """Cap the worker's address space so a runaway case fails alone, not the machine."""
    if megabytes <= 0:
        return
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _worker_main(conn: Connection, backend_spec: str, log_path: str, memory_mb: int) -> None:
    """Worker loop: receive (case_dir, rtol, atol), send stage messages and a result."""
    import faulthandler

    # native output (LLVM errors, faulthandler's dump on SIGSEGV) goes to a per-worker log
    # that the parent reads when this process dies
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.enable()
    warnings.simplefilter("ignore")
    _limit_memory(memory_mb)
    try:
        backend, load_error = load_backend(backend_spec), ""
    except Exception as e:
        backend, load_error = None, f"cannot load backend {backend_spec}: {_error_text(e)}"
    conn.send(("ready", load_error))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        case_dir, rtol, atol = msg
        print(f"=== case {Path(case_dir).name}", flush=True)
        if backend is None:
            result = {"status": COMPILE_ERROR, "reason": load_error}
        else:
            result = run_case(backend, Path(case_dir), rtol, atol,
                              lambda stage: conn.send(("stage", stage)))
        conn.send(("result", result))


# ----------------------------------------------------------------------------- the pool


def _death_reason(exitcode: int | None, stage: str, log_text: str) -> str:
    """'worker died (SIGSEGV) during compile: <native message / innermost frame>'."""
    if exitcode is not None and exitcode < 0:
        try:
            how = signal.Signals(-exitcode).name
        except ValueError:
            how = f"signal {-exitcode}"
    else:
        how = f"exit status {exitcode}"
    reason = f"worker died ({how}) during {stage or 'start-up'}"
    lines = [ln.rstrip() for ln in log_text.splitlines()
             if ln.strip() and not ln.startswith("=== case ")]
    details: list[str] = []
    if any(ln.startswith("Fatal Python error") for ln in lines):
        at = next(i for i, ln in enumerate(lines) if ln.startswith("Fatal Python error"))
        details += lines[max(0, at - 2):at + 1]  # native messages just before the dump
        frame = next((ln.strip() for ln in lines[at:] if ln.strip().startswith("File ")), "")
        if frame:
            details.append(f"at {frame}")
    else:
        details += lines[-3:]
    if details:
        reason += ": " + " | ".join(details)
    return reason[:_REASON_LIMIT]


class _Worker:
    """One worker process, the case it runs, and its deadline."""

    def __init__(self, ctx: Any, backend_spec: str, log_path: Path, memory_mb: int):
        self.log_path = log_path
        log_path.touch()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, daemon=True,
                                args=(child, backend_spec, str(log_path), memory_mb))
        self.proc.start()
        child.close()
        self.ready = False
        self.case: CaseInfo | None = None
        self.stage = ""
        self.started = time.monotonic()
        self.deadline = self.started + _STARTUP_TIMEOUT
        self.log_offset = 0

    def dispatch(self, case: CaseInfo, case_dir: Path, timeout: float) -> None:
        self.case, self.stage = case, "dispatch"
        self.log_offset = self.log_path.stat().st_size
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.conn.send((str(case_dir), case.rtol, case.atol))

    def log_since_dispatch(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                f.seek(self.log_offset)
                return f.read()[-20000:]
        except OSError:
            return ""

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                kill = True
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def run_cases(cases: Sequence[CaseInfo], data_dir: Path, backend_spec: str = DEFAULT_BACKEND,
              jobs: int = 2, timeout: float = 60.0, memory_mb: int = 8192,
              progress: Callable[[int, int, CaseResult], None] | None = None,
              warn: Callable[[str], None] = lambda s: None) -> list[CaseResult]:
    """Run every case in a pool of `jobs` reusable workers; return results in case order.

    A worker that dies or passes its case's deadline is killed and replaced; its case is
    recorded as crash/timeout. Raises ToolError only if workers cannot even start.
    """
    import tempfile

    # one BLAS/OpenMP thread per worker: `jobs` workers already use the cores
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # thousands of one-off models: not worth a place in the user's compile cache
    os.environ.setdefault("KILN_CACHE", "0")
    ctx = multiprocessing.get_context("spawn")  # no inherited state, safe with any parent
    node_dir = data_dir / "node"
    pending = deque(cases)
    results: dict[str, CaseResult] = {}
    startup_failures = 0
    warned: set[str] = set()

    with tempfile.TemporaryDirectory(prefix="kiln-conformance-") as log_dir:
        counter = iter(range(1 << 30))

        def new_worker() -> _Worker:
            return _Worker(ctx, backend_spec, Path(log_dir) / f"worker{next(counter)}.log",
                           memory_mb)

        def finish(w: _Worker, status: str, reason: str = "", ops: Iterable[str] = ()) -> None:
            assert w.case is not None
            res = CaseResult(w.case.name, w.case.op_type, status, reason, list(ops), w.stage,
                             round(time.monotonic() - w.started, 3))
            results[res.name] = res
            w.case, w.stage, w.deadline = None, "", float("inf")
            if progress:
                progress(len(results), len(cases), res)

        workers = [new_worker() for _ in range(max(1, min(jobs, len(cases))))]
        try:
            while pending or any(w.case for w in workers):
                for w in workers:
                    if w.ready and w.case is None and pending:
                        case = pending.popleft()
                        w.dispatch(case, node_dir / case.name, timeout)
                next_deadline = min(w.deadline for w in workers)
                wait([w.conn for w in workers] + [w.proc.sentinel for w in workers],
                     timeout=None if next_deadline == float("inf")
                     else max(0.0, next_deadline - time.monotonic()))
                for i, w in enumerate(workers):
                    dead = False
                    try:
                        while w.conn.poll():
                            kind, payload = w.conn.recv()
                            if kind == "ready":
                                w.ready, startup_failures = True, 0
                                w.deadline = float("inf")  # idle until dispatched
                                if payload and payload not in warned:
                                    warned.add(payload)
                                    warn(f"warning: {payload} (every case will fail)")
                            elif kind == "stage":
                                w.stage = payload
                            elif kind == "result" and w.case is not None:
                                finish(w, payload["status"], payload.get("reason", ""),
                                       payload.get("unsupported_ops", ()))
                    except (EOFError, OSError):
                        dead = True
                    if dead or not w.proc.is_alive():
                        w.proc.join(1)
                        log = w.log_since_dispatch()
                        if w.case is not None:
                            finish(w, CRASH, _death_reason(w.proc.exitcode, w.stage, log))
                        elif not w.ready:
                            startup_failures += 1
                            if startup_failures >= _MAX_STARTUP_FAILURES:
                                raise ToolError("worker processes die while starting: "
                                                + _death_reason(w.proc.exitcode, "", log))
                        w.stop(kill=True)
                        workers[i] = new_worker()
                    elif time.monotonic() > w.deadline:
                        if w.case is not None:
                            finish(w, TIMEOUT, f"no result after {timeout:g} s "
                                               f"(during {w.stage})")
                        else:  # only a worker that is still starting has a deadline
                            startup_failures += 1
                            if startup_failures >= _MAX_STARTUP_FAILURES:
                                raise ToolError("worker processes do not start within "
                                                f"{_STARTUP_TIMEOUT:g} s")
                        w.stop(kill=True)
                        workers[i] = new_worker()
        finally:
            for w in workers:
                w.stop(kill=w.case is not None or not w.ready)
    return [results[c.name] for c in cases]


# ----------------------------------------------------------------------------- report


def summary_line(results: Sequence[CaseResult]) -> str:
    """`passed N / total M`, the report's first line."""
    passed = sum(1 for r in results if r.status == PASSED)
    return f"passed {passed} / total {len(results)}"


def format_report(results: Sequence[CaseResult], verbose: bool = False) -> str:
    """The summary line, category totals, failures grouped by op type, unsupported ops."""
    lines = [summary_line(results)]
    counts = Counter(r.status for r in results)
    lines.append("by category: " + ", ".join(f"{c} {counts[c]}" for c in CATEGORIES
                                             if counts[c]))
    failures: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        if r.status != PASSED:
            failures[r.op_type].append(r)
    if failures:
        lines.append(f"failures by op type ({len(failures)} op types):")
        width = max(len(op) for op in failures)
        for op in sorted(failures):
            group = failures[op]
            per = Counter(r.status for r in group)
            detail = ", ".join(f"{c} {per[c]}" for c in CATEGORIES if per[c])
            lines.append(f"  {op:<{width}} {len(group):4d}  {detail}")
            if verbose:
                for r in sorted(group, key=lambda r: r.name):
                    reason = _first_line(r.reason)
                    if r.unsupported_ops:
                        reason = "unsupported op(s) " + ", ".join(r.unsupported_ops)
                    lines.append(f"      {r.name}: {r.status}: {reason[:240]}")
    unsupported = Counter(op for r in results for op in r.unsupported_ops)
    if unsupported:
        lines += textwrap.wrap(", ".join(f"{op} {n}" for op, n in sorted(unsupported.items())),
                               width=100, initial_indent="unsupported op types (cases): ",
                               subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(lines)


def write_json(path: Path, results: Sequence[CaseResult], backend: str) -> None:
    """All results and the category totals as JSON."""
    import onnx

    counts = Counter(r.status for r in results)
    data = {"onnx_version": onnx.__version__, "backend": backend,
            "summary": {"total": len(results), **{c: counts[c] for c in CATEGORIES}},
            "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(data, indent=1) + "\n")


# ----------------------------------------------------------------------------- command


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="conformance-tool",
        description="Run ONNX's node test suite against Kiln (or another backend).")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="where the generated test data live (default: %(default)s)")
    p.add_argument("--filter", metavar="REGEX",
                   help="only the cases whose name matches REGEX (re.search)")
    p.add_argument("--subset", choices=sorted(SUBSETS),
                   help="ci: only the cases whose ops are all in CI_OPS")
    p.add_argument("--jobs", "-j", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds per case, compile + run (default 60)")
    p.add_argument("--memory-limit", type=int, default=8192, metavar="MB",
                   help="address-space limit per worker, 0 for none (default 8192)")
    p.add_argument("--backend", default=DEFAULT_BACKEND,
                   help="module:Class or file.py:Class with prepare() (default %(default)s)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every result to FILE")
    p.add_argument("--min-pass", type=int, default=0, metavar="N",
                   help="exit with status 1 when fewer than N cases pass")
    p.add_argument("--verbose", "-v", action="store_true", help="list every failing case")
    p.add_argument("--generate-only", action="store_true",
                   help="only make sure the test data exist")
    return p


def _selector(pattern: str | None, subset: str | None) -> Callable[[CaseInfo], bool]:
    regex = re.compile(pattern) if pattern else None
    ops = set(SUBSETS[subset]) if subset else None

    def select(case: CaseInfo) -> bool:
        if regex and not regex.search(case.name):
            return False
        return ops is None or set(case.ops) <= ops

    return select


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)

    def err(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.jobs < 1:
        err("conformance-tool: --jobs must be at least 1")
        return 2
    if args.timeout <= 0:
        err("conformance-tool: --timeout must be positive")
        return 2
    try:
        select = _selector(args.filter, args.subset)
    except re.error as e:
        err(f"conformance-tool: bad --filter regex '{args.filter}': {e}")
        return 2
    try:
        cases = ensure_data(args.data_dir.resolve(), select, log=err)
        if args.generate_only:
            print(f"{len(cases)} case(s) ready in {args.data_dir}")
            return 0
        if not cases:
            err("conformance-tool: no case matches the selection")
            return 2
        tty = sys.stderr.isatty()

        def progress(done: int, total: int, res: CaseResult) -> None:
            if tty:
                sys.stderr.write(f"\r\x1b[K[{done}/{total}] {res.name}: {res.status}")
                sys.stderr.flush()

        start = time.monotonic()
        results = run_cases(cases, args.data_dir.resolve(), args.backend, args.jobs,
                            args.timeout, args.memory_limit, progress, warn=err)
        if tty:
            sys.stderr.write("\r\x1b[K")
    except ToolError as e:
        err(f"conformance-tool: {e}")
        return 2
    print(format_report(results, args.verbose))
    print(f"({time.monotonic() - start:.1f} s, {args.jobs} job(s), backend {args.backend})")
    if args.json:
        try:
            write_json(args.json, results, args.backend)
        except OSError as e:
            err(f"conformance-tool: cannot write {args.json}: {e}")
            return 2
    passed = sum(1 for r in results if r.status == PASSED)
    if passed < args.min_pass:
        err(f"conformance-tool: {passed} case(s) passed, fewer than --min-pass {args.min_pass}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("conformance-tool: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the report was piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
