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
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.exceptions import DiagnosticException, ParseError, PassFailedException
from xdsl.xdsl_opt_main import xDSLOptMain

from compiler.errors import KilnError
from compiler.pipeline import PRESETS, expand_presets


class KilnOptMain(xDSLOptMain):
    """xDSL's opt driver with Kiln's dialects, passes, presets and ONNX frontend."""

    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description="Kiln optimizer driver (mlir-opt style)", args=args)

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        from dialects.graph import Graph

        self.ctx.load_dialect(Graph)

    def register_all_passes(self) -> None:
        from passes.registry import all_pass_factories

        for name, factory in all_pass_factories().items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()
        from compiler.targets import register_targets

        register_targets(self.available_targets)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_onnx(io: IO[bytes]) -> ModuleOp:
            from compiler.importers.onnx_importer import import_onnx

            path = os.path.abspath(self.args.input_file) if self.args.input_file else None
            return import_onnx(io.read(), weights_key=f"file:{path}" if path else None)

        self.available_frontends["onnx"] = parse_onnx

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

    def setup_pipeline(self) -> None:
        self.args.passes = expand_presets(self.args.passes)
        super().setup_pipeline()
        if not self.args.print_ir_after_all:
            return
        inner = self.pipeline.callback

        def callback(previous: ModulePass | None, module: ModuleOp,
                     next_pass: ModulePass | None) -> None:
            if inner is not None:
                inner(previous, module, next_pass)
            if previous is not None:
                print(f"// -----// IR Dump After {previous.name} //----- //", file=sys.stderr)
                Printer(stream=sys.stderr).print_op(module)
                print(file=sys.stderr)

        self.pipeline = PassPipeline(self.pipeline.passes, callback)

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
    try:
        KilnOptMain(args=argv).run()
    except ParseError as e:
        print(f"opt-tool: parse error: {e}", file=sys.stderr)
        return 1
    except (DiagnosticException, PassFailedException) as e:
        print(f"opt-tool: error: {e}", file=sys.stderr)
        return 1
    except KilnError as e:
        print(f"opt-tool: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"opt-tool: cannot read input: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        # xDSL reports unknown passes, targets and file extensions as ValueError
        print(f"opt-tool: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
