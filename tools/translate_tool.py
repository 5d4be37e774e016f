"""translate-tool: MLIR (llvm dialect, or any level with --pipeline) -> LLVM IR or asm.

    translate-tool in.mlir                                  # llvm dialect -> LLVM IR
    translate-tool --pipeline=convert-to-llvm loops.mlir    # lower first
    translate-tool --emit=asm --pipeline=lower model.mlir   # host assembly (O3)
    translate-tool --emit=ptx --arch=sm_90 kernels.mlir     # PTX of a gpu.module's kernels
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import DiagnosticException, ParseError, PassFailedException

from compiler.errors import ISSUE_TRACKER, InternalError, KilnError


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="translate-tool", description=__doc__.splitlines()[0])
    p.add_argument("input_file", nargs="?", default="-", help="MLIR file ('-' or none: stdin)")
    p.add_argument("--pipeline", "-p", default="", help="passes to run before translating")
    p.add_argument("--emit", choices=["llvm-ir", "asm", "ptx"], default="llvm-ir",
                   help="ptx: the kernels of the gpu.module (after convert-gpu-to-nvvm)")
    p.add_argument("--arch", default="sm_80", help="CUDA architecture for --emit=ptx")
    p.add_argument("-O", dest="opt", type=int, default=3, help="IR opt level for --emit=asm")
    p.add_argument("-o", dest="output", default="-", help="output file (default stdout)")
    p.add_argument("--traceback", "--debug", dest="traceback", action="store_true",
                   help="On an internal error, also print the Python traceback.")
    return p.parse_args(argv)


def _run_pipeline(module: ModuleOp, spec: str, ctx) -> None:
    """As compiler.compile runs passes: CompileError for a rejection, InternalError for a
    bug in a pass."""
    from compiler.driver import apply_pass
    from compiler.pipeline import parse_pipeline

    for p in parse_pipeline(spec):
        apply_pass(p, ctx, module)


def translate(
    text: str, pipeline: str = "", emit: str = "llvm-ir", opt: int = 3, name: str = "<stdin>",
    arch: str = "sm_80",
) -> str:
    """Parse MLIR text, run `pipeline`, return LLVM IR text or host assembly."""
    from compiler.context import make_context
    from compiler.driver import parse_mlir_text
    from compiler.pipeline import parse_pipeline
    from compiler.runtime.llvm_translate import translate_to_llvm_ir

    ctx = make_context()
    parse_pipeline(pipeline)  # a bad pipeline is reported before the input is read
    module = parse_mlir_text(text, name, ctx)
    _run_pipeline(module, pipeline, ctx)
    if emit == "ptx":
        from compiler.runtime.nvptx import emit_ptx

        return emit_ptx(module, arch, opt)
    try:
        llvm_module = translate_to_llvm_ir(module)
    except (KilnError, DiagnosticException):
        raise
    except Exception as e:  # the llvm dialect is not what the translation expects
        raise InternalError("translating to LLVM IR", e) from e
    if emit == "asm":
        from compiler.runtime.jit import JITEngine

        return JITEngine(llvm_module, opt_level=opt).asm_text()
    return str(llvm_module)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        if args.input_file == "-":
            text = sys.stdin.read()
        else:
            with open(args.input_file) as f:
                text = f.read()
        name = "<stdin>" if args.input_file == "-" else args.input_file
        result = translate(text, args.pipeline, args.emit, args.opt, name, args.arch)
    except OSError as e:
        print(f"translate-tool: cannot read input: {e}", file=sys.stderr)
        return 1
    except ParseError as e:
        from compiler.driver import parse_error_parts

        message, where, context = parse_error_parts(e)
        head = f"{where}: {message}" if where else message
        print(f"translate-tool: parse error: {head}" + (f"\n{context}" if context else ""),
              file=sys.stderr)
        return 1
    except InternalError as e:
        _report_internal_error(e, args.traceback)
        return 1
    except (DiagnosticException, PassFailedException, KilnError) as e:
        print(f"translate-tool: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: one paragraph, the traceback only on request
        _report_internal_error(e, args.traceback)
        return 1
    if args.output == "-":
        sys.stdout.write(result)
    else:
        with open(args.output, "w") as f:
            f.write(result)
    return 0


def _report_internal_error(e: BaseException, show_traceback: bool) -> None:
    if show_traceback:
        cause = e.__cause__ if isinstance(e, InternalError) and e.__cause__ else e
        traceback.print_exception(cause, file=sys.stderr)
    if isinstance(e, InternalError):
        print(f"translate-tool: {e}", file=sys.stderr)
        return
    print(f"translate-tool: internal error: {type(e).__name__}: {e}. This is a bug in Kiln, "
          f"not in your input; please report it on {ISSUE_TRACKER} with the input that "
          "triggers it (run with --traceback for details).", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
