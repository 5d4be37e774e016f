"""Lowering graph -> tensor -> memref -> loops, checked numerically.

Each case builds a small graph module, runs convert-graph-to-tensor, bufferize and
lower-linalg-to-loops, verifies the module, and runs it on xDSL's interpreter (a slow
test oracle, hence tiny shapes) against numpy / onnx.reference.
"""

from __future__ import annotations

import math as pymath
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from xdsl.dialects import arith, func, math, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
)
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls
from xdsl.interpreters.arith import ArithFunctions
from xdsl.interpreters.func import FuncFunctions
from xdsl.interpreters.math import MathFunctions
from xdsl.interpreters.scf import ScfFunctions
from xdsl.ir import Block, Region, SSAValue
from xdsl.traits import SymbolTable
from xdsl.utils.exceptions import DiagnosticException

from compiler.context import make_context
from dialects import check, graph
from dialects.graph import DYN
from dialects.weights import WeightStore, attach
from lowering.bufferize import BufferizePass
from lowering.graph_to_tensor import ConvertGraphToTensorPass
from lowering.linalg_to_loops import LowerLinalgToLoopsPass

RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- oracle


@register_impls
class _KilnOracleFunctions(InterpreterFunctions):
    """The ops xDSL's interpreter lacks, over numpy arrays as memrefs."""

    @impl(memref.AllocOp)
    def run_alloc(self, interpreter: Interpreter, op: memref.AllocOp, args: Any):
        dyn = iter(args)
        shape = [next(dyn) if s == DYN else s for s in op.memref.type.get_shape()]
        return (np.full(shape, np.nan, dtype=np.float32),)

    @impl(memref.DeallocOp)
    def run_dealloc(self, interpreter: Interpreter, op: memref.DeallocOp, args: Any):
        return ()

    @impl(check.AssertOp)
    def run_check(self, interpreter: Interpreter, op: check.AssertOp, args: Any):
        assert args[0], check.format_message(op.msg.data, list(args[1:]))
        return ()

    @impl(memref.LoadOp)
    def run_load(self, interpreter: Interpreter, op: memref.LoadOp, args: Any):
        return (float(args[0][tuple(args[1:])]),)

    @impl(memref.StoreOp)
    def run_store(self, interpreter: Interpreter, op: memref.StoreOp, args: Any):
        args[1][tuple(args[2:])] = args[0]
        return ()

    @impl(memref.DimOp)
    def run_dim(self, interpreter: Interpreter, op: memref.DimOp, args: Any):
        return (args[0].shape[args[1]],)

    @impl(memref.GetGlobalOp)
    def run_get_global(self, interpreter: Interpreter, op: memref.GetGlobalOp, args: Any):
        glob = SymbolTable.lookup_symbol(op, op.name_)
        assert isinstance(glob, memref.GlobalOp)
        value = glob.initial_value
        assert isinstance(value, DenseIntOrFPElementsAttr)
        data = np.array(value.get_values(), dtype=np.float32)
        return (data.reshape(value.get_shape()),)

    @impl(memref.ReinterpretCastOp)
    def run_reinterpret_cast(self, interpreter: Interpreter, op: memref.ReinterpretCastOp,
                             args: Any):
        dyn = iter(args[1:])
        sizes = [next(dyn) if s == DYN else s for s in op.static_sizes.get_values()]
        src = args[0]
        assert src.flags["C_CONTIGUOUS"]
        return (src.reshape(sizes),)

    @impl(arith.DivfOp)
    def run_divf(self, interpreter: Interpreter, op: arith.DivfOp, args: Any):
        return (args[0] / args[1] if args[1] != 0 else pymath.copysign(pymath.inf, args[0]),)

    @impl(arith.NegfOp)
    def run_negf(self, interpreter: Interpreter, op: arith.NegfOp, args: Any):
        return (-args[0],)

    @impl(arith.MinSIOp)
    def run_minsi(self, interpreter: Interpreter, op: arith.MinSIOp, args: Any):
        return (min(args),)

    @impl(arith.MaxSIOp)
    def run_maxsi(self, interpreter: Interpreter, op: arith.MaxSIOp, args: Any):
        return (max(args),)

    @impl(arith.SIToFPOp)
    def run_sitofp(self, interpreter: Interpreter, op: arith.SIToFPOp, args: Any):
        return (float(args[0]),)

    @impl(math.TanhOp)
    def run_tanh(self, interpreter: Interpreter, op: math.TanhOp, args: Any):
        return (pymath.tanh(args[0]),)

    @impl(math.ExpOp)
    def run_exp(self, interpreter: Interpreter, op: math.ExpOp, args: Any):
        try:
            return (pymath.exp(args[0]),)
        except OverflowError:
            return (pymath.inf,)


