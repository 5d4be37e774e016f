"""fuzz-mlir: mutate the project's own .mlir files and check that opt-tool and
compiler.compile never fail except with a clean diagnostic.

    python -m tools.fuzz_mlir --count 200 --seed 1          # summary by category
    python -m tools.fuzz_mlir --count 1000 --dump /tmp/f    # also write failing cases

Seeds are test/filecheck/**/*.mlir, split on `// -----`, comment lines dropped. A case is
one seed, zero to three text mutations (tokens and lines deleted, duplicated or swapped,
integers set to 0/-1/huge, floats to 1e39/nan/inf, element types and dims changed, SSA
names renamed, the text truncated) and a pipeline from the pass registry (one pass, a
preset, or a short random sequence). `run_mlir_case` runs opt-tool's `main` in-process
and, for graph-level IR, `compiler.compile`, and sorts the outcome into one category:

    ok                 exit 0 / compiled
    rejected           a clean diagnostic (exit 1; CompileError that is not internal)
    internal-error     Kiln reported a bug of its own (opt-tool "internal error",
                       compiler.InternalError)
    foreign-exception  compiler.compile raised something that is not a KilnError
    traceback          an exception escaped opt-tool's main, or a traceback was printed
    wrong-result       opt-tool succeeded but its output does not parse back to the same
                       text, or compile rejected as invalid IR what opt-tool accepted
    crash              the case did not finish (timeout, or a BaseException)

tools/fuzz_tool.py imports `mlir_cases` and `run_mlir_case` and runs cases in worker
subprocesses; the CLI here runs them in this process, one after the other.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = ROOT / "test" / "filecheck"

CATEGORIES = ("ok", "rejected", "internal-error", "foreign-exception", "traceback",
              "wrong-result", "crash")
"""Outcome categories, from good to worst."""

_SEVERITY = {c: i for i, c in enumerate(CATEGORIES)}


@dataclass(frozen=True)
class MlirCase:
    """One fuzz case: IR text and the pipeline to run on it."""

    name: str
    text: str
    pipeline: str
    """opt-tool's -p value ("" = parse, verify and print only)."""
    source: str
    """The seed: test file (relative to test/filecheck) and chunk index."""
    mutations: tuple[str, ...] = ()
    compile: bool = False
    """Also run compiler.compile on the text (graph-level IR)."""
    compile_pipeline: str | None = None
    """compile()'s graph pipeline (None: its default, O2)."""


# --------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class _Seed:
    source: str
    text: str
    level: str  # graph, tensor, memref, llvm


def _level(text: str) -> str:
    if "llvm." in text or "!llvm" in text:
        return "llvm"
    if "memref<" in text:
        return "memref"
    if "graph." in text:
        return "graph"
    return "tensor"


@cache
def seeds() -> tuple[_Seed, ...]:
    """Every chunk of every .mlir test file, without its comment lines."""
    found = []
    for path in sorted(SEED_DIR.rglob("*.mlir")):
        if "Output" in path.relative_to(SEED_DIR).parts:  # lit's scratch files
            continue
        raw = path.read_text(encoding="utf-8")
        for k, chunk in enumerate(raw.split("// -----")):
            lines = [ln for ln in chunk.splitlines() if not ln.lstrip().startswith("//")]
            text = "\n".join(lines).strip()
            if text:
                rel = path.relative_to(SEED_DIR).as_posix()
                found.append(_Seed(f"{rel}#{k}", text + "\n", _level(text)))
    return tuple(found)


# --------------------------------------------------------------------------- mutations

_TOKEN = re.compile(r'''"(?:[^"\\]|\\.)*"|%[\w.$#-]+|@[\w.$-]+|\^[\w.$-]+|#[\w.$-]+|![\w.$-]+
                        |[-+]?\d+\.\d*(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|\d+|[A-Za-z_][\w.$]*
                        |->|[^\s\w]''', re.VERBOSE)
