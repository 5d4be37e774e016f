"""fuzz-tool: feed Kiln malformed and unusual models and inputs; report what breaks.

    python -m tools.fuzz_tool --onnx 300                      # a few minutes (CI)
    python -m tools.fuzz_tool --onnx 2000 --mlir 1000 --examples all --keep .cache/fuzz
    python -m tools.fuzz_tool --seed 0 --only onnx-17 -v      # one case again, in detail

ONNX cases (tools/fuzz_onnx.py) are mutants of small seed models and of the bundled
examples: attributes, shapes, dtypes, initializers, graph structure and bytes, called with
inputs that fit the declared dims or do not. Each compiles with Kiln (checks="bounds"
where compiler.compile takes it) and, where onnxruntime accepts the model, runs on both;
.mlir cases come from tools/fuzz_mlir.py (--mlir N, when that module is importable).

Every case runs in a pool of worker processes (--jobs) with a per-case time limit
(--timeout); a worker that crashes or hangs is replaced. Outcomes, from fine to failing:

    ok                  Kiln's outputs match onnxruntime's (and a second identical call)
    ok-unchecked        Kiln runs, onnxruntime rejects the model: nothing to compare
    rejected            both reject the model, or Kiln raises InputError for inputs that
                        onnxruntime also rejects (CompileError / InputError, with a message)
    rejected-kiln-only  Kiln rejects cleanly what onnxruntime runs (a coverage gap)
    ref-crash           onnxruntime itself crashed the worker (not Kiln's failure)
  failures:
    bad-message         a Kiln error message prints -9223372036854775808 or a traceback
    missed-check        Kiln runs on inputs that onnxruntime rejects
    wrong-result        outputs differ beyond tolerance, or two identical calls differ
    foreign-exception   an exception that is not a KilnError
    internal-error      compiler.InternalError (a bug Kiln reports about itself)
    traceback           (.mlir) a Python traceback from opt-tool
    timeout, crash      no result within --timeout; the worker died (signal)

The run is deterministic for a --seed. The report is a table of counts, then the failures
grouped by cause with a reproducer command each; --keep DIR writes every failing case
(model.onnx or case.mlir, inputs_K.npz, case.json, repro.py); --json FILE the whole
report. Exit status: 0, 1 when any case fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

GOOD = ("ok", "ok-unchecked", "rejected", "rejected-kiln-only", "ref-crash")
FAILURES = ("bad-message", "missed-check", "wrong-result", "foreign-exception",
            "internal-error", "traceback", "timeout", "crash")
CATEGORIES = GOOD + FAILURES
_SEVERITY = {c: i for i, c in enumerate(CATEGORIES)}
_MLIR_CATEGORIES = {"ok": "ok", "rejected": "rejected"}  # the others keep their names

UNKNOWN_DIM_TEXT = str(-(2 ** 63))
"""How a dynamic dim prints when a message forgets to show it as `?`."""

_ORT_LIMITATIONS = ("fmod attribute must be true", "mod_internal::CallModImpl")
"""onnxruntime errors for inputs that ONNX allows (float Mod with fmod = 0, which onnx's own
node tests cover): not a check Kiln misses."""

_STARTUP_TIMEOUT = 180.0
_DETAIL_LIMIT = 2000


@dataclass
class Outcome:
    """The result of one case: its category, why, and a cause to group failures by."""

    name: str
    category: str
    detail: str = ""
    signature: str = ""
    stage: str = ""
    seconds: float = 0.0
    seed_model: str = ""
    mutations: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- outcomes


def _worse(a: tuple[str, str, str], b: tuple[str, str, str]) -> tuple[str, str, str]:
    return b if _SEVERITY[b[0]] > _SEVERITY[a[0]] else a


def _short(text: object, limit: int = _DETAIL_LIMIT) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[:limit] + " ..."


def exception_site(e: BaseException) -> str:
    """`file:line in function` of the innermost frame in Kiln's own code (else the last)."""
    cause = e.__cause__ if e.__cause__ is not None else e
    frames = traceback.extract_tb(cause.__traceback__)
    own = [f for f in frames if str(REPO_ROOT) in f.filename and "/tools/fuzz" not in
           f.filename]
    frame = (own or frames or [None])[-1]
    if frame is None:
        return type(cause).__name__
    path = os.path.relpath(frame.filename, REPO_ROOT) if str(REPO_ROOT) in frame.filename \
        else os.path.basename(frame.filename)
    return f"{type(cause).__name__} at {path}:{frame.lineno} in {frame.name}"


