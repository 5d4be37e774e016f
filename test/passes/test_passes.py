"""fold and fuse on IR built with the graph op constructors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue

from compiler.context import make_context
from dialects import graph as g
from dialects.weights import WeightStore, attach, store_for
from passes import fold as fold_module
from passes.fold import FoldPass, constant_array, materialize
from passes.fuse import FusePass
from passes.rewrite import P, Rule, apply_rules

CTX = make_context()
RNG = np.random.default_rng(0)


class Builder:
    """Appends graph ops to a block (the test's IR builder)."""

    def __init__(self, store: WeightStore | None):
        self.block = Block()
        self.store = store

    def arg(self, shape) -> SSAValue:
        return self.block.insert_arg(g.tensor_type(shape), len(self.block.args))

    def __call__(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def const(self, array) -> SSAValue:
        return self(materialize(np.asarray(array, np.float32), None, ""))

    def weight(self, name: str, array) -> SSAValue:
        array = np.asarray(array, np.float32)
        return self(g.WeightOp(self.store.add(name, array), g.tensor_type(array.shape)))


def build(body: Callable[[Builder], list[SSAValue]], with_store: bool = True):
    store = WeightStore() if with_store else None
    b = Builder(store)
    results = body(b)
    b.block.add_op(func.ReturnOp(*results))
    main = func.FuncOp("main", FunctionType.from_lists([a.type for a in b.block.args],
                                                       [r.type for r in results]),
                       Region(b.block))
    module = ModuleOp([main])
    if store is not None:
        attach(module, store)
        module.__dict__["_store"] = store  # the registry holds stores weakly
    module.verify()
    return module


def ops(module: ModuleOp, cls) -> list[Operation]:
    return [op for op in module.walk() if isinstance(op, cls)]


def returned(module: ModuleOp) -> list[SSAValue]:
    return list(ops(module, func.ReturnOp)[0].operands)


def run(module: ModuleOp, pass_) -> ModuleOp:
    pass_.apply(CTX, module)
    module.verify()
    return module


# --------------------------------------------------------------------------- fold


def test_fold_constants_small_result_is_constant():
    def body(b):
        x = b.const([1.0, -2.0, 3.0])
        return [b(g.ReluOp(b(g.AddOp(x, b.const([1.0])))))]

    module = run(build(body, with_store=False), FoldPass())
    (value,) = returned(module)
    assert isinstance(value.owner, g.ConstantOp)
    np.testing.assert_array_equal(constant_array(value, None), [2.0, 0.0, 4.0])
    assert not ops(module, g.AddOp) and len(ops(module, g.ConstantOp)) == 1


def test_fold_weights_large_result_is_new_weight():
    w = RNG.standard_normal((16, 8)).astype(np.float32)

    def body(b):
        return [b(g.TransposeOp(b.weight("w", w), [1, 0]))]

    module = run(build(body), FoldPass())
    (value,) = returned(module)
    assert isinstance(value.owner, g.WeightOp)
    name = value.owner.weight_name.data
    assert name != "w"
    np.testing.assert_array_equal(store_for(module)[name], w.T)
    assert len(ops(module, g.WeightOp)) == 1  # the dead reference to "w" is gone


def test_fold_skips_weights_without_store_and_dynamic_inputs():
    def body(b):
        w = b(g.WeightOp("w", g.tensor_type([4])))
        x = b.arg([g.DYN, 4])
        return [b(g.NegOp(w)), b(g.AddOp(x, b.const(np.ones(4))))]

    module = run(build(body, with_store=False), FoldPass())
    assert len(ops(module, g.NegOp)) == 1 and len(ops(module, g.AddOp)) == 1


def test_fold_respects_size_cap(monkeypatch):
    monkeypatch.setattr(fold_module, "MAX_FOLD_ELEMENTS", 10)

    def body(b):
        return [b(g.NegOp(b.weight("w", np.ones((4, 4)))))]

    module = run(build(body), FoldPass())
    assert len(ops(module, g.NegOp)) == 1


def test_fold_conv_pool_softmax_match_reference():
    x = RNG.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)

    def body(b):
        c = b(g.ConvOp(b.weight("x", x), b.weight("w", w), strides=[2, 2],
                       pads=[1, 1, 1, 1], dilations=[1, 1], group=2))
        p = b(g.AvgPoolOp(c, kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                          dilations=[1, 1], ceil_mode=True))
        return [b(g.SoftmaxOp(p, 1))]

    module = run(build(body), FoldPass())
    (value,) = returned(module)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1],
                              group=2),
             helper.make_node("AveragePool", ["c"], ["p"], kernel_shape=[2, 2],
                              strides=[2, 2], pads=[0, 0, 1, 1], ceil_mode=1),
             helper.make_node("Softmax", ["p"], ["y"], axis=1)]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_allclose(constant_array(value, store_for(module)), expected,
                               rtol=1e-5, atol=1e-6)