_INT = re.compile(r"(?<![\w.%@#^!-])-?\d+(?![\w.])")
_FLOAT = re.compile(r"(?<![\w.%@])-?\d+\.\d*(?:[eE][-+]?\d+)?(?![\w.])")
_DIM = re.compile(r"(?<=[<x])(?:\d+|\?)(?=x)")
_ELEMENT = re.compile(r"(?<=[x<\s(,:])(?:f16|f32|f64|bf16|i1|i8|i16|i32|i64|ui8|ui32|ui64"
                      r"|index)(?![\w])")
_SHAPED = re.compile(r"\b(tensor|memref|vector)<")
_SSA = re.compile(r"%[\w.$-]+")
_TYPE = re.compile(r"\b(?:tensor|memref|vector)<[^<>]*>")

_HUGE_INTS = ("0", "-1", "1", "2", "-2", "255", "256", "2147483648", "4294967296",
              "9223372036854775807", "9223372036854775808", "18446744073709551616",
              "-9223372036854775809", "281474976710657", "1000000", "99999999999999999999")
_FLOATS = ("1.0e39", "-1.0e39", "1.0e309", "nan", "inf", "-inf", "0.0", "-0.0", "1.0e-50",
           "3.4028235e38", "1.0e-320")
_ELEMENTS = ("f16", "f32", "f64", "bf16", "i1", "i8", "i32", "i64", "ui8", "index",
             "complex<f32>", "none", "tensor<2xf32>", "!llvm.ptr")
_DIMS = ("?", "0", "1", "3", "-1", "9223372036854775807", "281474976710657", "65536")


def _sub_one(rng: random.Random, text: str, pattern: re.Pattern[str],
             choices: Sequence[str]) -> str | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    m = rng.choice(matches)
    return text[:m.start()] + rng.choice(choices) + text[m.end():]


def _tokens(text: str) -> list[re.Match[str]]:
    return list(_TOKEN.finditer(text))


def _token_op(kind: str) -> Callable[[random.Random, str], str | None]:
    def mutate(rng: random.Random, text: str) -> str | None:
        toks = _tokens(text)
        if len(toks) < 2:
            return None
        a = rng.choice(toks)
        if kind == "delete":
            return text[:a.start()] + text[a.end():]
        if kind == "duplicate":
            return text[:a.end()] + " " + a.group() + text[a.end():]
        i = toks.index(a)
        j = min(i + 1, len(toks) - 1) if rng.random() < 0.5 else rng.randrange(len(toks))
        b = toks[j]
        if b.start() == a.start():
            return None
        first, second = (a, b) if a.start() < b.start() else (b, a)
        return (text[:first.start()] + second.group() + text[first.end():second.start()]
                + first.group() + text[second.end():])

    return mutate


def _line_op(kind: str) -> Callable[[random.Random, str], str | None]:
    def mutate(rng: random.Random, text: str) -> str | None:
        lines = text.splitlines()
        if len(lines) < 2:
            return None
        i = rng.randrange(len(lines))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        else:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines) + "\n"

    return mutate


def _ints(rng: random.Random, text: str) -> str | None:
    return _sub_one(rng, text, _INT, _HUGE_INTS)


def _floats(rng: random.Random, text: str) -> str | None:
    return _sub_one(rng, text, _FLOAT, _FLOATS)


def _everywhere(rng: random.Random, text: str,
                mutate: Callable[[random.Random, str], str | None]) -> str | None:
    """Mutate one shaped type literal and, half of the time, every copy of it: a
    consistent change gets past the parser's type checks to the verifiers and passes."""
    types = sorted({m.group() for m in _TYPE.finditer(text)})
    if not types or rng.random() < 0.5:
        return mutate(rng, text)
    old = rng.choice(types)
    new = mutate(rng, old)
    return None if new is None else text.replace(old, new)


def _dims(rng: random.Random, text: str) -> str | None:
    return _everywhere(rng, text, lambda r, t: _sub_one(r, t, _DIM, _DIMS))


def _element_types(rng: random.Random, text: str) -> str | None:
    # all occurrences of one element type at once keep more cases past the verifiers
    found = sorted({m.group() for m in _ELEMENT.finditer(text)})
    if not found:
        return None
    old, new = rng.choice(found), rng.choice(_ELEMENTS)
    if rng.random() < 0.5:
        return _ELEMENT.sub(lambda m: new if m.group() == old else m.group(), text)
    return _sub_one(rng, text, re.compile(rf"(?<=[x<\s(,:]){re.escape(old)}(?![\w])"), [new])


