"""MCJIT engine: compile llvmlite IR for the host CPU and expose symbol addresses."""

from __future__ import annotations

import functools
import struct

import llvmlite.binding as llvm
import llvmlite.ir as ir
from xdsl.dialects.builtin import ModuleOp

from compiler.errors import BackendError


@functools.cache
def _init_native() -> None:
    # llvmlite 0.50: llvm.initialize() raises; these two are all MCJIT needs
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


# Soft-float routines LLVM's x86 backend calls for f16/bf16 where the CPU lacks the
# instruction: __truncdfhf2 and the bf16 roundings without AVX512-FP16/AVX512-BF16 (e.g.
# every AMD CPU), __truncsfhf2/__extendhfsf2 without F16C (old or masked-CPUID virtual
# CPUs); f16 arithmetic is promoted to f32 through them. They live in libgcc_s (GCC >= 12)
# or compiler-rt, which a Python process need not have loaded, and MCJIT leaves an
# unresolved call jumping to address 0. convert-to-llvm avoids emitting them for
# conversions, but LLVM still introduces them for f16/bf16 arithmetic, so Kiln defines
# them here (integer ops and f32/f64 arithmetic only, so they need nothing themselves),
# compiles them once per process and registers them with llvm.add_symbol, which MCJIT
# searches before the loaded libraries: the same results on every x86 CPU.
# Results: RNE, NaN sign and top payload kept, quieted (as vcvtps2ph/vcvtneps2bf16).
_SOFTFLOAT_IR = r"""
declare double @llvm.fabs.f64(double)

; f32 -> f16 (F. Giesen's float_to_half_fast3_rtne)
define half @__truncsfhf2(float %f) {
  %u = bitcast float %f to i32
  %sign = and i32 %u, 2147483648
  %a = xor i32 %u, %sign
  %big = icmp uge i32 %a, 1199570944        ; |f| >= 2^16 (0x47800000): inf or NaN
  %isnan = icmp ugt i32 %a, 2139095040      ; > 0x7f800000
  %pay0 = lshr i32 %a, 13
  %pay = and i32 %pay0, 1023
  %nanv = or i32 %pay, 32256                ; 0x7e00: quiet NaN
  %special = select i1 %isnan, i32 %nanv, i32 31744
  %small = icmp ult i32 %a, 947912704       ; |f| < 2^-14 (0x38800000): subnormal or 0
  %af = bitcast i32 %a to float
  %sf = fadd float %af, 5.000000e-01        ; aligns 2^-24 units at the bottom, RNE
  %su = bitcast float %sf to i32
  %sub = sub i32 %su, 1056964608            ; 0x3f000000
  %odd0 = lshr i32 %a, 13
  %odd = and i32 %odd0, 1
  %n1 = add i32 %a, -939520001              ; rebias by (15 - 127) << 23, + 0xfff
  %n2 = add i32 %n1, %odd                   ; ties to even
  %norm = lshr i32 %n2, 13
  %r1 = select i1 %small, i32 %sub, i32 %norm
  %r2 = select i1 %big, i32 %special, i32 %r1
  %s16 = lshr i32 %sign, 16
  %r3 = or i32 %r2, %s16
  %h = trunc i32 %r3 to i16
  %res = bitcast i16 %h to half
  ret half %res
}

; f16 -> f32, exact (F. Giesen's half_to_float)
define float @__extendhfsf2(half %h) {
  %hb = bitcast half %h to i16
  %w = zext i16 %hb to i32
  %em = and i32 %w, 32767
  %o0 = shl i32 %em, 13
  %exp = and i32 %o0, 260046848             ; 0x7c00 << 13
  %o1 = add i32 %o0, 939524096              ; rebias by (127 - 15) << 23
  %isinf = icmp eq i32 %exp, 260046848
  %o2 = add i32 %o1, 939524096              ; inf/NaN: exponent all ones
  %iszero = icmp eq i32 %exp, 0
  %o3 = add i32 %o1, 8388608
  %o3f = bitcast i32 %o3 to float
  %o3s = fsub float %o3f, 0x3F10000000000000 ; renormalize subnormals: - 2^-14
  %o3b = bitcast float %o3s to i32
  %r1 = select i1 %iszero, i32 %o3b, i32 %o1
  %r2 = select i1 %isinf, i32 %o2, i32 %r1
  %sg0 = and i32 %w, 32768
  %sg = shl i32 %sg0, 16
  %r3 = or i32 %r2, %sg
  %res = bitcast i32 %r3 to float
  ret float %res
}

; f64 -> f32 rounded to odd: then one RNE to f16/bf16 equals rounding the f64 directly
define internal float @kiln.f64_to_f32_odd(double %x) {
  %f = fptrunc double %x to float
  %back = fpext float %f to double
  %inexact = fcmp one double %back, %x
  %ab = call double @llvm.fabs.f64(double %back)
  %ax = call double @llvm.fabs.f64(double %x)
  %away = fcmp ogt double %ab, %ax
  %bits = bitcast float %f to i32
  %aw = zext i1 %away to i32
  %down = sub i32 %bits, %aw
  %odd = or i32 %down, 1
  %rb = select i1 %inexact, i32 %odd, i32 %bits
  %r = bitcast i32 %rb to float
  ret float %r
}

define half @__truncdfhf2(double %x) {
  %f = call float @kiln.f64_to_f32_odd(double %x)
  %h = call half @__truncsfhf2(float %f)
  ret half %h
}

; f32 -> bf16
define bfloat @__truncsfbf2(float %f) {
  %u = bitcast float %f to i32
  %s = lshr i32 %u, 16
  %lsb = and i32 %s, 1
  %bias = add i32 %lsb, 32767
  %rnd = add i32 %u, %bias
  %q = or i32 %u, 4194304
  %nan = fcmp uno float %f, %f
  %r = select i1 %nan, i32 %q, i32 %rnd
  %t = lshr i32 %r, 16
  %h = trunc i32 %t to i16
  %b = bitcast i16 %h to bfloat
  ret bfloat %b
}

define bfloat @__truncdfbf2(double %x) {
  %f = call float @kiln.f64_to_f32_odd(double %x)
  %b = call bfloat @__truncsfbf2(float %f)
  ret bfloat %b
}
"""
SOFTFLOAT_SYMBOLS = (
    "__truncsfhf2", "__extendhfsf2", "__truncdfhf2", "__truncsfbf2", "__truncdfbf2"
)


