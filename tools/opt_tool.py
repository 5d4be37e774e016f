"""opt-tool: Kiln's mlir-opt. Reads IR (.mlir or an .onnx model), runs a pass pipeline,
prints IR.

    opt-tool --pipeline=fuse,fold in.mlir
    opt-tool -p 'fold,lower' model.onnx
    cat in.mlir | opt-tool --pipeline=convert-graph-to-tensor

Built on xDSL's xDSLOptMain, so --split-input-file, --verify-diagnostics,
--print-between-passes, --time-passes and -t/--target come from there. Kiln adds
--print-ir-after-all (the IR after every pass, the last one included, on stderr) and
--pass-statistics (how often each rewrite rule fired, per pass, on stderr):

    opt-tool --pipeline=fuse,fold --pass-statistics in.mlir
    // fuse: conv-bn 1, residual-add 1, activation 1
    // fold: constant 5

User rules written in PDL run through xDSL's apply-pdl:
    opt-tool -p 'apply-pdl{pdl_file="rules.mlir"}' in.mlir

Pictures (compiler/graph_dot.py): --emit=dot writes the resulting graph as Graphviz DOT
(the same as -t dot), --emit=svg or png renders it with Graphviz's `dot` (optional: it
says so when missing); --before-after PIPELINE runs PIPELINE after -p and draws the graph
before and after it side by side, fused and rewritten ops highlighted:
    opt-tool --emit=svg --before-after=O2 model.onnx -o model-O2.svg

Errors: IR that does not parse or verify is reported as `file:line:col` and the
message, a pass that rejects its input says which pass and why; both exit with status 1.
Any other exception is a bug in Kiln: a one-paragraph "internal error" (exit 1), with the
Python traceback only under --traceback (or --debug).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    DiagnosticException,
    ParseError,
    PassFailedException,
)
from xdsl.xdsl_opt_main import xDSLOptMain

from compiler.errors import ISSUE_TRACKER, CompileError, InternalError, KilnError
from compiler.pipeline import PRESETS, expand_presets, parse_pipeline

TRACEBACK_FLAGS = ("--traceback", "--debug")
EMIT_FORMATS = ("mlir", "dot", "svg", "png")
PICTURES = EMIT_FORMATS[1:]


class KilnOptMain(xDSLOptMain):
    """xDSL's opt driver with Kiln's dialects, passes, presets and ONNX frontend."""

    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description="Kiln optimizer driver (mlir-opt style)", args=args)

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        from dialects.check import Check
        from dialects.graph import Graph

        self.ctx.load_dialect(Graph)
        self.ctx.load_dialect(Check)

    def register_all_passes(self) -> None:
        from compiler.pipeline import pass_factories

        for name, factory in pass_factories().items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()
        from compiler.targets import register_targets

        register_targets(self.available_targets)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_onnx(io: IO[bytes]) -> ModuleOp:
            from compiler.importers.onnx import import_onnx

            path = os.path.abspath(self.args.input_file) if self.args.input_file else None
            try:
                return import_onnx(io.read(), weights_key=f"file:{path}" if path else None)
            except KilnError:
                raise
            except Exception as e:  # an importer bug, as compiler.compile reports it
                raise InternalError("importing the model", e) from e

        self.available_frontends["onnx"] = parse_onnx

    def parse_chunk(self, chunk: IO[bytes], file_extension: str,
                    start_offset: int = 0) -> ModuleOp | None:
        from compiler.driver import parse_mlir_text, verify_module

        if file_extension != "mlir":
            module = super().parse_chunk(chunk, file_extension, start_offset)
            if module is not None and not self.args.disable_verify:
                verify_module(module)
            return module

        data = chunk.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CompileError(f"{self.get_input_name()}: the input is not UTF-8 text: "
                               f"{e}") from None
        # Parsed and verified here, so that a verifier failure has the op's position
        return parse_mlir_text(text, self.get_input_name(), self.ctx, start_offset,
                               not self.args.no_implicit_module,
                               verify=not self.args.disable_verify)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--pipeline", dest="passes", default=argparse.SUPPRESS,
            help="Same as -p: comma-separated passes, with options as name{opt=value}. "
                 f"Presets: {', '.join(f'{k}' for k in PRESETS)}.")

        arg_parser.add_argument(
            "--print-ir-after-all", action="store_true",
            help="Print the IR after every pass (the last one included) to stderr.")
        arg_parser.add_argument(
            "--pass-statistics", action="store_true",
            help="After the run, print per pass how often each rewrite rule fired "
                 "(stderr).")

        arg_parser.add_argument(
            "--emit", choices=EMIT_FORMATS, default="mlir",
            help="Output form: IR text (mlir, the default), a Graphviz graph of it (dot), "
                 "or that graph rendered by Graphviz's `dot` program (svg, png).")
        arg_parser.add_argument(
            "--before-after", metavar="PIPELINE", default=None,
            help="With --emit=dot/svg/png: run PIPELINE after -p and draw the graph before "
                 "and after it side by side, the ops it fused or rewrote highlighted.")

        arg_parser.add_argument(
            *TRACEBACK_FLAGS, dest="traceback", action="store_true",
            help="On an internal error, also print the Python traceback.")

    def setup_pipeline(self) -> None:
        self.check_picture_arguments()
        self.args.passes = expand_presets(self.args.passes)
        try:
            super().setup_pipeline()
        except (ValueError, TypeError, ArgSpecParseError) as e:
            raise CompileError(f"bad pass pipeline '{self.args.passes}': {e}") from None
        # apply_passes verifies (with positions) and times; this prints between passes
        self.pipeline = PassPipeline(self.pipeline.passes, self._between_passes)

    def check_picture_arguments(self) -> None:
        """Reject --emit/--before-after combinations before any work is done."""
        from compiler.graph_dot import GraphvizError, dot_program

        emit, args = self.args.emit, self.args
        self.compare_passes: list[ModulePass] | None = None
        if emit != "mlir" and args.target != "mlir":
            raise CompileError(f"--emit={emit} and -t {args.target} both choose the output; "
                               "give one of them")
        if args.before_after is not None:
            if emit not in PICTURES:
                raise CompileError("--before-after draws the graph before and after a "
                                   "pipeline: use it with --emit=dot, svg or png")
            self.compare_passes = parse_pipeline(args.before_after)
        if emit in ("svg", "png"):
            if args.split_input_file:
                raise CompileError(f"--emit={emit} draws one module; --split-input-file "
                                   "gives several (use --emit=dot)")
            if dot_program() is None:
                raise GraphvizError(
                    f"--emit={emit} renders through Graphviz's `dot` program, which is not "
                    "on PATH; install Graphviz (e.g. `apt-get install graphviz`) or use "
                    "--emit=dot and render the DOT text elsewhere")
        if emit == "png" and args.output_file is None and sys.stdout.isatty():
            raise CompileError("--emit=png writes binary data; give -o FILE.png")

    def _between_passes(self, previous: ModulePass | None, module: ModuleOp,
                        next_pass: ModulePass | None) -> None:
        if previous and next_pass and self.args.print_between_passes:
            print(f"IR after {previous.name}:")
            Printer(stream=sys.stdout).print_op(module)
            print("\n\n\n")
        if previous is not None and self.args.print_ir_after_all:
            print(f"// -----// IR Dump After {previous.name} //----- //", file=sys.stderr)
            Printer(stream=sys.stderr).print_op(module)
            print(file=sys.stderr)

    def apply_passes(self, prog: ModuleOp) -> None:
        """Run the passes as compiler.compile does (driver.apply_pass): a pass that
        rejects the IR is a PassFailedException (so --verify-diagnostics shows it), a
        pass bug an InternalError."""
        self.run_passes(self.pipeline.passes, prog)
        self.before: ModuleOp | None = None
        if self.compare_passes is not None:
            self.before = prog.clone()
            self.run_passes(self.compare_passes, prog)

    def run_passes(self, passes: Sequence[ModulePass], prog: ModuleOp) -> None:
        """Apply `passes` in order, timing and printing between them as asked."""
        from compiler.driver import apply_pass

        for i, p in enumerate(passes):
            start = time.perf_counter()
            try:
                apply_pass(p, self.ctx, prog, verify=not self.args.disable_verify)
            except InternalError:
                raise
            except CompileError as e:
                raise PassFailedException(str(e)) from None
            if self.args.time_passes:
                print(f"Pass {p.name} took {time.perf_counter() - start} seconds")
            self._between_passes(p, prog, passes[i + 1] if i + 1 < len(passes) else None)

    def prepare_output(self) -> IO[str]:
        """The output stream; PNG data goes to its binary buffer."""
        self.output = super().prepare_output()
        return self.output

    def output_resulting_program(self, prog: ModuleOp) -> str:
        """The IR text, or (--emit) the graph as DOT, SVG or PNG."""
        from compiler.graph_dot import compare_to_dot, graph_to_dot, render_dot

        emit = self.args.emit
        if emit == "mlir":
            return super().output_resulting_program(prog)
        title = os.path.basename(self.get_input_name())
        if self.before is not None:
            text = compare_to_dot(self.before, prog, before_title=f"{title} before",
                                  after_title=f"after {self.args.before_after}")
        else:
            text = graph_to_dot(prog, title=title)
        if emit == "dot":
            return text
        data = render_dot(text, emit)
        if emit == "svg":
            return data.decode("utf-8")
        self.output.flush()
        self.output.buffer.write(data)  # type: ignore[attr-defined]
        return ""

    def run(self) -> None:
        from passes.rewrite import format_statistics, reset_statistics

        reset_statistics()
        try:
            super().run()
        finally:
            if self.args.pass_statistics:
                text = format_statistics()
                for line in text.splitlines():
                    print(f"// {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run opt-tool; return the exit status. No exception escapes (SystemExit aside)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        KilnOptMain(args=args).run()
    except ParseError as e:
        print(f"opt-tool: parse error: {format_parse_error(e)}", file=sys.stderr)
        return 1
    except InternalError as e:
        report_internal_error(e, args)
        return 1
    except (DiagnosticException, PassFailedException) as e:
        print(f"opt-tool: error: {format_diagnostic(e)}", file=sys.stderr)
        return 1
    except KilnError as e:
        print(f"opt-tool: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"opt-tool: cannot read input: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"opt-tool: I/O error: {e}", file=sys.stderr)
        return 1
    except ArgSpecParseError as e:
        print(f"opt-tool: bad pass pipeline: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        # xDSL reports unknown passes, targets and file extensions as ValueError
        if not _raised_by_xdsl_driver(e):
            report_internal_error(e, args)
        else:
            print(f"opt-tool: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: one paragraph, the traceback only on request
        report_internal_error(e, args)
        return 1
    return 0


def _raised_by_xdsl_driver(e: BaseException) -> bool:
    """True for the ValueErrors xDSL's command-line driver raises about its arguments."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and os.path.basename(tb.tb_frame.f_code.co_filename) in (
        "xdsl_opt_main.py", "command_line_tool.py")


def format_parse_error(e: ParseError) -> str:
    """`file:line:col: message` and the source line with a caret under the position."""
    from compiler.driver import parse_error_parts

    message, location, context = parse_error_parts(e)
    head = f"{location}: {message}" if location else message
    return f"{head}\n{context}" if context else head


def format_diagnostic(e: BaseException) -> str:
    """A DiagnosticException's message (with the op's source line where known)."""
    from compiler.driver import IRVerifyException

    if isinstance(e, IRVerifyException) and e.context:
        return f"{e}\n{e.context}"
    return str(e).strip()


def report_internal_error(e: BaseException, args: Sequence[str]) -> None:
    """One paragraph on stderr; the traceback too when --traceback/--debug was given."""
    if any(a in TRACEBACK_FLAGS for a in args):
        cause = e.__cause__ if isinstance(e, InternalError) and e.__cause__ else e
        traceback.print_exception(cause, file=sys.stderr)
    if isinstance(e, InternalError):
        print(f"opt-tool: {e}", file=sys.stderr)
        return
    print(f"opt-tool: internal error: {type(e).__name__}: {e}. This is a bug in Kiln, not "
          f"in your input; please report it on {ISSUE_TRACKER} with the input that "
          "triggers it (run with --traceback for details).", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
