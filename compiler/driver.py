"""compile(): model -> graph IR -> optimized graph -> llvm dialect -> native CompiledModel."""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, tensor
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    FileLineColLoc,
    Float16Type,
    Float32Type,
    Float64Type,
    IntAttr,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    UnknownLoc,
)
from xdsl.ir import Attribute, Operation
from xdsl.parser import Parser
from xdsl.parser.core import ForwardDeclaredValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import (
    DiagnosticException,
    ParseError,
    VerifyException,
)
from xdsl.utils.lexer import Span
from xdsl.utils.mlir_lexer import MLIRTokenKind

from compiler import cache as compile_cache
from compiler import calibration as calibration_module
from compiler.context import make_context
from compiler.cuda_target import compile_cuda, is_cuda_target
from compiler.errors import CompileError, InternalError, InvalidIRError, KilnError, op_location
from compiler.importers import torch as torch_frontend
from compiler.pipeline import (
    CHECK_MODES,
    lower_passes,
    optimize_passes,
    parse_pipeline,
    to_tensor_pass,
)
from compiler.progress import Progress, model_label
from compiler.runtime.cpu import CompiledModel
from compiler.runtime.jit import load_openmp
from compiler.signature import CompileStats, arg_attr, main_function, read_signature
from dialects import weights as weight_stores
from dialects.graph import DYN, limit_violation
from lowering.plan_memory import planned_bytes
from passes.profile import InsertProfileMarksPass

SUPPORTED_TARGETS = ("cpu", "cuda")  # "cuda:sm_XY" picks the arch (compiler/cuda_target.py)


def load_graph_module(model: object) -> ModuleOp:
    """Accept an .onnx/.mlir path, ONNX bytes, an onnx.ModelProto or a graph ModuleOp."""
    if isinstance(model, ModuleOp):
        return model
    if isinstance(model, str | os.PathLike) and str(model).endswith(".mlir"):
        return parse_mlir_file(str(model))
    # imported here, not at the top: the torch path must not load onnx
    from compiler.importers.onnx import import_onnx

    try:
        return import_onnx(model)  # type: ignore[arg-type]
    except KilnError:
        raise
    except Exception as e:  # an importer bug: still one clear error, with the cause chained
        raise InternalError("importing the model", e) from e