def classify_kiln_error(e: BaseException, stage: str) -> tuple[str, str, str]:
    """(category, detail, signature) for an exception Kiln raised while `stage`."""
    import compiler

    text = _short(e)
    if isinstance(e, compiler.InternalError):
        return "internal-error", text, f"internal-error: {exception_site(e)}"
    if not isinstance(e, compiler.KilnError):
        return ("foreign-exception", f"{type(e).__name__}: {text}",
                f"foreign-exception: {exception_site(e)}")
    if UNKNOWN_DIM_TEXT in text or "Traceback (most recent call last)" in text:
        return "bad-message", text, f"bad-message: {type(e).__name__} while {stage}"
    if not text:
        return "bad-message", "an empty message", f"bad-message: empty {type(e).__name__}"
    return "rejected", text, ""


# ----------------------------------------------------------------------------- comparing


def compare_outputs(expected: Sequence[Any], actual: Sequence[Any], values: bool = True
                    ) -> str | None:
    """Why `actual` differs from `expected` (None when they agree within tolerance);
    with `values` false only the count, shapes and dtypes are compared."""
    import numpy as np

    if len(expected) != len(actual):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for k, (want, got) in enumerate(zip(expected, actual, strict=True)):
        want, got = np.asarray(want), np.asarray(got)
        if want.shape != got.shape:
            return f"output {k}: shape {list(got.shape)}, expected {list(want.shape)}"
        if want.dtype != got.dtype:
            return f"output {k}: dtype {got.dtype}, expected {want.dtype}"
        why = _value_difference(want, got) if values else None
        if why:
            return f"output {k}: {why}"
    return None


def _value_difference(want, got) -> str | None:
    import numpy as np

    if want.size == 0:
        return None
    if want.dtype.kind not in "fc":
        bad = np.flatnonzero(want.reshape(-1) != got.reshape(-1))
        if bad.size:
            i = int(bad[0])
            return (f"{bad.size} of {want.size} elements differ, first at flat index {i}: "
                    f"{got.reshape(-1)[i]} vs {want.reshape(-1)[i]}")
        return None
    rtol = {2: 1e-2, 4: 1e-3}.get(want.dtype.itemsize, 1e-6)
    finite = np.abs(want[np.isfinite(want)])
    atol = rtol * 0.1 * max(1.0, float(finite.max()) if finite.size else 1.0)
    close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    i = int(np.flatnonzero(~close.reshape(-1))[0])
    return (f"{int((~close).sum())} of {want.size} elements differ beyond rtol {rtol:g} / "
            f"atol {atol:.3g}, first at flat index {i}: {got.reshape(-1)[i]} vs "
            f"{want.reshape(-1)[i]}")


def _same_exactly(a: Sequence[Any], b: Sequence[Any]) -> bool:
    import numpy as np

    return len(a) == len(b) and all(
        np.asarray(x).shape == np.asarray(y).shape and np.array_equal(
            x, y, equal_nan=np.asarray(x).dtype.kind in "fc") for x, y in zip(a, b,
                                                                             strict=True))


# ----------------------------------------------------------------------------- one case


def _compile_options() -> dict[str, object]:
    """checks="bounds" where compiler.compile accepts it (every out-of-bounds access is
    then an InputError rather than a silent read)."""
    import compiler

    return {"checks": "bounds"} if "checks" in inspect.signature(
        compiler.compile).parameters else {}