def _shaped_kind(rng: random.Random, text: str) -> str | None:
    return _sub_one(rng, text, _SHAPED, ["tensor<", "memref<", "vector<", "tensor<*x"])


def _rank(rng: random.Random, text: str) -> str | None:
    """Add or drop one dim of a shaped type."""

    def one(r: random.Random, t: str) -> str | None:
        matches = list(_DIM.finditer(t))
        if not matches:
            return None
        m = r.choice(matches)
        if r.random() < 0.5:
            return t[:m.start()] + t[m.end() + 1:]  # "4x" removed
        return t[:m.start()] + "2x" + t[m.start():]

    return _everywhere(rng, text, one)


def _rename_ssa(rng: random.Random, text: str) -> str | None:
    uses = list(_SSA.finditer(text))
    if not uses:
        return None
    names = sorted({u.group() for u in uses})
    m = rng.choice(uses)
    new = rng.choice([*names, "%undefined", "%0", m.group() + "_x"])
    if rng.random() < 0.3:  # every occurrence: a consistent rename (or a clash)
        return re.sub(re.escape(m.group()) + r"(?![\w.$-])", new, text)
    return text[:m.start()] + new + text[m.end():]


def _truncate(rng: random.Random, text: str) -> str | None:
    if len(text) < 2:
        return None
    return text[:rng.randrange(1, len(text))]


MUTATIONS: dict[str, Callable[[random.Random, str], str | None]] = {
    "delete-token": _token_op("delete"),
    "duplicate-token": _token_op("duplicate"),
    "swap-tokens": _token_op("swap"),
    "delete-line": _line_op("delete"),
    "duplicate-line": _line_op("duplicate"),
    "swap-lines": _line_op("swap"),
    "int": _ints,
    "float": _floats,
    "dim": _dims,
    "element-type": _element_types,
    "shaped-kind": _shaped_kind,
    "rank": _rank,
    "rename-ssa": _rename_ssa,
    "truncate": _truncate,
}
_WEIGHTS = {"delete-token": 2, "duplicate-token": 1, "swap-tokens": 2, "delete-line": 2,
            "duplicate-line": 1, "swap-lines": 1, "int": 4, "float": 2, "dim": 4,
            "element-type": 3, "shaped-kind": 1, "rank": 2, "rename-ssa": 2, "truncate": 1}


# --------------------------------------------------------------------------- pipelines

_KILN_PASSES = ("fold", "simplify", "fuse", "replace", "layout", "cse", "dce",
                "convert-graph-to-tensor", "bufferize", "lower-contractions-to-kernels",
                "lower-linalg-to-loops", "insert-bounds-checks", "convert-to-llvm")
_BY_LEVEL: dict[str, tuple[str, ...]] = {
    "graph": ("", "fold", "simplify", "fuse", "replace", "replace{conv1x1=false}", "layout",
              "cse,dce", "O1", "O2", "O3", "convert-graph-to-tensor", "lower", "O2,lower",
              "convert-graph-to-tensor,bufferize",
              "convert-graph-to-tensor,bufferize,lower-linalg-to-loops"),
    "tensor": ("", "bufferize", "bufferize,lower-contractions-to-kernels,lower-linalg-to-loops",
               "bufferize,lower-linalg-to-loops,convert-to-llvm", "cse,dce"),
    "memref": ("", "lower-linalg-to-loops", "lower-contractions-to-kernels{bounds=true}",
               "lower-contractions-to-kernels,lower-linalg-to-loops,convert-to-llvm",
               "lower-linalg-to-loops,insert-bounds-checks", "convert-to-llvm"),
    "llvm": ("", "convert-to-llvm"),
}
_GRAPH_PASSES = {"fold", "simplify", "fuse", "replace", "layout", "cse", "dce", "O0", "O1",
                 "O2", "O3"}