def test_fold_identities():
    def body(b):
        x = b.arg([2, 3])
        a = b(g.AddOp(b.const(np.zeros((1, 3))), x))
        m = b(g.MulOp(a, b.const([1.0])))
        d = b(g.DivOp(m, b.const(np.ones(3))))
        return [b(g.SubOp(d, b.const([0.0])))]

    module = run(build(body), FoldPass())
    assert returned(module)[0] is module.body.block.ops.first.body.block.args[0]
    assert not ops(module, g.ConstantOp)


def test_fold_identities_do_not_fire_when_they_broadcast_or_differ():
    def body(b):
        x = b.arg([3])
        a = b(g.AddOp(x, b.const(np.zeros((2, 3)))))  # broadcasts [3] to [2, 3]
        return [b(g.MulOp(a, b.const([1.0, 2.0, 1.0])))]  # not all ones

    module = run(build(body), FoldPass())
    assert len(ops(module, g.AddOp)) == 1 and len(ops(module, g.MulOp)) == 1


# --------------------------------------------------------------------------- fuse


def _conv_bn_arrays():
    return {"w": RNG.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "cb": RNG.standard_normal(4).astype(np.float32),
            "scale": (1 + 0.2 * RNG.standard_normal(4)).astype(np.float32),
            "bias": RNG.standard_normal(4).astype(np.float32),
            "mean": RNG.standard_normal(4).astype(np.float32),
            "var": (1 + RNG.random(4)).astype(np.float32)}


def test_conv_bn_fusion_preserves_values():
    a = _conv_bn_arrays()

    def body(b):
        x = b.arg([1, 3, 8, 8])
        c = b(g.ConvOp(x, b.weight("w", a["w"]), b.weight("cb", a["cb"]), strides=[1, 1],
                       pads=[1, 1, 1, 1], dilations=[1, 1]))
        bn = b(g.BatchNormOp(c, *(b.weight(n, a[n]) for n in ("scale", "bias", "mean",
                                                               "var")), epsilon=1e-3))
        return [bn]

    module = build(body)
    run(run(module, FusePass()), FoldPass())
    assert not ops(module, g.BatchNormOp)
    (conv,) = ops(module, g.ConvOp)
    store = store_for(module)
    w, bias = constant_array(conv.weight, store), constant_array(conv.bias, store)

    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "cb"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"],
                              ["y"], epsilon=1e-3)]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in a.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_allclose(conv2d(x, w, bias, pad=1), expected, rtol=1e-4, atol=1e-4)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """A direct stride-1 2-D convolution (independent of the fold pass's evaluator)."""
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    n, _, h, wd = xp.shape
    o, _, kh, kw = w.shape
    y = np.zeros((n, o, h - kh + 1, wd - kw + 1), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + y.shape[2], j:j + y.shape[3]]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return (y + b.reshape(1, -1, 1, 1)).astype(np.float32)


def _conv(b, x, channels=4, bias=None):
    w = b.weight("w", RNG.standard_normal((channels, g.shape_of(x)[1], 3, 3)))
    return b(g.ConvOp(x, w, bias, strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1]))