def _ort_session(data: bytes):
    """An onnxruntime session for the model, or the error text when it rejects it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]), ""
    except Exception as e:  # any rejection: invalid model, type errors, not implemented
        return None, _short(e, 300)


def run_onnx_case(case, stage: Callable[[str], None] = lambda s: None
                  ) -> tuple[str, str, str]:
    """Compile and call one OnnxCase with Kiln and onnxruntime: (category, detail,
    signature)."""
    import compiler

    stage("onnxruntime load")
    session, ort_error = _ort_session(case.model)
    stage("kiln compile")
    try:
        model = compiler.compile(case.model, **_compile_options())
    except Exception as e:
        category, detail, signature = classify_kiln_error(e, "compiling")
        stage("onnxruntime run")
        if category == "rejected" and session is not None and _ort_runs(session, case):
            return "rejected-kiln-only", detail, ""
        return category, detail, signature
    result = ("ok", "", "") if session is not None else \
        ("ok-unchecked", f"onnxruntime rejects the model: {ort_error}", "")
    for k, feed in enumerate(case.feeds):
        stage(f"call {k} ({feed.note})")
        result = _worse(result, _run_feed(model, session, feed, ort_error,
                                          compare=not case.nan_weights,
                                          model_bytes=case.model))
    return result


def _ort_runs(session, case) -> bool:
    """Whether onnxruntime runs the case's first call (a model it loads may still fail
    on every input, e.g. a constant index out of range)."""
    if not case.feeds:
        return True
    try:
        session.run(None, case.feeds[0].arrays)
    except Exception:  # onnxruntime rejects it at run time: Kiln rejecting it is right
        return False
    return True


def _run_feed(model, session, feed, ort_error: str, compare: bool = True,
              model_bytes: bytes | None = None) -> tuple[str, str, str]:
    """One call: Kiln twice, onnxruntime once (when it loaded the model). Values are not
    compared with `compare` false or NaN inputs: where NaNs go through min/max/argmax/
    topk ONNX leaves open, and onnxruntime differs from numpy there."""
    expected, ref_error = None, ort_error
    if session is not None:
        try:
            expected = session.run(None, feed.arrays)
            ref_error = ""
        except Exception as e:  # onnxruntime rejects these inputs
            ref_error = _short(e, 300)
    try:
        first = model(**feed.arrays)
        second = model(**feed.arrays)
    except Exception as e:
        category, detail, signature = classify_kiln_error(e, f"calling ({feed.note})")
        if category == "rejected" and expected is not None:
            return "rejected-kiln-only", f"{feed.note} inputs: {detail}", ""
        return category, detail, signature
    if not _same_exactly(first, second):
        return ("wrong-result", f"{feed.note} inputs: two identical calls differ",
                "wrong-result: nondeterministic")
    if session is None:
        return "ok-unchecked", f"onnxruntime rejects the model: {ort_error}", ""
    if expected is None and any(text in ref_error for text in _ORT_LIMITATIONS):
        return "ok-unchecked", f"{feed.note} inputs: onnxruntime cannot run them: " \
            f"{ref_error}", ""
    if expected is None:
        return ("missed-check", f"{feed.note} inputs: Kiln runs, onnxruntime rejects: "
                f"{ref_error}", f"missed-check: {feed.note} inputs")
    values = compare and feed.note != "extreme-nan"
    why = compare_outputs(expected, first, values=values)
    if why and _reference_agrees(model_bytes, feed, first, values):
        return "ok", f"{feed.note} inputs: onnxruntime differs ({why}), onnx.reference " \
            "agrees with Kiln", ""
    if why:
        return "wrong-result", f"{feed.note} inputs: {why}", f"wrong-result: {why[:40]}"
    return "ok", "", ""


def _reference_agrees(model_bytes: bytes | None, feed, got: Sequence[Any], values: bool
                      ) -> bool:
    """Whether onnx's reference implementation (the spec in numpy) gives Kiln's outputs.

    onnxruntime departs from the spec at some edges (it skips a Conv's padded taps, so a
    -inf weight times a padded 0 is no nan there): matching the spec is not a bug."""
    if model_bytes is None:
        return False
    import numpy as np

    try:
        import onnx
        from onnx.reference import ReferenceEvaluator

        with np.errstate(all="ignore"):
            reference = ReferenceEvaluator(onnx.load_from_string(model_bytes))
            want = reference.run(None, feed.arrays)
    except Exception:  # the reference lacks the op or fails: no second opinion
        return False
    return compare_outputs(want, got, values=values) is None


# ----------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class Task:
    """A case to run: kind "onnx" (seed, index) or "mlir" (seed, count, index)."""

    kind: str
    seed: int
    index: int
    count: int = 0
    examples: str = "small"

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"


_MLIR_CACHE: dict[tuple[int, int], list[Any]] = {}


def mlir_case(seed: int, count: int, index: int) -> Any:
    from tools.fuzz_mlir import mlir_cases

    key = (seed, count)
    if key not in _MLIR_CACHE:
        _MLIR_CACHE[key] = mlir_cases(seed, count)
    return _MLIR_CACHE[key][index]


def run_task(task: Task, stage: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run one task in this process; the fields of its Outcome (less name and time)."""
    from tools.fuzz_onnx import onnx_case

    if task.kind == "mlir":
        from tools.fuzz_mlir import run_mlir_case

        stage("mlir case")
        case = mlir_case(task.seed, task.count, task.index)
        category, detail = run_mlir_case(case)
        category = _MLIR_CATEGORIES.get(category, category)
        if category not in CATEGORIES:
            category = "crash"
        signature = "" if category in GOOD else f"{category}: {detail[:60]}"
        return {"category": category, "detail": _short(detail), "signature": signature,
                "seed_model": getattr(case, "source", ""),
                "mutations": list(getattr(case, "mutations", ()))}
    stage("generate")
    case = onnx_case(task.seed, task.index, task.examples)
    category, detail, signature = run_onnx_case(case, stage)
    return {"category": category, "detail": detail, "signature": signature,
            "seed_model": case.seed_model, "mutations": list(case.mutations),
            "feeds": [f.note for f in case.feeds]}


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