def _pipeline(rng: random.Random, level: str) -> str:
    r = rng.random()
    if r < 0.7:
        return rng.choice(_BY_LEVEL[level])
    if r < 0.85:  # a pass or preset meant for another level
        return rng.choice([*_KILN_PASSES, "lower", "O2"])
    return ",".join(rng.choice(_KILN_PASSES) for _ in range(rng.randint(2, 3)))


def _graph_only(pipeline: str) -> bool:
    return all(p.split("{")[0] in _GRAPH_PASSES for p in pipeline.split(",") if p)


# --------------------------------------------------------------------------- cases


_LEVEL_WEIGHTS = {"graph": 0.65, "tensor": 0.15, "memref": 0.15, "llvm": 0.05}
"""How often a seed of each level is picked (most test files are graph-level)."""


def mlir_cases(seed: int, count: int) -> list[MlirCase]:
    """`count` deterministic cases; case i depends only on (seed, i)."""
    by_level: dict[str, list[_Seed]] = {}
    for s in seeds():
        by_level.setdefault(s.level, []).append(s)
    levels = [lv for lv in _LEVEL_WEIGHTS if lv in by_level]
    level_weights = [_LEVEL_WEIGHTS[lv] for lv in levels]
    names, weights = list(_WEIGHTS), list(_WEIGHTS.values())
    cases = []
    for i in range(count):
        rng = random.Random(f"kiln-fuzz-mlir:{seed}:{i}")
        base = rng.choice(by_level[rng.choices(levels, level_weights)[0]])
        text, applied = base.text, []
        for _ in range(0 if rng.random() < 0.08 else rng.choice((1, 1, 1, 2, 2, 3))):
            kind = rng.choices(names, weights)[0]
            mutated = MUTATIONS[kind](rng, text)
            if mutated is not None and mutated != text:
                text = mutated
                applied.append(kind)
        pipeline = _pipeline(rng, base.level)
        compile_it = base.level == "graph" and rng.random() < 0.5
        tag = "+".join(applied) or "seed"
        cases.append(MlirCase(
            name=f"s{seed}-{i:05d}:{base.source}:{tag}", text=text, pipeline=pipeline,
            source=base.source, mutations=tuple(applied), compile=compile_it,
            compile_pipeline=pipeline if pipeline and _graph_only(pipeline) else None))
    return cases


# --------------------------------------------------------------------------- running

_LOCATION = re.compile(r":\d+:\d+")


def _run_opt(argv: list[str]) -> tuple[int | None, str, str, BaseException | None]:
    """(exit status, stdout, stderr, escaped exception) of opt-tool's main, in-process."""
    from tools import opt_tool

    out, err = io.StringIO(), io.StringIO()
    escaped: BaseException | None = None
    status: int | None = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = opt_tool.main(argv)
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception as e:
            escaped = e
    return status, out.getvalue(), err.getvalue(), escaped


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" [{os.path.relpath(f.filename, ROOT)}:{f.lineno}]"


def _opt_outcome(case: MlirCase, path: str) -> tuple[str, str]:
    argv = [path] + (["-p", case.pipeline] if case.pipeline else [])
    status, out, err, escaped = _run_opt(argv)
    if escaped is not None:
        return "traceback", (f"{type(escaped).__name__}: {_short(str(escaped))}"
                             f"{_where(escaped)}")
    if "Traceback (most recent call last)" in err or "Traceback (most recent" in out:
        return "traceback", _short(err[-600:] or out[-600:])
    if status == 0:
        return _roundtrip(out, os.path.dirname(path))
    message = err.strip() or out.strip()
    if "internal error" in message:
        return "internal-error", _short(message)
    if status != 1:
        return "rejected", f"exit status {status}: {_short(message)}"
    return "rejected", _short(message.splitlines()[0] if message else "(no message)")