def test_fuse_conv_bias_residual_relu():
    def body(b):
        x = b.arg([1, 4, 8, 8])
        r = b.arg([1, 4, 8, 8])
        c = _conv(b, x)
        c = b(g.AddOp(b.weight("b", np.ones((1, 4, 1, 1))), c))
        return [b(g.ReluOp(b(g.AddOp(r, c))))]

    module = run(run(build(body), FusePass()), FoldPass())
    (conv,) = ops(module, g.ConvOp)
    assert conv.act.data == "relu" and conv.bias is not None and conv.residual is not None
    assert g.shape_of(conv.bias) == (4,)
    assert not ops(module, g.AddOp) and not ops(module, g.ReluOp)


def test_fuse_gemm_and_matmul_bias_and_act():
    def body(b):
        x = b.arg([g.DYN, 8])
        y = b(g.GemmOp(x, b.weight("w", np.ones((8, 5))), beta=0.5))
        y = b(g.TanhOp(b(g.AddOp(y, b.const(np.ones(5))))))
        z = b(g.MatMulOp(y, b.weight("m", np.ones((5, 3)))))
        return [b(g.SigmoidOp(b(g.AddOp(z, b.const(np.ones((1, 3)))))))]

    module = run(build(body), FusePass())
    (gemm,) = ops(module, g.GemmOp)
    assert gemm.c is not None and gemm.beta.value.data == 1.0 and gemm.act.data == "tanh"
    (mm,) = ops(module, g.MatMulOp)
    assert mm.bias is not None and mm.act.data == "sigmoid"
    assert not ops(module, g.AddOp)


def test_fuse_does_not_fire_when_intermediate_has_other_uses():
    def body(b):
        x = b.arg([1, 4, 8, 8])
        c = _conv(b, x)
        bn = b(g.BatchNormOp(c, *(b.const(np.ones(4)) for _ in range(4))))
        c2 = _conv(b, x)
        r = b(g.ReluOp(c2))
        c3 = _conv(b, x)
        s = b(g.AddOp(c3, x))
        return [bn, c, r, c2, s, c3]

    module = run(build(body), FusePass())
    assert len(ops(module, g.BatchNormOp)) == 1
    assert len(ops(module, g.ReluOp)) == 1
    assert len(ops(module, g.AddOp)) == 1
    assert all(op.act is None and op.residual is None and op.bias is None
               for op in ops(module, g.ConvOp))


def test_fuse_does_not_fire_on_broadcasting_or_already_fused():
    def body(b):
        x = b.arg([1, 4, 8, 8])
        c = _conv(b, x)
        s = b(g.AddOp(c, b.const(np.ones(8))))  # [8] adds along W: not a channel bias
        c2 = b(g.ConvOp(x, b.weight("w", np.ones((4, 4, 1, 1))), strides=[1, 1],
                        pads=[0, 0, 0, 0], dilations=[1, 1], act="relu"))
        t = b(g.TanhOp(c2))  # conv already has an act
        return [s, t]

    module = run(build(body), FusePass())
    assert len(ops(module, g.AddOp)) == 1 and len(ops(module, g.TanhOp)) == 1


def test_rewrite_rule_in_a_few_lines():
    # -(-x) -> x: an op pattern with a single-use operand pattern and a capture
    rule = Rule("neg-neg", P(g.NegOp, [P(g.NegOp, [P(name="x")], one_use=True)]),
                lambda m, b: m.x)

    def body(b):
        x = b.arg([3])
        return [b(g.NegOp(b(g.NegOp(x))))]

    module = build(body)
    fired = apply_rules(module, [rule])
    assert fired == {"neg-neg": 1}
    assert not ops(module, g.NegOp)


@pytest.mark.parametrize("with_store", [True, False])
def test_fuse_then_fold_leaves_no_batch_norm(with_store):
    def body(b):
        x = b.arg([1, 3, 8, 8])
        c = b(g.ConvOp(x, b.const(np.ones((2, 3, 1, 1))), strides=[1, 1], pads=[0, 0, 0, 0],
                       dilations=[1, 1]))
        return [b(g.BatchNormOp(c, *(b.const([1.0, 2.0]) for _ in range(4))))]

    module = run(run(build(body, with_store), FusePass()), FoldPass())
    assert not ops(module, g.BatchNormOp)
    (conv,) = ops(module, g.ConvOp)
    assert isinstance(conv.weight.owner, g.ConstantOp)
    assert isinstance(conv.bias.owner, g.ConstantOp)