def _worker_main(conn: Connection, log_path: str, memory_mb: int) -> None:
    """Worker loop: receive a Task, send stage messages and a result."""
    import faulthandler

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.enable()
    warnings.simplefilter("ignore")
    import numpy as np
    import onnxruntime

    np.seterr(all="ignore")
    onnxruntime.set_default_logger_severity(4)
    import compiler  # noqa: F401  (the imports take most of a worker's start-up)

    _limit_memory(memory_mb)
    conn.send(("ready", None))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        print(f"=== {task.name}", flush=True)
        try:
            result = run_task(task, lambda s: conn.send(("stage", s)))
        except Exception as e:  # the fuzzer's own bug: report it, keep the worker
            result = {"category": "foreign-exception",
                      "detail": f"fuzz tool: {type(e).__name__}: {_short(e)}",
                      "signature": f"fuzz tool: {exception_site(e)}"}
        conn.send(("result", result))


class _Worker:
    """One worker process, the task it runs, and its deadline."""

    def __init__(self, ctx: Any, log_path: Path, memory_mb: int):
        self.log_path = log_path
        log_path.touch()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, daemon=True,
                                args=(child, str(log_path), memory_mb))
        self.proc.start()
        child.close()
        self.ready = False
        self.task: Task | None = None
        self.stage = ""
        self.started = time.monotonic()
        self.deadline = self.started + _STARTUP_TIMEOUT
        self.log_offset = 0

    def dispatch(self, task: Task, timeout: float) -> None:
        self.task, self.stage = task, "dispatch"
        self.log_offset = self.log_path.stat().st_size
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.conn.send(task)

    def log_tail(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                f.seek(self.log_offset)
                return f.read()[-4000:]
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


def _death(exitcode: int | None, stage: str, log: str) -> tuple[str, str, str]:
    if exitcode is not None and exitcode < 0:
        try:
            how = signal.Signals(-exitcode).name
        except ValueError:
            how = f"signal {-exitcode}"
    else:
        how = f"exit status {exitcode}"
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and not
             ln.startswith("===")]
    frames = [ln for ln in lines if ln.startswith("File ")]
    where = frames[0] if frames else (lines[-1] if lines else "")
    category = "ref-crash" if stage.startswith("onnxruntime") or (
        "onnxruntime" in where) else "crash"
    detail = f"worker died ({how}) during {stage or 'start-up'}" + (f": {where}"
                                                                     if where else "")
    return category, _short(detail), f"{category}: {how} during {stage.split(' (')[0]}"