def _roundtrip(out: str, folder: str) -> tuple[str, str]:
    """opt-tool's output must parse back and print the same."""
    again = os.path.join(folder, "printed.mlir")
    with open(again, "w", encoding="utf-8") as f:
        f.write(out)
    status, out2, err2, escaped = _run_opt([again])
    if escaped is not None:
        return "traceback", (f"re-reading the output: {type(escaped).__name__}: "
                             f"{_short(str(escaped))}{_where(escaped)}")
    if status != 0:
        return "wrong-result", f"the printed IR does not parse back: {_short(err2 or out2)}"
    if out2 != out:
        return "wrong-result", "the printed IR prints differently when parsed back"
    return "ok", ""


def _compile_outcome(case: MlirCase, path: str, opt_ok: bool) -> tuple[str, str]:
    import compiler
    from compiler.errors import InternalError, InvalidIRError, KilnError

    try:
        compiler.compile(path, pipeline=case.compile_pipeline)
    except InternalError as e:
        return "internal-error", _short(str(e))
    except InvalidIRError as e:
        if opt_ok:
            return "wrong-result", f"opt-tool accepted the IR, compile rejected it: {e}"
        return "rejected", _short(str(e))
    except KilnError as e:
        return "rejected", _short(str(e))
    except Exception as e:
        return "foreign-exception", f"{type(e).__name__}: {_short(str(e))}{_where(e)}"
    return "ok", ""


def run_mlir_case(case: MlirCase) -> tuple[str, str]:
    """Run one case through opt-tool (and compile); return (category, detail)."""
    with tempfile.TemporaryDirectory(prefix="kiln-fuzz-") as folder:
        path = os.path.join(folder, "case.mlir")
        with open(path, "w", encoding="utf-8") as f:
            f.write(case.text)
        category, detail = _opt_outcome(case, path)
        detail = f"opt-tool -p '{case.pipeline}': {detail}" if detail else ""
        if case.compile:
            # opt-tool succeeding means the text parses and verifies: compile must agree
            c_category, c_detail = _compile_outcome(case, path, category == "ok")
            if _SEVERITY[c_category] > _SEVERITY[category]:
                category, detail = c_category, f"compile: {c_detail}"
    return category, detail


# --------------------------------------------------------------------------- CLI


class _Timeout(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` swallows it."""


def _run_with_timeout(case: MlirCase, seconds: float) -> tuple[str, str]:
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        return run_mlir_case(case)

    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return run_mlir_case(case)
    except _Timeout:
        return "crash", f"timed out after {seconds:g} s"
    except BaseException as e:  # noqa: BLE001 - anything else that got out is a crash
        if isinstance(e, KeyboardInterrupt):
            raise
        return "crash", f"{type(e).__name__}: {_short(str(e))}{_where(e)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fuzz-mlir", description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=int, default=0, help="skip the first N cases")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per case (0: none)")
    p.add_argument("--dump", help="write each case that is not ok/rejected to this folder")
    p.add_argument("--verbose", "-v", action="store_true", help="print every case")
    args = p.parse_args(argv)

    counts: Counter[str] = Counter()
    failures: list[tuple[MlirCase, str, str]] = []
    start = time.perf_counter()
    for case in mlir_cases(args.seed, args.start + args.count)[args.start:]:
        t0 = time.perf_counter()
        category, detail = _run_with_timeout(case, args.timeout)
        counts[category] += 1
        if args.verbose:
            print(f"{category:17} {time.perf_counter() - t0:6.2f}s {case.name} "
                  f"-p '{case.pipeline}' {detail[:160]}", flush=True)
        if category not in ("ok", "rejected"):
            failures.append((case, category, detail))
            if args.dump:
                os.makedirs(args.dump, exist_ok=True)
                safe = re.sub(r"[^\w.-]+", "_", case.name)
                Path(args.dump, f"{safe}.mlir").write_text(
                    f"// {category}: -p '{case.pipeline}' compile={case.compile}\n"
                    f"// {detail}\n{case.text}", encoding="utf-8")
    elapsed = time.perf_counter() - start
    for case, category, detail in failures:
        print(f"{category}: {case.name} -p '{case.pipeline}'\n    {detail}")
    total = sum(counts.values())
    summary = ", ".join(f"{c} {counts[c]}" for c in CATEGORIES if counts[c])
    print(f"{total} cases in {elapsed:.0f} s: {summary}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