def lower(module: ModuleOp) -> ModuleOp:
    ctx = make_context()
    for p in (ConvertGraphToTensorPass(), BufferizePass(),
              LowerLinalgToLoopsPass()):
        p.apply(ctx, module)
        module.verify()
    text = re.sub(r'"[^"]*"', '""', str(module))  # run-time check messages name graph ops
    for banned in ("graph.", "tensor.", "linalg.", "affine."):
        assert banned not in text.replace("graph.name", "").replace(
            "graph.weight", "").replace("graph.dims", "").replace("tensor<", "")
    return module


def interpret(module: ModuleOp, inputs: Sequence[np.ndarray],
              store: WeightStore | None = None) -> list[np.ndarray]:
    fn = SymbolTable.lookup_symbol(module, "main")
    assert isinstance(fn, func.FuncOp)
    args = _with_weights(fn, inputs, store)
    interpreter = Interpreter(module)
    for impls in (ArithFunctions(), ScfFunctions(), FuncFunctions(), MathFunctions()):
        interpreter.register_implementations(impls)
    interpreter.register_implementations(_KilnOracleFunctions(), override=True)
    return [np.array(r) for r in interpreter.call_op("main", tuple(args))]


def _backend_available() -> bool:
    try:
        import compiler.runtime.abi  # noqa: F401
        import compiler.runtime.jit  # noqa: F401
        import lowering.to_llvm  # noqa: F401
    except Exception:
        return False
    return True


HAVE_JIT = _backend_available()


def run_native(module: ModuleOp, inputs: Sequence[np.ndarray],
               store: WeightStore | None = None) -> list[np.ndarray]:
    """The real executor: convert-to-llvm + MCJIT + the packed entry ABI."""
    from compiler.runtime.abi import call_entry
    from compiler.runtime.jit import JITEngine
    from lowering.to_llvm import ConvertToLLVMPass

    fn = SymbolTable.lookup_symbol(module, "main")
    assert isinstance(fn, func.FuncOp)
    args = _with_weights(fn, inputs, store)
    results = [(np.dtype(np.float32), len(t.get_shape()))
               for t in fn.function_type.outputs.data]
    llvm_module = module.clone()
    ConvertToLLVMPass().apply(make_context(), llvm_module)
    engine = JITEngine(llvm_module)
    return call_entry(engine.address_of("_kiln_entry_main"), list(args), results)


def _with_weights(fn: func.FuncOp, inputs: Sequence[np.ndarray],
                  store: WeightStore | None) -> list[np.ndarray]:
    args = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
    if fn.arg_attrs is not None:
        for attrs in fn.arg_attrs.data[len(args):]:
            name = attrs.data["graph.weight"]
            assert isinstance(name, StringAttr) and store is not None
            args.append(store[name.data].astype(np.float32))
    return args


def build(arg_shapes: Sequence[Sequence[int]],
          body: Callable[[Sequence[SSAValue], Callable[[Any], SSAValue]], Sequence[SSAValue]],
          store: WeightStore | None = None) -> ModuleOp:
    """A graph module with @main(args) -> body(args)."""
    block = Block(arg_types=[TensorType(f32, list(s)) for s in arg_shapes])

    def add(op: Any) -> SSAValue:
        block.add_op(op)
        return op.results[0]

    results = body(block.args, add)
    block.add_op(func.ReturnOp(*results))
    fn = func.FuncOp("main", ([a.type for a in block.args], [r.type for r in results]),
                     Region(block))
    fn.arg_attrs = ArrayAttr([DictionaryAttr({"graph.name": StringAttr(f"in{i}")})
                              for i in range(len(arg_shapes))])
    module = ModuleOp([fn])
    if store is not None:
        attach(module, store)
    module.verify()
    return module