@functools.cache
def _softfloat_engine() -> llvm.ExecutionEngine:
    """Compile the soft-float routines once and register them for symbol resolution."""
    mod = llvm.parse_assembly(_SOFTFLOAT_IR)
    mod.triple = llvm.get_process_triple()
    engine = llvm.create_mcjit_compiler(mod, host_target_machine())
    engine.finalize_object()
    for name in SOFTFLOAT_SYMBOLS:
        llvm.add_symbol(name, engine.get_function_address(name))
    return engine  # cached: the code must outlive every module that calls it


def host_cpu_description() -> str:
    """The host as code generation sees it: triple, CPU name and features."""
    _init_native()
    return (f"{llvm.get_process_triple()} {llvm.get_host_cpu_name()} "
            f"{llvm.get_host_cpu_features().flatten()}")


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
    IR pass pipeline (O0-O3); codegen always runs at O3. Code that calls a symbol this
    process does not define is refused with BackendError (MCJIT would call address 0).
    With `keep_objects`, `objects` holds the compiled object code (what the compile cache
    stores and `from_objects` loads again).
    """

    objects: list[bytes]

    def __init__(self, module: ir.Module | ModuleOp | str, opt_level: int = 3,
                 keep_objects: bool = False):
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
        self._ir_text: str | None = text
        self._opt_text: str | None = str(parsed)  # MCJIT's codegen rewrites it in place
        self._module = parsed
        self._tm = tm
        _softfloat_engine()
        objects: list[bytes] = []
        try:
            self._engine = llvm.create_mcjit_compiler(parsed, tm)
            # MCJIT hands each object it compiles to the cache: the object's undefined
            # symbols are exactly what the code calls outside itself, for free
            self._engine.set_object_cache(lambda _module, buf: objects.append(buf))
            self._engine.finalize_object()
        except RuntimeError as e:
            raise BackendError(f"LLVM code generation failed: {str(e).strip()}") from e
        for obj in objects:
            _check_externals(obj)
        # (a copy: the callback's list would keep the objects alive with the engine)
        self.objects = list(objects) if keep_objects else []
        objects.clear()
        self._engine.run_static_constructors()

    @classmethod
    def from_objects(cls, objects: list[bytes]) -> JITEngine:
        """An engine running object code an earlier JITEngine compiled (on this host)."""
        self = cls.__new__(cls)
        tm = host_target_machine()
        empty = llvm.parse_assembly("")
        empty.triple = llvm.get_process_triple()
        empty.data_layout = str(tm.target_data)
        _softfloat_engine()
        for obj in objects:
            _check_externals(obj)
        try:
            self._engine = llvm.create_mcjit_compiler(empty, tm)
            for obj in objects:
                self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
        except RuntimeError as e:
            raise BackendError(f"LLVM could not load the object code: {str(e).strip()}") from e
        self._module, self._tm = empty, tm
        self._ir_text = self._opt_text = None
        self.objects = list(objects)
        self._engine.run_static_constructors()
        return self

    def address_of(self, symbol: str) -> int:
        """Address of a compiled function or global; BackendError if it does not exist."""
        addr = self._engine.get_function_address(symbol)
        if not addr:
            addr = self._engine.get_global_value_address(symbol)
        if not addr:
            raise BackendError(f"symbol '{symbol}' not found in the compiled module")
        return addr

    def optional_address(self, symbol: str) -> int:
        """Address of a global or function the module may not define (0 when absent)."""
        return (self._engine.get_function_address(symbol)
                or self._engine.get_global_value_address(symbol))

    def llvm_ir_text(self) -> str:
        """The optimized LLVM IR (before codegen)."""
        return self._text(self._opt_text)

    def input_ir_text(self) -> str:
        """The LLVM IR as handed to the engine, before optimization."""
        return self._text(self._ir_text)

    def asm_text(self) -> str:
        """Host assembly of the optimized module."""
        return self._tm.emit_assembly(llvm.parse_assembly(self._text(self._opt_text)))

    @staticmethod
    def _text(text: str | None) -> str:
        if text is None:
            raise BackendError("this code was loaded as object code (from Kiln's compile "
                               "cache), so its LLVM IR is not at hand; compile with "
                               "cache=False to see it")
        return text


@functools.cache
def load_openmp() -> bool:
    """Load libgomp into the process for the threaded kernels (they call GOMP_parallel);
    False where it cannot be found, and then Kiln runs on one thread."""
    for name in ("libgomp.so.1", "libgomp.so", "libgomp.1.dylib"):
        try:
            llvm.load_library_permanently(name)
        except RuntimeError:
            continue
        if llvm.address_of_symbol("GOMP_parallel"):
            return True
    return False


_SHN_UNDEF, _STB_WEAK, _SHT_SYMTAB = 0, 2, 2
# the GOT is RuntimeDyld's own; nothing else is defined for the object by the JIT
_JIT_PROVIDED = frozenset({"_GLOBAL_OFFSET_TABLE_"})


def undefined_symbols(obj: bytes) -> list[str]:
    """Names of the non-weak undefined symbols of a little-endian ELF64 object (what it
    needs from outside); [] for other formats (then the check is skipped)."""
    if obj[:6] != b"\x7fELF\x02\x01":
        return []
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)
    ]
    names: list[str] = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != _SHT_SYMTAB or not entsize:
            continue
        str_off = sections[link][4]
        for st_name, st_info, _, st_shndx, _, _ in struct.iter_unpack(
            "<IBBHQQ", obj[offset : offset + size]
        ):
            if st_shndx == _SHN_UNDEF and st_name and st_info >> 4 != _STB_WEAK:
                end = obj.index(b"\0", str_off + st_name)
                names.append(obj[str_off + st_name : end].decode())
    return names


def _check_externals(obj: bytes) -> None:
    """BackendError for a symbol the code needs that MCJIT could not resolve (it would
    have patched the call to address 0). The process lookup is the one MCJIT used."""
    for name in undefined_symbols(obj):
        if name not in _JIT_PROVIDED and not llvm.address_of_symbol(name):
            raise BackendError(
                f"the generated code calls '{name}', which is not defined in this "
                "process (a compiler-rt/libgcc routine LLVM emitted for an operation "
                "this CPU lacks?); Kiln must lower that operation without it"
            )


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
