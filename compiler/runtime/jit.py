"""MCJIT engine: compile llvmlite IR for the host CPU and expose symbol addresses."""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
import llvmlite.ir as ir
from xdsl.dialects.builtin import ModuleOp

from compiler.errors import BackendError


@functools.cache
def _init_native() -> None:
    # llvmlite 0.50: llvm.initialize() raises; these two are all MCJIT needs
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def host_target_machine(opt: int = 3) -> llvm.TargetMachine:
    """A new target machine for this CPU (generic x86-64 turns vector fma into libcalls).

    Not cached: an MCJIT engine takes ownership of its target machine.
    """
    _init_native()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    features = llvm.get_host_cpu_features().flatten()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=features, opt=opt, jit=True
    )


class JITEngine:
    """Owns one MCJIT-compiled module; addresses stay valid while this object lives.

    `module` is an llvmlite IR module or an llvm-dialect ModuleOp. `opt_level` sets the
    IR pass pipeline (O0-O3); codegen always runs at O3.
    """

    def __init__(self, module: ir.Module | ModuleOp | str, opt_level: int = 3):
        tm = host_target_machine()
        if isinstance(module, ModuleOp):
            from compiler.runtime.llvm_translate import translate_to_llvm_ir

            module = translate_to_llvm_ir(module)
        text = str(module)
        if isinstance(module, ir.Module):
            # stamp the exact host triple/layout over whatever the IR carried
            text = _retarget(text, llvm.get_process_triple(), str(tm.target_data))
        try:
            parsed = llvm.parse_assembly(text)
            parsed.verify()
        except RuntimeError as e:
            raise BackendError(f"LLVM rejected the generated IR: {str(e).strip()}") from e
        parsed.triple = llvm.get_process_triple()
        parsed.data_layout = str(tm.target_data)
        if opt_level > 0:
            pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            pto.loop_vectorization = True
            pto.slp_vectorization = True
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(parsed, pb)
        self._ir_text = text
        self._opt_text = str(parsed)  # MCJIT's codegen rewrites the module in place
        self._module = parsed
        self._tm = tm
        try:
            self._engine = llvm.create_mcjit_compiler(parsed, tm)
            self._engine.finalize_object()
            self._engine.run_static_constructors()
        except RuntimeError as e:
            raise BackendError(f"LLVM code generation failed: {str(e).strip()}") from e

    def address_of(self, symbol: str) -> int:
        """Address of a compiled function or global; BackendError if it does not exist."""
        addr = self._engine.get_function_address(symbol)
        if not addr:
            addr = self._engine.get_global_value_address(symbol)
        if not addr:
            raise BackendError(f"symbol '{symbol}' not found in the compiled module")
        return addr

    def llvm_ir_text(self) -> str:
        """The optimized LLVM IR (before codegen)."""
        return self._opt_text

    def input_ir_text(self) -> str:
        """The LLVM IR as handed to the engine, before optimization."""
        return self._ir_text

    def asm_text(self) -> str:
        """Host assembly of the optimized module."""
        return self._tm.emit_assembly(llvm.parse_assembly(self._opt_text))


def _retarget(text: str, triple: str, layout: str) -> str:
    lines = [
        ln for ln in text.splitlines()
        if not ln.startswith(("target triple", "target datalayout"))
    ]
    header = [f'target triple = "{triple}"', f'target datalayout = "{layout}"']
    return "\n".join(header + lines) + "\n"


def compile_asm(module: ir.Module | ModuleOp, opt_level: int = 3) -> str:
    """Host assembly for a module without keeping an engine around."""
    return JITEngine(module, opt_level).asm_text()