def check(arg_shapes: Sequence[Sequence[int]], body: Callable[..., Sequence[SSAValue]],
          inputs: Sequence[np.ndarray], expected: Sequence[np.ndarray],
          store: WeightStore | None = None, atol: float = 1e-4,
          oracle: bool = True) -> None:
    """Lower, then compare the interpreter (tiny shapes) and the JIT with `expected`."""
    module = lower(build(arg_shapes, body, store))
    runs = []
    if oracle:
        runs.append(interpret(module, inputs, store))
    if HAVE_JIT:
        runs.append(run_native(module, inputs, store))
    assert runs, "no executor available"
    for got in runs:
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape, (g.shape, e.shape)
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=atol)


def onnx_ref(op_type: str, inputs: Sequence[np.ndarray], **attrs: Any) -> np.ndarray:
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = [f"i{k}" for k in range(len(inputs))]
    node = helper.make_node(op_type, names, ["out"], **attrs)
    g = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
         for n, a in zip(names, inputs, strict=True)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return ReferenceEvaluator(model).run(None, dict(zip(names, inputs, strict=True)))[0]


# --------------------------------------------------------------------------- cases


@pytest.mark.parametrize("op,fn", [(graph.AddOp, np.add), (graph.SubOp, np.subtract),
                                   (graph.MulOp, np.multiply), (graph.DivOp, np.divide)])
@pytest.mark.parametrize("sa,sb", [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)),
                                   ((1,), (2, 2))])
def test_binary_broadcast(op, fn, sa, sb):
    a, b = rand(*sa), rand(*sb) + (3.0 if op is graph.DivOp else 0.0)
    check([sa, sb], lambda args, add: [add(op(args[0], args[1]))], [a, b], [fn(a, b)])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("op,fn", [
    (graph.ReluOp, lambda x: np.maximum(x, 0)), (graph.SigmoidOp, _sigmoid),
    (graph.TanhOp, np.tanh), (graph.ExpOp, np.exp), (graph.NegOp, np.negative),
    (graph.SqrtOp, lambda x: np.sqrt(np.abs(x)))])
def test_unary(op, fn):
    x = rand(2, 3)
    if op is graph.SqrtOp:
        x = np.abs(x)
    check([x.shape], lambda args, add: [add(op(args[0]))], [x], [fn(x)])


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 4)), ((2, 2, 3), (3, 2)), ((3,), (3, 2)),
                                   ((2, 3), (3,)), ((1, 2, 3), (2, 3, 2)), ((3,), (3,))])
def test_matmul(sa, sb):
    a, b = rand(*sa), rand(*sb)
    check([sa, sb], lambda args, add: [add(graph.MatMulOp(args[0], args[1]))], [a, b],
          [np.matmul(a, b)])


def test_matmul_bias_act():
    a, b, c = rand(2, 3), rand(3, 4), rand(4)
    check([a.shape, b.shape, c.shape],
          lambda args, add: [add(graph.MatMulOp(args[0], args[1], args[2], act="relu"))],
          [a, b, c], [np.maximum(a @ b + c, 0)])


@pytest.mark.parametrize("ta,tb,alpha,beta,cshape,act", [
    (False, False, 1.0, 1.0, None, None), (True, False, 0.5, 2.0, (4,), None),
    (False, True, 1.0, 0.5, (2, 1), "sigmoid"), (True, True, 2.0, 1.0, (2, 4), "tanh")])
def test_gemm(ta, tb, alpha, beta, cshape, act):
    a = rand(3, 2) if ta else rand(2, 3)
    b = rand(4, 3) if tb else rand(3, 4)
    shapes = [a.shape, b.shape]
    inputs = [a, b]
    if cshape is not None:
        c = rand(*cshape)
        shapes.append(cshape)
        inputs.append(c)
    expected = alpha * ((a.T if ta else a) @ (b.T if tb else b))
    if cshape is not None:
        expected = expected + beta * c
    expected = {None: lambda x: x, "sigmoid": _sigmoid, "tanh": np.tanh}[act](expected)

    def body(args, add):
        return [add(graph.GemmOp(args[0], args[1], args[2] if cshape else None,
                                 alpha=alpha, beta=beta, trans_a=ta, trans_b=tb, act=act))]

    check(shapes, body, inputs, [expected])