class ToolError(Exception):
    """Workers that cannot start, or bad arguments: exit status 2."""


def run_tasks(tasks: Sequence[Task], jobs: int, timeout: float, memory_mb: int,
              progress: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
    """Run every task in a pool of `jobs` reusable workers; outcomes in task order."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # thousands of one-off models: not worth a place in the user's compile cache
    os.environ.setdefault("KILN_CACHE", "0")
    ctx = multiprocessing.get_context("spawn")
    pending = deque(tasks)
    results: dict[str, Outcome] = {}
    startup_failures = 0
    with tempfile.TemporaryDirectory(prefix="kiln-fuzz-") as log_dir:
        counter = iter(range(1 << 30))

        def new_worker() -> _Worker:
            return _Worker(ctx, Path(log_dir) / f"worker{next(counter)}.log", memory_mb)

        def finish(w: _Worker, fields: dict[str, Any]) -> None:
            assert w.task is not None
            outcome = Outcome(w.task.name, stage=w.stage,
                              seconds=round(time.monotonic() - w.started, 3), **fields)
            results[outcome.name] = outcome
            w.task, w.stage, w.deadline = None, "", float("inf")
            progress(outcome)

        workers = [new_worker() for _ in range(max(1, min(jobs, len(tasks))))]
        try:
            while pending or any(w.task for w in workers):
                for w in workers:
                    if w.ready and w.task is None and pending:
                        w.dispatch(pending.popleft(), timeout)
                soonest = min(w.deadline for w in workers)
                wait([w.conn for w in workers] + [w.proc.sentinel for w in workers],
                     timeout=None if soonest == float("inf")
                     else max(0.0, soonest - time.monotonic()))
                for i, w in enumerate(workers):
                    dead = False
                    try:
                        while w.conn.poll():
                            kind, payload = w.conn.recv()
                            if kind == "ready":
                                w.ready, w.deadline, startup_failures = True, float("inf"), 0
                            elif kind == "stage":
                                w.stage = payload
                            elif kind == "result" and w.task is not None:
                                finish(w, payload)
                    except (EOFError, OSError):
                        dead = True
                    if dead or not w.proc.is_alive():
                        w.proc.join(1)
                        if w.task is not None:
                            category, detail, sig = _death(w.proc.exitcode, w.stage,
                                                           w.log_tail())
                            finish(w, {"category": category, "detail": detail,
                                       "signature": sig})
                        elif not w.ready:
                            startup_failures += 1
                        w.stop(kill=True)
                        workers[i] = new_worker()
                    elif time.monotonic() > w.deadline:
                        if w.task is not None:
                            finish(w, {"category": "timeout",
                                       "detail": f"no result after {timeout:g} s (during "
                                                 f"{w.stage})",
                                       "signature": f"timeout: during {w.stage.split(' (')[0]}"})
                        else:
                            startup_failures += 1
                        w.stop(kill=True)
                        workers[i] = new_worker()
                    if startup_failures >= 3:
                        raise ToolError("worker processes do not start: "
                                        + _short(w.log_tail(), 500))
        finally:
            for w in workers:
                w.stop(kill=w.task is not None or not w.ready)
    return [results[t.name] for t in tasks]


# ----------------------------------------------------------------------------- keeping


_REPRO = '''"""Reproduce fuzz case {name} (seed {seed}): {category}.

{detail}
Run: python {path}   (from the repository root)
"""
import glob
import inspect
import os

import numpy as np
import onnxruntime as ort

import compiler

HERE = os.path.dirname(os.path.abspath(__file__))
model_bytes = open(os.path.join(HERE, "model.onnx"), "rb").read()
options = {{"checks": "bounds"}} if "checks" in inspect.signature(
    compiler.compile).parameters else {{}}
try:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
except Exception as e:
    session = None
    print("onnxruntime rejects the model:", e)
model = compiler.compile(model_bytes, **options)
for path in sorted(glob.glob(os.path.join(HERE, "inputs_*.npz"))):
    feed = dict(np.load(path))
    print(os.path.basename(path), {{k: (v.dtype.name, v.shape) for k, v in feed.items()}})
    if session is not None:
        try:
            print("  onnxruntime:", session.run(None, feed))
        except Exception as e:
            print("  onnxruntime rejects the inputs:", e)
    print("  kiln:", model(**feed))
'''


def keep_case(directory: Path, task: Task, outcome: Outcome) -> Path:
    """Write a failing case (model or IR, inputs, description, reproducer)."""
    import numpy as np

    folder = directory / outcome.name
    folder.mkdir(parents=True, exist_ok=True)
    info = asdict(outcome) | {"seed": task.seed, "reproduce": reproduce_command(task)}
    if task.kind == "onnx":
        from tools.fuzz_onnx import onnx_case

        case = onnx_case(task.seed, task.index, task.examples)
        (folder / "model.onnx").write_bytes(case.model)
        for k, feed in enumerate(case.feeds):
            np.savez(folder / f"inputs_{k}.npz", **feed.arrays)
        (folder / "repro.py").write_text(_REPRO.format(
            name=outcome.name, seed=task.seed, category=outcome.category,
            detail=outcome.detail[:500], path=folder / "repro.py"))
    else:
        case = mlir_case(task.seed, task.count, task.index)
        for key, value in vars(case).items():
            if isinstance(value, str) and "\n" in value:
                (folder / f"{key}.mlir").write_text(value)
        info["case"] = {k: v for k, v in vars(case).items() if not isinstance(v, str) or
                        "\n" not in v}
    (folder / "case.json").write_text(json.dumps(info, indent=2, default=str))
    return folder


def reproduce_command(task: Task) -> str:
    extra = f" --mlir {task.count}" if task.kind == "mlir" else \
        (f" --examples {task.examples}" if task.examples != "small" else "")
    return f"python -m tools.fuzz_tool --seed {task.seed}{extra} --only {task.name} -v"


# ----------------------------------------------------------------------------- report


def format_report(outcomes: Sequence[Outcome], tasks: Sequence[Task], seconds: float,
                  verbose: bool = False) -> str:
    counts = Counter(o.category for o in outcomes)
    kinds = Counter(t.kind for t in tasks)
    lines = [f"{'category':<20}{'cases':>8}"]
    for category in CATEGORIES:
        if category == FAILURES[0]:
            lines.append("-- failures")
        lines.append(f"{category:<20}{counts.get(category, 0):>8}")
    failed = sum(counts[c] for c in FAILURES)
    lines.append(f"{kinds['onnx']} ONNX + {kinds['mlir']} .mlir cases in {seconds:.0f} s: "
                 f"{failed} failure{'s' if failed != 1 else ''}")
    by_name = {t.name: t for t in tasks}
    shown = FAILURES + (("rejected-kiln-only", "ok-unchecked") if verbose else ())
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.category in shown:
            groups[o.signature or f"{o.category}: {o.detail[:60]}"].append(o)
    for signature, group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = group[0]
        names = ", ".join(o.name for o in group[:6]) + (" ..." if len(group) > 6 else "")
        lines += ["", f"{signature}  ({len(group)} case{'s' if len(group) > 1 else ''}: "
                      f"{names})",
                  f"  {first.name} [{first.seed_model}] {'; '.join(first.mutations)}",
                  f"  {first.detail[:400]}",
                  f"  reproduce: {reproduce_command(by_name[first.name])}"]
    return "\n".join(lines)


def write_json(path: Path, outcomes: Sequence[Outcome], seed: int, seconds: float) -> None:
    counts = Counter(o.category for o in outcomes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "seed": seed, "seconds": round(seconds, 1),
        "counts": {c: counts.get(c, 0) for c in CATEGORIES},
        "failures": sum(counts[c] for c in FAILURES),
        "cases": [asdict(o) for o in outcomes]}, indent=1))


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fuzz-tool", description="Fuzz Kiln with ONNX and .mlir mutants.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=int, default=200, metavar="N", help="ONNX cases (200)")
    p.add_argument("--mlir", type=int, default=0, metavar="N",
                   help=".mlir cases from tools/fuzz_mlir.py (0)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (0)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds per case (90)")
    p.add_argument("--memory-mb", type=int, default=6144,
                   help="address-space limit of a worker, 0 for none (6144)")
    p.add_argument("--examples", choices=("none", "small", "all"), default="small",
                   help="bundled example models among the seeds (small: mlp, cnn, lstm, gru)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only these cases (onnx-17, mlir-3; repeatable)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="write failing cases here")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print every case, and the rejected-kiln-only and ok-unchecked "
                        "causes")
    return p


def _tasks(args: argparse.Namespace, note: Callable[[str], None]) -> list[Task]:
    tasks = [Task("onnx", args.seed, i, examples=args.examples) for i in range(args.onnx)]
    if args.mlir:
        try:
            import tools.fuzz_mlir  # noqa: F401
        except ImportError as e:
            note(f"note: .mlir cases skipped: tools.fuzz_mlir cannot be imported ({e})")
        else:
            tasks += [Task("mlir", args.seed, i, count=args.mlir) for i in range(args.mlir)]
    if args.only:
        wanted = set(args.only)
        if any(n.startswith("onnx-") for n in wanted):
            top = max(int(n.split("-", 1)[1]) for n in wanted if n.startswith("onnx-"))
            tasks += [Task("onnx", args.seed, i, examples=args.examples)
                      for i in range(args.onnx, top + 1)]
        tasks = [t for t in tasks if t.name in wanted]
        if len(tasks) != len(wanted):
            raise ToolError(f"unknown cases: {sorted(wanted - {t.name for t in tasks})} "
                            "(an .mlir case needs --mlir N with N above its index)")
    return tasks


def _describe_dead_cases(outcomes: Sequence[Outcome], tasks: dict[str, Task]) -> None:
    """Seed and mutations of the ONNX cases whose worker died (rebuilt here)."""
    from tools.fuzz_onnx import onnx_case

    for o in outcomes:
        task = tasks[o.name]
        if task.kind == "onnx" and not o.seed_model:
            case = onnx_case(task.seed, task.index, task.examples)
            o.seed_model, o.mutations = case.seed_model, list(case.mutations)
            o.feeds = [f.note for f in case.feeds]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        tasks = _tasks(args, note)
    except (ToolError, ValueError) as e:
        note(f"fuzz-tool: {e}")
        return 2
    start = time.monotonic()
    done = Counter()

    def progress(o: Outcome) -> None:
        done[o.category] += 1
        total = sum(done.values())
        if args.verbose:
            note(f"{o.name:<12} {o.category:<18} {o.seconds:6.1f}s {o.detail[:160]}")
        elif total % 100 == 0 or total == len(tasks):
            failed = sum(done[c] for c in FAILURES)
            note(f"[{total}/{len(tasks)}] {failed} failures, "
                 f"{time.monotonic() - start:.0f} s")

    try:
        outcomes = run_tasks(tasks, args.jobs, args.timeout, args.memory_mb, progress)
    except ToolError as e:
        note(f"fuzz-tool: {e}")
        return 2
    seconds = time.monotonic() - start
    by_name = {t.name: t for t in tasks}
    _describe_dead_cases(outcomes, by_name)
    print(format_report(outcomes, tasks, seconds, args.verbose))
    if args.keep:
        for o in outcomes:
            if o.category in FAILURES:
                keep_case(args.keep, by_name[o.name], o)
    if args.json:
        write_json(args.json, outcomes, args.seed, seconds)
    return 1 if any(o.category in FAILURES for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
