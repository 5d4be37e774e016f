"""opt-tool: Kiln's mlir-opt. Reads IR (.mlir or an .onnx model), runs a pass pipeline,
prints IR.

    opt-tool --pipeline=fuse,fold in.mlir
    opt-tool -p 'fold,lower' model.onnx
    cat in.mlir | opt-tool --pipeline=convert-graph-to-tensor

Built on xDSL's xDSLOptMain, so --split-input-file, --verify-diagnostics,
--print-between-passes, --time-passes and -t/--target come from there.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
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

    def setup_pipeline(self) -> None:
        self.args.passes = expand_presets(self.args.passes)
        super().setup_pipeline()


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