def parse_mlir_file(path: str) -> ModuleOp:
    """Parse and verify an .mlir file; every failure is an InvalidIRError (a CompileError)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CompileError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise InvalidIRError(f"the file is not UTF-8 text: {e}", path) from None
    return load_mlir_text(text, path)


def load_mlir_text(text: str, name: str = "<string>") -> ModuleOp:
    """parse_mlir_text, with its errors as InvalidIRError (the Python API's form)."""
    try:
        return parse_mlir_text(text, name)
    except ParseError as e:
        message, location, context = parse_error_parts(e)
        raise InvalidIRError(message, location, context) from None
    except IRVerifyException as e:
        raise InvalidIRError(e.message, e.location, e.context) from None


# --------------------------------------------------------------------------- IR text

MAX_DENSE_ELEMENTS = 1 << 24
"""The most elements a `dense<...>` literal may expand to (a splat is expanded in memory
while parsing; bigger data belongs in graph.weight)."""

_CONTEXT_CHARS = 240


class IRVerifyException(VerifyException):
    """A verifier or limit failure, with the position of the op that failed."""

    def __init__(self, message: str, location: str | None = None, context: str = ""):
        self.message = message
        self.location = location
        self.context = context
        super().__init__(f"{location}: {message}" if location else message)


class SourceParser(Parser):
    """xDSL's parser, made to report every failure as a ParseError at a position.

    Every op without an explicit `loc(...)` gets the FileLineColLoc of where it starts
    (so verifiers and passes can say where), `dense<...>` literals are size-checked
    before xDSL expands them, and exceptions from attribute and type constructors (a
    float out of range for f32, an integer too wide for its type, ...) become ParseErrors
    spanning the attribute or type.
    """

    def __init__(self, ctx: Context, text: str, name: str, line_offset: int = 0):
        super().__init__(ctx, text, name)
        self.name = name
        self.line_offset = line_offset
        self._line_starts = [0]
        self._line_starts += [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def location_at(self, pos: int) -> FileLineColLoc:
        line = bisect.bisect_right(self._line_starts, pos)
        column = pos - self._line_starts[line - 1] + 1
        return FileLineColLoc(StringAttr(self.name), IntAttr(line + self.line_offset),
                              IntAttr(column))

    def parse_operation(self) -> Operation:
        start = self.pos
        op = super().parse_operation()
        if isinstance(op.location, UnknownLoc):
            op.location = self.location_at(start)
        return op

    def _guarded(self, parse, *args):
        start = self.pos
        try:
            return parse(*args)
        except ParseError:
            raise
        except Exception as e:  # RecursionError and MemoryError included
            self._raise_foreign(e, start)

    def _raise_foreign(self, e: BaseException, start: int):
        end = max(self.pos, start + 1)
        end = min(end, len(self.lexer.input.content))
        self.raise_error(_foreign_message(e), Span(start, max(start, end), self.lexer.input))

    def parse_type(self):
        return self._guarded(super().parse_type)

    def parse_optional_type(self):
        return self._guarded(super().parse_optional_type)

    def parse_attribute(self):
        return self._guarded(super().parse_attribute)

    def parse_optional_attribute(self):
        return self._guarded(super().parse_optional_attribute)

    def _parse_dense_literal_type(self):
        start = self.pos
        t = super()._parse_dense_literal_type()
        self._check_dense_size(t, start)
        return t

    def parse_dense_int_or_fp_elements_attr(self, type):
        if type is not None:
            self._check_dense_size(type, self.pos)
        return self._guarded(super().parse_dense_int_or_fp_elements_attr, type)

    def _parse_tensor_literal_element(self):
        element = super()._parse_tensor_literal_element()
        if (isinstance(element.value, int) and not isinstance(element.value, bool)
                and element.span.text.lower().startswith("0x")):
            return _HexElement(element.is_negative, element.value, element.span)
        return element

    def parse_comma_separated_list(self, delimiter, parse, context_msg: str = ""):
        # xDSL prints the results of a multi-result linalg.generic as `-> (t1, t2)` (as
        # MLIR does) but reads them as a bare list of attributes, where `(` starts a
        # function type: accept the parenthesized form, so that printed IR reads back.
        if (delimiter == self.Delimiter.NONE and parse == self.parse_attribute
                and self._current_token.kind == MLIRTokenKind.L_PAREN):
            pos = self.pos
            try:
                types = super().parse_comma_separated_list(
                    self.Delimiter.PAREN, self.parse_type, context_msg)
            except ParseError:
                types = None
            if types is not None and self._current_token.kind != MLIRTokenKind.ARROW:
                return types
            self._resume_from(pos)
        return super().parse_comma_separated_list(delimiter, parse, context_msg)

    def _check_dense_size(self, t: Attribute, start: int) -> None:
        count = math.prod(t.get_shape()) if hasattr(t, "get_shape") else 0
        if count > MAX_DENSE_ELEMENTS:
            self.raise_error(
                f"dense literal of type {t} has {count} elements; Kiln accepts at most "
                f"{MAX_DENSE_ELEMENTS} inline (use graph.weight for large data)",
                Span(start, max(start, self.pos), self.lexer.input))


_FLOAT_FORMATS = {16: "<e", 32: "<f", 64: "<d"}


@dataclass
class _HexElement(Parser._TensorLiteralElement):
    """A hex literal in a float `dense<[...]>`: the bits of the value, as in MLIR.

    xDSL prints inf and nan elements that way but reads them back as integers converted to
    float (0x7f800000 -> 2.1e9), so without this a printed constant changes its value.
    """

    def to_type(self, parser, type):
        if isinstance(type, Float16Type | Float32Type | Float64Type | BFloat16Type):
            width = 16 if isinstance(type, BFloat16Type) else type.bitwidth
            if self.is_negative or self.value >= 1 << width:
                parser.raise_error(f"hex float literal does not fit {type}", self.span)
            if isinstance(type, BFloat16Type):  # the upper half of an f32
                return struct.unpack("<f", struct.pack("<I", self.value << 16))[0]
            raw = self.value.to_bytes(width // 8, "little")
            return struct.unpack(_FLOAT_FORMATS[width], raw)[0]
        return super().to_type(parser, type)


def _foreign_message(e: BaseException) -> str:
    """A parse error's message for an exception from inside xDSL's parser."""
    if isinstance(e, OverflowError):
        return f"value out of range for its type: {e}"
    if isinstance(e, RecursionError):
        return "the IR is nested too deeply to parse"
    if isinstance(e, MemoryError):
        return "the IR needs more memory than is available to parse (a huge literal?)"
    if isinstance(e, VerifyException):
        return str(e).strip() or "invalid attribute or type"
    return f"invalid IR ({type(e).__name__}: {e})"


def parse_mlir_text(text: str, name: str = "<string>", ctx: Context | None = None,
                    line_offset: int = 0, implicit_module: bool = True,
                    verify: bool = True) -> ModuleOp:
    """Parse (and verify) MLIR text; raise only ParseError or IRVerifyException.

    Both carry `name:line:col`: a ParseError its span, an IRVerifyException the position
    of the op that failed. Nothing else escapes, whatever the text.
    """
    parser = SourceParser(ctx or make_context(), text, name, line_offset)
    try:
        module = parser.parse_module(implicit_module)
    except ParseError as e:
        e.span = dataclasses.replace(e.span, line_offset=line_offset)
        raise
    except Exception as e:  # from inside xDSL: still an error at the current position
        start = min(parser.pos, len(text))
        error = ParseError(Span(start, start, parser.lexer.input, line_offset),
                           _foreign_message(e))
        raise error from None
    if verify:
        verify_module(module, text, line_offset)
    return module


def verify_module(module: ModuleOp, text: str | None = None, line_offset: int = 0) -> None:
    """Check Kiln's size limits, then verify; raise IRVerifyException at the failing op.

    `text` (the source the module was parsed from) only adds the op's line as context.
    """
    if (violation := limit_violation(module) or _upstream_violation(module)) is not None:
        op, problem = violation
        raise _located(op, f"{op.name}: {problem}", text, line_offset)
    try:
        module.verify()
    except Exception as e:
        op = _failing_op(module) or module
        message = _verify_message(e)
        if not message.startswith(op.name):
            message = f"{op.name}: {message}"
        raise _located(op, message, text, line_offset) from None


def _upstream_violation(module: ModuleOp) -> tuple[Operation, str] | None:
    """Invariants that xDSL's verifiers leave out and the lowering relies on: values used
    where they are defined (dominance within a block, scoping of regions), and a few
    upstream ops' operand/attribute consistency."""
    positions: dict[Operation, int] = {}
    for op in module.walk():
        if (problem := _scope_problem(op, positions) or _upstream_problem(op)) is not None:
            return op, problem
    return None


def _position(op: Operation, positions: dict[Operation, int]) -> int:
    if op not in positions:
        block = op.parent_block()
        for k, sibling in enumerate(block.ops if block is not None else (op,)):
            positions[sibling] = k
    return positions[op]


def _scope_problem(op: Operation, positions: dict[Operation, int]) -> str | None:
    for i, v in enumerate(op.operands):
        if isinstance(v, ForwardDeclaredValue):  # xDSL's parser let it through
            return f"operand {i}{_value_name(v)} is never defined"
        owner = v.owner
        block = owner.parent_block() if isinstance(owner, Operation) else owner
        if block is None:
            continue
        user: Operation | None = op
        while user is not None and user.parent_block() is not block:
            user = user.parent_op()
        if user is None:
            if block.parent is not None and any(
                    b.parent is block.parent for b in _ancestor_blocks(op)):
                continue  # another block of a CFG region: dominance is not checked here
            return f"operand {i}{_value_name(v)} is used outside its region"
        if isinstance(owner, Operation) and (
                owner is user or _position(owner, positions) > _position(user, positions)):
            return f"operand {i}{_value_name(v)} is used before it is defined"
    return None


def _value_name(v) -> str:
    return f" (%{v.name_hint})" if v.name_hint else ""


def _ancestor_blocks(op: Operation):
    current: Operation | None = op
    while current is not None and (block := current.parent_block()) is not None:
        yield block
        current = current.parent_op()


def _constant_index(v) -> int | None:
    owner = v.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def _upstream_problem(op: Operation) -> str | None:
    if isinstance(op, memref.GlobalOp) and isinstance(op.initial_value,
                                                      DenseIntOrFPElementsAttr):
        t, init = op.type, op.initial_value.get_type()
        if (isinstance(t, MemRefType) and hasattr(init, "get_shape")
                and (tuple(init.get_shape()) != tuple(t.get_shape())
                     or init.element_type != t.element_type)):
            return f"initial value of type {init} does not fit {t}"
    elif isinstance(op, memref.DimOp | tensor.DimOp):
        index, t = _constant_index(op.index), op.source.type
        if index is not None and hasattr(t, "get_shape") and not (
                0 <= index < len(t.get_shape())):
            return f"dim index {index} out of range for {t}"
    elif isinstance(op, memref.AllocOp | memref.AllocaOp | tensor.EmptyOp):
        t = op.results[0].type
        if hasattr(t, "get_shape"):
            dynamic = sum(1 for d in t.get_shape() if d == DYN)
            if len(op.dynamic_sizes) != dynamic:
                return (f"{len(op.dynamic_sizes)} dynamic sizes for {t}, which has "
                        f"{dynamic} dynamic dims")
    elif isinstance(op, memref.CollapseShapeOp | memref.ExpandShapeOp):
        groups = [[int(getattr(i, "value", i).data) for i in g.data]
                  for g in op.reassociation.data]
        small, big = op.result.type, op.src.type
        if isinstance(op, memref.ExpandShapeOp):
            small, big = big, small
        flat = [i for g in groups for i in g]
        if (len(groups) != len(small.get_shape())
                or flat != list(range(len(big.get_shape())))):
            return (f"reassociation {groups} does not map {op.src.type} onto "
                    f"{op.result.type}")
    return None


def _verify_message(e: BaseException) -> str:
    if isinstance(e, VerifyException | DiagnosticException):
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # a verifier that fails with a foreign exception has a bug, but the IR is still invalid
    return f"does not verify ({type(e).__name__}: {e})"


def _failing_op(module: ModuleOp) -> Operation | None:
    """The first op whose own checks fail, innermost first (xDSL's verification order)."""

    def visit(op: Operation) -> Operation | None:
        for region in op.regions:
            for block in region.blocks:
                for child in block.ops:
                    if (found := visit(child)) is not None:
                        return found
        try:
            op.verify(verify_nested_ops=False)
        except Exception:
            return op
        return None

    try:
        return visit(module)
    except RecursionError:
        return None


def _located(op: Operation, message: str, text: str | None,
             line_offset: int) -> IRVerifyException:
    location = op_location(op)
    context = ""
    loc = op.location
    if text is not None and isinstance(loc, FileLineColLoc):
        lines = text.split("\n")
        index = loc.line.data - line_offset - 1
        if 0 <= index < len(lines):
            line = lines[index].rstrip("\r")[:_CONTEXT_CHARS]
            caret = min(loc.column.data - 1, len(line))
            context = f"{line}\n{' ' * caret}^"
    return IRVerifyException(message, location, context)


def parse_error_parts(e: ParseError) -> tuple[str, str | None, str]:
    """(message, "file:line:col", source line with a caret) of a ParseError."""
    try:
        loc = e.span.get_location()
        location: str | None = f"{loc.file}:{loc.line}:{loc.col}"
        shown = e.span.print_with_context().splitlines()[1:3]
        context = "\n".join(line[:_CONTEXT_CHARS] for line in shown)
        if not shown or not shown[0].strip():  # the end of the input: nothing to show
            context = ""
    except Exception:  # a span that points past the input: keep the message
        location, context = None, ""
    return e.msg.strip(), location, context


def run_pipeline(module: ModuleOp, spec: str | Sequence[ModulePass],
                 stats: CompileStats | None = None, progress: Progress | None = None,
                 unverified: frozenset[str] = frozenset()) -> None:
    """Run a pipeline (passes, or a spec with presets); a failing pass is a CompileError.
    The output of every pass is verified, except for the passes named in `unverified`."""
    ctx = make_context()
    for p in parse_pipeline(spec):
        if progress is not None:
            progress.step(p.name)
        start = time.perf_counter()
        apply_pass(p, ctx, module, verify=p.name not in unverified)
        if stats is not None:
            stats.seconds[p.name] = stats.seconds.get(p.name, 0.0) + time.perf_counter() - start


def apply_pass(p: ModulePass, ctx: Context, module: ModuleOp, verify: bool = True) -> None:
    """Run one pass, then verify its output.

    A deliberate failure (a DiagnosticException: the pass rejects this IR, or the result
    exceeds Kiln's limits) is a CompileError; any other exception, and output that does
    not verify, is a bug in the pass: an InternalError naming it, with the cause chained.
    """
    try:
        p.apply(ctx, module)
    except KilnError:
        raise
    except DiagnosticException as e:  # the pass rejects this IR (a clear, deliberate message)
        raise CompileError(f"pass '{p.name}' failed: {e}") from None
    except Exception as e:  # a pass bug: say which pass, keep the cause
        raise InternalError(f"running pass '{p.name}'", e) from e
    if not verify:
        return
    if (violation := limit_violation(module)) is not None:
        op, problem = violation
        where = op_location(op)
        raise CompileError(f"pass '{p.name}' failed: {op.name}"
                           + (f" at {where}" if where else "") + f": {problem}")
    try:
        verify_module(module)
    except IRVerifyException as e:
        raise InternalError(f"running pass '{p.name}' (its output does not verify)",
                            e) from e


def count_graph_ops(module: ModuleOp) -> int:
    return sum(1 for op in module.walk() if op.name.startswith("graph."))


def compile(model: object, *, example_inputs: Sequence[object] | None = None,
            dynamic_shapes: object = None, target: str = "cpu",
            pipeline: str | Sequence[ModulePass] | None = None, kernels: bool = True,
            checks: str | None = None, threads: int | None = None, profile: bool = False,
            cache: bool | None = None, quiet: bool = False, precision: str = "fp32",
            calibration: object = None, calibration_method: str = "minmax"):
    """Compile a model for `target`; return a CompiledModel callable on numpy arrays.

    `model` is a path to an .onnx or .mlir (graph dialect) file, ONNX bytes, an
    onnx.ModelProto, or a graph-dialect ModuleOp. `pipeline` overrides the graph
    optimizations (a comma-separated pass list or preset: "O0", "O1", "O2", or a list of
    pass objects).
    `kernels=False` lowers matmul/gemm/conv to naive loop nests instead of calls of the
    generated GEMM kernel (for comparisons). `checks="bounds"` adds a run-time check to
    every memory access and trusts no symbolic shape proof (slow; a debugging aid: an
    out-of-bounds access becomes an InputError instead of silent garbage); the default
    is `$KILN_CHECKS`, else "shapes" (the test suite sets KILN_CHECKS=bounds).
    `threads` is how many threads large kernels split their work over; the default is
    `$KILN_NUM_THREADS`, else the cores this process may run on. Results are the same for
    any thread count. `profile=True` times every graph op: `model.profile(inputs)`
    returns the per-op table (run-tool --profile prints it).
    `cache` (default `$KILN_CACHE`, else on) keeps compiled models on disk, under
    `$KILN_CACHE_DIR` or the user's cache directory, so compiling the same model with the
    same options again, in any process, loads it in a fraction of the time
    (compiler/cache.py; `model.stats.cache` says "hit", "miss" or "off").
    A compile that takes over two seconds shows one updating progress line on stderr
    when stderr is a terminal (compiler/progress.py); `quiet=True` turns it off.
    `precision` (compiler/calibration.py): "fp32"; "fp16" (conv/matmul/gemm weights
    stored in float16, float32 arithmetic); "int8" (static post-training quantization
    calibrated on `calibration`, an iterable of input tuples or name -> array dicts, with
    `calibration_method` "minmax", "percentile" or "entropy"); "int8-dynamic" (int8
    weights, activations quantized per call). A QDQ model (onnxruntime's quantize_static)
    compiles with precision="int8" and no calibration. `model.stats` reports the weight
    bytes and which ops run in which precision.

    A `torch.nn.Module` (with `example_inputs`, and `dynamic_shapes` as torch.export takes
    them) or a `torch.export.ExportedProgram` goes through torch.export straight into the
    graph dialect (compiler/importers/torch); the result also takes torch tensors.
    """
    if torch_frontend.is_torch_model(model):
        return torch_frontend.compile_torch(
            model, example_inputs, dynamic_shapes, compile, target=target, pipeline=pipeline,
            kernels=kernels, checks=checks, threads=threads, profile=profile, cache=cache,
            quiet=quiet, precision=precision, calibration=calibration,
            calibration_method=calibration_method)
    if example_inputs is not None or dynamic_shapes is not None:
        raise CompileError("example_inputs and dynamic_shapes are for a torch.nn.Module; "
                           f"this model is a {type(model).__name__}")
    if isinstance(target, str) and is_cuda_target(target):
        if precision != "fp32":
            raise CompileError(f"precision='{precision}' is for the cpu target; "
                               f"'{target}' compiles in float32")
        return compile_cuda(model, target, load=load_graph_module, run=run_pipeline,
                            pipeline=pipeline, checks=checks, profile=profile)
    if target not in SUPPORTED_TARGETS:
        raise CompileError(f"unknown target '{target}'; supported: {', '.join(SUPPORTED_TARGETS)}")
    if checks is None:
        checks = os.environ.get("KILN_CHECKS") or "shapes"
    if checks not in CHECK_MODES:
        raise CompileError(f"unknown checks mode '{checks}'; supported: "
                           f"{', '.join(CHECK_MODES)}")
    stats = CompileStats(threads=resolve_threads(threads), precision=precision)
    rewrite = calibration_module.precision_rewrite(
        precision, calibration, calibration_method,
        lambda m: compile(m, pipeline=[], kernels=kernels, checks=checks,
                          threads=stats.threads, cache=False, quiet=True))
    key = None
    if compile_cache.enabled(cache) and not profile and target == "cpu":
        key = cache_key(model, target, pipeline, kernels, checks, stats.threads,
                        rewrite.key_options())
        if key is not None and (hit := compile_cache.load(key, parse_graph_main)) is not None:
            return hit
    optimize = parse_pipeline(optimize_passes() if pipeline is None else pipeline)
    lower = lower_passes(kernels, checks, stats.threads)
    steps = 1 + len(optimize) + int(profile) + 1 + len(lower) + 1  # import ... llvm codegen
    progress = Progress(model_label(model), steps, enabled=not quiet)
    try:
        return compile_native(model, optimize, lower, checks, profile, stats, key, progress,
                              rewrite)
    finally:
        progress.close()


def compile_native(model: object, optimize: list[ModulePass], lower: list[ModulePass],
                   checks: str, profile: bool, stats: CompileStats, key: str | None,
                   progress: Progress,
                   rewrite: calibration_module.PrecisionRewrite | None = None) -> CompiledModel:
    """compile() for the cpu target once the cache is missed: import, the `optimize` and
    `lower` passes, LLVM code generation (saved to the cache under `key`, if any)."""
    progress.step("import")
    start = time.perf_counter()
    module = load_graph_module(model)
    store = weight_stores.ensure_store(module)
    stats.seconds["import"] = time.perf_counter() - start
    main = main_function(module)
    inputs, outputs = read_signature(main)
    stats.graph_ops_imported = count_graph_ops(module)

    run_pipeline(module, optimize, stats, progress)
    if rewrite is not None:
        start = time.perf_counter()
        rewrite.apply(module, stats)
        stats.seconds["precision"] = time.perf_counter() - start
    stats.graph_ops_optimized = count_graph_ops(module)
    graph_main = main_function(module).clone()
    if profile:
        run_pipeline(module, [InsertProfileMarksPass()], stats, progress)

    run_pipeline(module, [to_tensor_pass(checks)], stats, progress)
    weight_names = weight_arguments(main_function(module), len(inputs))
    missing = [n for n in weight_names if n not in store]
    if missing:
        raise CompileError(f"weights {missing} are referenced by the IR but not in its "
                           f"weight store ({module.attributes.get('graph.weights')})")
    # xDSL's verifier is quadratic in the blocks of a region, and only convert-to-llvm's
    # output has thousands of them (8% of ResNet-18's compile); LLVM verifies that IR again
    # when it parses it, so only the bounds mode (the test suite's) verifies it here too
    run_pipeline(module, lower, stats, progress,
                 unverified=frozenset() if checks == "bounds" else frozenset({"convert-to-llvm"}))
    stats.arena_bytes, stats.peak_bytes = planned_bytes(module)
    weight_arrays = [store[n] for n in weight_names]
    stats.weight_bytes = sum(a.nbytes for a in weight_arrays)
    stats.weight_bytes_fp32 = stats.weight_bytes_fp32 or stats.weight_bytes
    progress.step("llvm codegen")
    try:
        compiled = CompiledModel.from_llvm(module, graph_main, inputs, outputs, weight_arrays,
                                           store, stats, keep_objects=key is not None)
    except KilnError:
        raise
    except Exception as e:  # LLVM translation or code generation tripped over the IR
        raise InternalError("generating native code", e) from e
    if key is not None:
        stats.cache = "miss"
        compile_cache.store(key, compile_cache.Entry(
            compiled.take_object_code(), compiled.interface, str(graph_main), inputs,
            outputs, weight_arrays, stats))
    return compiled


def cache_key(model: object, target: str, pipeline: str | Sequence[ModulePass] | None,
              kernels: bool, checks: str, threads: int,
              precision: dict[str, object] | None = None) -> str | None:
    """The compile cache's key for these compile arguments; None when `model` is not
    cacheable (see compiler/cache.py)."""
    digest = compile_cache.model_digest(model)
    if digest is None:
        return None
    if pipeline is None or isinstance(pipeline, str):
        pipeline_text = pipeline
    else:
        pipeline_text = [str(p.pipeline_pass_spec()) for p in pipeline]
    return compile_cache.entry_key(digest, {
        "target": target, "pipeline": pipeline_text, "kernels": kernels, "checks": checks,
        "threads": threads, **(precision or {})})


def parse_graph_main(text: str) -> func.FuncOp:
    """The graph-level @main that `str(graph_main)` printed (for a model from the cache)."""
    op = Parser(make_context(), text, "<compile cache>").parse_op()
    if not isinstance(op, func.FuncOp):
        raise CompileError("the compile cache's graph-level @main is not a func.func")
    return op


def resolve_threads(threads: int | None) -> int:
    """The thread count to compile for: `threads`, else $KILN_NUM_THREADS, else the cores
    this process may use; 1 when libgomp cannot be loaded."""
    if threads is None:
        env = os.environ.get("KILN_NUM_THREADS", "")
        if env and not env.isdigit():
            raise CompileError(f"KILN_NUM_THREADS must be a positive integer, got '{env}'")
        threads = int(env) if env else available_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise CompileError(f"threads must be a positive integer, got {threads!r}")
    return threads if threads == 1 or load_openmp() else 1


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def weight_arguments(tensor_main: func.FuncOp, num_inputs: int) -> list[str]:
    """Names of the weights that convert-graph-to-tensor appended as trailing arguments."""
    names = []
    for i in range(num_inputs, len(tensor_main.args)):
        name = arg_attr(tensor_main, i, "graph.weight")
        if not isinstance(name, StringAttr):
            raise CompileError(f"argument {i} of the lowered @main is neither an input nor "
                               "a weight")
        names.append(name.data)
    return names