@pytest.mark.parametrize("strides,pads,dilations,group", [
    ((1, 1), (0, 0, 0, 0), (1, 1), 1), ((2, 1), (1, 0, 1, 1), (1, 1), 1),
    ((1, 1), (1, 1, 1, 1), (2, 1), 1), ((1, 1), (0, 1, 0, 1), (1, 1), 2)])
def test_conv(strides, pads, dilations, group):
    x, w = rand(1, 2, 5, 4), rand(4, 2 // group, 2, 2)
    expected = onnx_ref("Conv", [x, w], strides=strides, pads=pads, dilations=dilations,
                        group=group)

    def body(args, add):
        return [add(graph.ConvOp(args[0], args[1], strides=strides, pads=pads,
                                 dilations=dilations, group=group))]

    check([x.shape, w.shape], body, [x, w], [expected])


def test_conv_fused_with_weights():
    """Weights (graph.weight) + constant bias + residual + relu, dynamic batch."""
    x, r = rand(2, 2, 4, 4), rand(2, 3, 4, 4)
    store = WeightStore({"w": rand(3, 2, 3, 3)})
    bias = rand(3)
    expected = np.maximum(onnx_ref("Conv", [x, store["w"], bias], pads=(1, 1, 1, 1)) + r, 0)

    def body(args, add):
        w = add(graph.WeightOp("w", graph.tensor_type((3, 2, 3, 3))))
        b = add(graph.ConstantOp(DenseIntOrFPElementsAttr.from_list(
            TensorType(f32, [3]), [float(v) for v in bias])))
        return [add(graph.ConvOp(args[0], w, b, args[1], strides=(1, 1), pads=(1, 1, 1, 1),
                                 dilations=(1, 1), act="relu"))]

    check([(DYN, 2, 4, 4), (DYN, 3, 4, 4)], body, [x, r], [expected], store)


def test_conv1d():
    x, w = rand(1, 2, 6), rand(3, 2, 3)
    expected = onnx_ref("Conv", [x, w], strides=(2,), pads=(1, 1))
    check([x.shape, w.shape],
          lambda args, add: [add(graph.ConvOp(args[0], args[1], strides=(2,), pads=(1, 1),
                                              dilations=(1,)))], [x, w], [expected])


POOL_CASES = [
    dict(kernel_shape=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0), dilations=(1, 1)),
    dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), dilations=(1, 1)),
    dict(kernel_shape=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0), dilations=(1, 1),
         ceil_mode=True),
    dict(kernel_shape=(3, 2), strides=(1, 2), pads=(1, 0, 1, 1), dilations=(1, 1),
         ceil_mode=True),
    dict(kernel_shape=(2, 2), strides=(1, 1), pads=(1, 1, 0, 0), dilations=(2, 2)),
]


@pytest.mark.parametrize("attrs", POOL_CASES)
def test_max_pool(attrs):
    x = rand(1, 2, 5, 5) - 5.0  # all negative: padding must never win
    ref_attrs = {k: (int(v) if isinstance(v, bool) else v) for k, v in attrs.items()}
    expected = onnx_ref("MaxPool", [x], **ref_attrs)
    check([x.shape], lambda args, add: [add(graph.MaxPoolOp(args[0], **attrs))], [x],
          [expected])


@pytest.mark.parametrize("attrs", [a for a in POOL_CASES if a["dilations"] == (1, 1)])
@pytest.mark.parametrize("include_pad", [False, True])
def test_avg_pool(attrs, include_pad):
    from xdsl.dialects.builtin import IntegerAttr, i64

    x = rand(1, 2, 5, 5)
    ref_attrs = {k: (int(v) if isinstance(v, bool) else v) for k, v in attrs.items()
                 if k != "dilations"}
    expected = onnx_ref("AveragePool", [x], count_include_pad=int(include_pad), **ref_attrs)

    def body(args, add):
        return [add(graph.AvgPoolOp(args[0], **attrs,
                                    count_include_pad=IntegerAttr(int(include_pad), i64)))]

    check([x.shape], body, [x], [expected])


