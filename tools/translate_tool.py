"""translate-tool: MLIR (llvm dialect, or any level with --pipeline) -> LLVM IR or asm.

    translate-tool in.mlir                                  # llvm dialect -> LLVM IR
    translate-tool --pipeline=convert-to-llvm loops.mlir    # lower first
    translate-tool --emit=asm --pipeline=lower model.mlir   # host assembly (O3)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.passes import PassPipeline
from xdsl.utils.exceptions import DiagnosticException, ParseError, PassFailedException

from compiler.errors import KilnError


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="translate-tool", description=__doc__.splitlines()[0])
    p.add_argument("input_file", nargs="?", default="-", help="MLIR file ('-' or none: stdin)")
    p.add_argument("--pipeline", "-p", default="", help="passes to run before translating")
    p.add_argument("--emit", choices=["llvm-ir", "asm"], default="llvm-ir")
    p.add_argument("-O", dest="opt", type=int, default=3, help="IR opt level for --emit=asm")
    p.add_argument("-o", dest="output", default="-", help="output file (default stdout)")
    return p.parse_args(argv)


def _run_pipeline(module: ModuleOp, spec: str, ctx) -> None:
    from compiler.pipeline import expand_presets
    from passes.registry import all_pass_factories

    spec = expand_presets(spec)
    if not spec:
        return
    pipeline = PassPipeline.parse_spec(all_pass_factories(), spec)
    pipeline.apply(ctx, module)


def translate(
    text: str, pipeline: str = "", emit: str = "llvm-ir", opt: int = 3, name: str = "<stdin>"
) -> str:
    """Parse MLIR text, run `pipeline`, return LLVM IR text or host assembly."""
    from compiler.context import make_context
    from compiler.runtime.llvm_translate import translate_to_llvm_ir

    ctx = make_context()
    module = Parser(ctx, text, name).parse_module()
    _run_pipeline(module, pipeline, ctx)
    llvm_module = translate_to_llvm_ir(module)
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
        result = translate(text, args.pipeline, args.emit, args.opt, name)
    except OSError as e:
        print(f"translate-tool: cannot read input: {e}", file=sys.stderr)
        return 1
    except ParseError as e:
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        where = lines[0].strip() if lines else ""
        print(f"translate-tool: parse error: {where}: {lines[-1].strip()}", file=sys.stderr)
        return 1
    except (DiagnosticException, PassFailedException, KilnError) as e:
        print(f"translate-tool: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # unknown pass names
        print(f"translate-tool: {e}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(result)
    else:
        with open(args.output, "w") as f:
            f.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