def test_global_avg_pool_dynamic():
    x = rand(2, 3, 3, 2)
    check([(DYN, 3, DYN, DYN)], lambda args, add: [add(graph.GlobalAvgPoolOp(args[0]))],
          [x], [x.mean(axis=(2, 3), keepdims=True)])


def test_batch_norm():
    x, s, b, m, v = rand(2, 3, 2, 2), rand(3), rand(3), rand(3), np.abs(rand(3)) + 0.5
    expected = (x - m[:, None, None]) / np.sqrt(v[:, None, None] + 1e-5) * s[:, None, None] \
        + b[:, None, None]
    check([x.shape, (3,), (3,), (3,), (3,)],
          lambda args, add: [add(graph.BatchNormOp(*args))], [x, s, b, m, v], [expected])


@pytest.mark.parametrize("in_shape,target,arg_shape", [
    ((2, 3, 2), (3, -1), (2, 3, 2)), ((2, 4, 1, 1), (-1, 4), (DYN, 4, 1, 1)),
    ((2, 6), (2, 2, 3), (2, 6)), ((3, 2), (-1,), (DYN, 2)), ((2, 6), (-1, 3, 2), (DYN, 6))])
def test_reshape(in_shape, target, arg_shape):
    x = rand(*in_shape)

    def body(args, add):
        # a consumer after the reshape checks the view is read correctly
        r = add(graph.ReshapeOp(args[0], target))
        return [add(graph.ReluOp(r))]

    check([arg_shape], body, [x], [np.maximum(x.reshape(target), 0)])


def test_reshape_returned_directly():
    x = rand(2, 3)
    check([x.shape], lambda args, add: [add(graph.ReshapeOp(args[0], (3, 2)))], [x],
          [x.reshape(3, 2)])


def test_transpose():
    x = rand(2, 3, 4)
    check([x.shape], lambda args, add: [add(graph.TransposeOp(args[0], (2, 0, 1)))], [x],
          [x.transpose(2, 0, 1)])


@pytest.mark.parametrize("dynamic", [False, True])
def test_concat(dynamic):
    a, b, c = rand(2, 1, 2), rand(2, 3, 2), rand(2, 2, 2)
    shapes = [(2, DYN, 2) if dynamic else t.shape for t in (a, b, c)]
    # each input is copied into a strided view of the result, which xDSL's interpreter
    # cannot run (its reinterpret_cast is a reshape): the JIT checks it
    check(shapes, lambda args, add: [add(graph.ConcatOp(list(args), 1))], [a, b, c],
          [np.concatenate([a, b, c], axis=1)], oracle=False)


@pytest.mark.parametrize("axis", [0, 1])
def test_softmax(axis):
    x = rand(2, 3) * 30  # large values: the max subtraction keeps exp finite
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    check([x.shape], lambda args, add: [add(graph.SoftmaxOp(args[0], axis))], [x],
          [e / e.sum(axis=axis, keepdims=True)])


def test_constant_returned():
    value = rand(2, 2)

    def body(args, add):
        c = add(graph.ConstantOp(DenseIntOrFPElementsAttr.from_list(
            TensorType(f32, [2, 2]), [float(v) for v in value.flat])))
        return [c, add(graph.AddOp(args[0], c))]

    x = rand(2, 2)
    check([x.shape], body, [x], [value, x + value])


def test_mlp_dynamic_batch():
    store = WeightStore({"w1": rand(4, 3), "b1": rand(4), "w2": rand(2, 4)})
    x = rand(3, 3)
    h = np.maximum(x @ store["w1"].T + store["b1"], 0)
    e = np.exp(h @ store["w2"].T)
    expected = e / e.sum(axis=1, keepdims=True)

    def body(args, add):
        w1 = add(graph.WeightOp("w1", graph.tensor_type((4, 3))))
        b1 = add(graph.WeightOp("b1", graph.tensor_type((4,))))
        w2 = add(graph.WeightOp("w2", graph.tensor_type((2, 4))))
        h = add(graph.GemmOp(args[0], w1, b1, trans_b=True, act="relu"))
        y = add(graph.MatMulOp(h, add(graph.TransposeOp(w2, (1, 0)))))
        return [add(graph.SoftmaxOp(y, 1))]

    check([(DYN, 3)], body, [x], [expected], store)


def test_outputs_never_written_into_inputs():
    """A graph returning its input and a function of it: inputs stay untouched."""
    x = rand(2, 2)
    keep = x.copy()
    module = lower(build([x.shape], lambda args, add: [args[0], add(graph.NegOp(args[0]))]))
    out = interpret(module, [x])
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_allclose(out[1], -keep)


def test_deallocs_balance():
    module = lower(build([(2, 3), (3, 4)], lambda args, add: [
        add(graph.ReluOp(add(graph.MatMulOp(args[0], args[1]))))]))
    allocs = [o for o in module.walk() if isinstance(o, memref.AllocOp)]
    deallocs = [o for o in module.walk() if isinstance(o, memref.DeallocOp)]
    # every allocation but the returned one is freed exactly once
    assert len(deallocs) == len(allocs) - 1
    assert {d.memref for d in deallocs} < {a.memref for a in allocs}


def test_unsupported_reports_op():
    def body(args, add):
        return [add(graph.MaxPoolOp(args[0], kernel_shape=(2, 2), strides=(2, 2),
                                    pads=(0, 0, 0, 0), dilations=(1, 1), ceil_mode=True))]

    module = build([(1, 1, DYN, DYN)], body)
    with pytest.raises(DiagnosticException, match="graph.max_pool"):
        ConvertGraphToTensorPass().apply(make_context(), module)


# --------------------------------------------------------------------------- native only

native = pytest.mark.skipif(not HAVE_JIT, reason="LLVM back end not available")


@native
def test_native_matmul_larger():
    a, b, c = rand(33, 40), rand(40, 65), rand(65)
    check([(DYN, 40), b.shape, c.shape],
          lambda args, add: [add(graph.MatMulOp(args[0], args[1], args[2], act="relu"))],
          [a, b, c], [np.maximum(a @ b + c, 0)], oracle=False)


@native
def test_native_conv_pool_chain():
    x, w, bias = rand(2, 3, 12, 12), rand(8, 3, 3, 3), rand(8)
    conv = np.maximum(onnx_ref("Conv", [x, w, bias], pads=(1, 1, 1, 1), strides=(1, 1)), 0)
    pooled = onnx_ref("MaxPool", [conv], kernel_shape=(3, 3), strides=(2, 2),
                      pads=(1, 1, 1, 1))
    expected = pooled.mean(axis=(2, 3), keepdims=True)

    def body(args, add):
        c = add(graph.ConvOp(args[0], args[1], args[2], strides=(1, 1), pads=(1, 1, 1, 1),
                             dilations=(1, 1), act="relu"))
        p = add(graph.MaxPoolOp(c, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                                dilations=(1, 1)))
        return [add(graph.GlobalAvgPoolOp(p))]

    check([(DYN, 3, 12, 12), w.shape, bias.shape], body, [x, w, bias], [expected],
          oracle=False)


@native
def test_native_dynamic_batch_sizes():
    """One compiled module, several batch sizes (the MLP of pipeline-mlp.mlir)."""
    store = WeightStore({"w1": rand(16, 8), "b1": rand(16)})

    def body(args, add):
        w1 = add(graph.WeightOp("w1", graph.tensor_type((16, 8))))
        b1 = add(graph.WeightOp("b1", graph.tensor_type((16,))))
        h = add(graph.GemmOp(args[0], w1, b1, trans_b=True, act="relu"))
        return [add(graph.SoftmaxOp(h, 1))]

    module = lower(build([(DYN, 8)], body, store))
    for n in (1, 5, 17):
        x = rand(n, 8)
        h = np.maximum(x @ store["w1"].T + store["b1"], 0)
        e = np.exp(h - h.max(axis=1, keepdims=True))
        got = run_native(module, [x], store)[0]
        np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-4,
                                   atol=1e-5)
