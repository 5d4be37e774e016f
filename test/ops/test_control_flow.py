"""Control flow (If, Loop, Scan) and recurrent cells (LSTM, GRU, RNN) through the JIT,
numerically against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import ort_run
from onnx import TensorProto, helper

import compiler
from compiler.importers.onnx import SUPPORTED_OPS

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, opset: int = 17, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], rtol=1e-4, atol=1e-5,
           pipeline: str | None = None) -> list[np.ndarray]:
    compiled = compiler.compile(model, pipeline=pipeline)
    got = compiled(**feeds)
    want = ort_run(model, feeds)
    assert len(got) == len(want)
    for g_, w in zip(got, want, strict=True):
        assert g_.shape == w.shape
        np.testing.assert_allclose(g_, w, rtol=rtol, atol=atol)
    return got


def _rand(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- If


def _if_model() -> onnx.ModelProto:
    """res = relu(x) * y if cond else x - y (both branches capture outer values)."""
    then_g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["r", "y"], ["t"])],
        "then", [], [_vi("t", F, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "y"], ["e"])], "else", [],
                               [_vi("e", F, [2, 3])])
    node = helper.make_node("If", ["cond"], ["res"], then_branch=then_g, else_branch=else_g)
    return _model([node], [_vi("cond", B, []), _vi("x", F, [2, 3]), _vi("y", F, [2, 3])],
                  [_vi("res", F, [2, 3])])


@pytest.mark.parametrize("cond", [True, False])
def test_if_both_branches(cond):
    x, y = _rand(2, 3), _rand(2, 3)
    _check(_if_model(), {"cond": np.array(cond), "x": x, "y": y})


def test_if_branches_of_different_shapes():
    then_g = helper.make_graph([helper.make_node("Constant", [], ["a"], value=helper.make_tensor(
        "a", F, [2], [1, 2]))], "then", [], [_vi("a", F, [2])])
    else_g = helper.make_graph([helper.make_node("Constant", [], ["b"], value=helper.make_tensor(
        "b", F, [3], [3, 4, 5]))], "else", [], [_vi("b", F, [3])])
    node = helper.make_node("If", ["cond"], ["res"], then_branch=then_g, else_branch=else_g)
    model = _model([node], [_vi("cond", B, [])], [_vi("res", F, [None])])
    compiled = compiler.compile(model)
    assert compiled(np.array(True))[0].tolist() == [1, 2]
    assert compiled(np.array(False))[0].tolist() == [3, 4, 5]


# --------------------------------------------------------------------------- Loop


def _loop_model(with_cond: bool) -> onnx.ModelProto:
    """Carried (acc, prod) and two scan outputs; the body captures `w`."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Add", ["acc_in", "w"], ["acc_out"]),
         helper.make_node("Mul", ["prod_in", "acc_out"], ["prod_out"]),
         helper.make_node("Tanh", ["prod_out"], ["scan0"]),
         helper.make_node("Identity", ["acc_out"], ["scan1"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("acc_in", F, [3]),
                 _vi("prod_in", F, [3])],
        [_vi("c_out", B, []), _vi("acc_out", F, [3]), _vi("prod_out", F, [3]),
         _vi("scan0", F, [3]), _vi("scan1", F, [3])])
    inputs = ["M", "cond" if with_cond else "", "acc0", "prod0"]
    node = helper.make_node("Loop", inputs, ["acc", "prod", "s0", "s1"], body=body)
    ins = [_vi("M", I64, []), _vi("acc0", F, [3]), _vi("prod0", F, [3]), _vi("w", F, [3])]
    if with_cond:
        ins.insert(1, _vi("cond", B, []))
    return _model([node], ins, [_vi("acc", F, [3]), _vi("prod", F, [3]),
                                _vi("s0", F, [None, 3]), _vi("s1", F, [None, 3])])


@pytest.mark.parametrize("trips", [0, 1, 4])
@pytest.mark.parametrize("with_cond", [False, True])
def test_loop_carried_and_scan_outputs(trips, with_cond):
    feeds = {"M": np.array(trips, np.int64), "acc0": _rand(3), "prod0": _rand(3),
             "w": _rand(3)}
    if with_cond:
        feeds["cond"] = np.array(True)
    _check(_loop_model(with_cond), feeds)


def test_loop_condition_false_runs_nothing():
    feeds = {"M": np.array(5, np.int64), "cond": np.array(False), "acc0": _rand(3),
             "prod0": _rand(3), "w": _rand(3)}
    got = _check(_loop_model(True), feeds)
    assert got[2].shape == (0, 3)


def test_loop_iteration_number_and_early_exit():
    """while (i < M && sum < limit): the condition is computed in the body."""
    if "Less" not in SUPPORTED_OPS or "Cast" not in SUPPORTED_OPS:
        pytest.skip("needs Less and Cast")
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Add", ["s_in", "fi"], ["s_out"]),
         helper.make_node("Less", ["s_out", "limit"], ["c_out"]),
         helper.make_node("Identity", ["s_out"], ["scan"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("s_in", F, [])],
        [_vi("c_out", B, []), _vi("s_out", F, []), _vi("scan", F, [])])
    node = helper.make_node("Loop", ["M", "cond", "s0"], ["s", "scan"], body=body)
    model = _model([node], [_vi("M", I64, []), _vi("cond", B, []), _vi("s0", F, []),
                            _vi("limit", F, [])], [_vi("s", F, []), _vi("scan", F, [None])])
    for limit in (0.5, 7.0, 100.0):
        feeds = {"M": np.array(10, np.int64), "cond": np.array(True),
                 "s0": np.array(0, np.float32), "limit": np.array(limit, np.float32)}
        _check(model, feeds)


def test_nested_if_inside_loop():
    """Each iteration adds x or subtracts y, chosen by a captured flag."""
    then_g = helper.make_graph([helper.make_node("Add", ["v_in", "x"], ["t"])], "then", [],
                               [_vi("t", F, [2])])
    else_g = helper.make_graph([helper.make_node("Sub", ["v_in", "y"], ["e"])], "else", [],
                               [_vi("e", F, [2])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("If", ["flag"], ["v_out"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Relu", ["v_out"], ["scan"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("v_in", F, [2])],
        [_vi("c_out", B, []), _vi("v_out", F, [2]), _vi("scan", F, [2])])
    node = helper.make_node("Loop", ["M", "", "v0"], ["v", "scan"], body=body)
    model = _model([node], [_vi("M", I64, []), _vi("flag", B, []), _vi("v0", F, [2]),
                            _vi("x", F, [2]), _vi("y", F, [2])],
                   [_vi("v", F, [2]), _vi("scan", F, [None, 2])])
    for flag in (True, False):
        _check(model, {"M": np.array(3, np.int64), "flag": np.array(flag), "v0": _rand(2),
                       "x": _rand(2), "y": _rand(2)})


# --------------------------------------------------------------------------- Scan


@pytest.mark.parametrize("in_axis,in_dir,out_axis,out_dir", [
    (0, 0, 0, 0), (0, 1, 0, 1), (1, 0, 1, 0), (1, 1, 0, 1), (0, 0, 1, 1)])
def test_scan(in_axis, in_dir, out_axis, out_dir):
    """Running sum over axis `in_axis` of x [4, 5]; a second scan input read forward."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "xi"], ["s_out"]),
         helper.make_node("Mul", ["s_out", "zi"], ["y"])],
        "body", [_vi("s_in", F, [None]), _vi("xi", F, [None]), _vi("zi", F, [None])],
        [_vi("s_out", F, [None]), _vi("y", F, [None])])
    node = helper.make_node("Scan", ["s0", "x", "z"], ["s", "ys"], body=body,
                            num_scan_inputs=2, scan_input_axes=[in_axis, in_axis],
                            scan_input_directions=[in_dir, 0],
                            scan_output_axes=[out_axis], scan_output_directions=[out_dir])
    length = 5 if in_axis == 0 else 4
    model = _model([node], [_vi("s0", F, [length]), _vi("x", F, [4, 5]),
                            _vi("z", F, [4, 5])], [_vi("s", F, [None]), _vi("ys", F, [None, None])])
    _check(model, {"s0": _rand(length), "x": _rand(4, 5), "z": _rand(4, 5)})


# --------------------------------------------------------------------------- LSTM/GRU/RNN


def _rnn_model(op: str, direction: str, *, t=5, b=3, i=4, h=6, bias=True, init=True,
               seq_lens=False, layout=0, extra=None, peepholes=False) -> tuple:
    d = 2 if direction == "bidirectional" else 1
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    x_shape = [t, b, i] if layout == 0 else [b, t, i]
    state = [d, b, h] if layout == 0 else [b, d, h]
    feeds = {"X": _rand(*x_shape), "W": _rand(d, g * h, i) * 0.5,
             "R": _rand(d, g * h, h) * 0.5}
    names = ["X", "W", "R"]
    ins = [_vi("X", F, x_shape), _vi("W", F, [d, g * h, i]), _vi("R", F, [d, g * h, h])]

    def optional(name, value, elem=F):
        if value is None:
            names.append("")
            return
        names.append(name)
        feeds[name] = value
        ins.append(_vi(name, elem, list(value.shape)))

    optional("B", _rand(d, 2 * g * h) if bias else None)
    optional("sequence_lens", RNG.integers(1, t + 1, b).astype(np.int32) if seq_lens
             else None, TensorProto.INT32)
    optional("initial_h", _rand(*state) if init else None)
    if op == "LSTM":
        optional("initial_c", _rand(*state) if init else None)
        optional("P", _rand(d, 3 * h) if peepholes else None)
    while names and names[-1] == "":
        names.pop()
    y_shape = [t, d, b, h] if layout == 0 else [b, t, d, h]
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=h, direction=direction,
                            layout=layout, **(extra or {}))
    model = _model([node], ins, [_vi("Y", F, y_shape)] + [_vi(o, F, state)
                                                          for o in outs[1:]], opset=22)
    return model, feeds


DIRECTIONS = ["forward", "reverse", "bidirectional"]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_all_directions(op, direction):
    _check(*_rnn_model(op, direction))


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_defaults_no_bias_no_initial_state(op):
    _check(*_rnn_model(op, "forward", bias=False, init=False))


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_sequence_lens(op, direction):
    _check(*_rnn_model(op, direction, seq_lens=True))


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_layout_1(op):
    """onnxruntime has no batch-major cells: onnx's reference evaluator checks these."""
    from onnx.reference import ReferenceEvaluator

    model, feeds = _rnn_model(op, "bidirectional", layout=1)
    got = compiler.compile(model)(**feeds)
    want = ReferenceEvaluator(model).run(None, feeds)
    for g_, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g_, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("extra", [{"clip": 0.7}, {"input_forget": 1}, {}])
def test_lstm_peepholes_clip_input_forget(extra):
    _check(*_rnn_model("LSTM", "bidirectional", peepholes=True, extra=extra))


def test_gru_linear_before_reset():
    _check(*_rnn_model("GRU", "bidirectional", extra={"linear_before_reset": 1}))


@pytest.mark.parametrize("op,acts", [
    ("RNN", ["Relu"]), ("RNN", ["Sigmoid", "Tanh"]), ("GRU", ["Tanh", "Relu"]),
    ("LSTM", ["Sigmoid", "Relu", "Tanh"])])
def test_recurrent_activations(op, acts):
    direction = "bidirectional" if len(acts) == 2 and op == "RNN" else "forward"
    _check(*_rnn_model(op, direction, extra={"activations": acts}), rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------- acceptance


def test_model_with_if_and_loop_and_several_inputs_and_outputs():
    """Loop accumulating relu(x @ w) then an If choosing a scaled or shifted result;
    three inputs, three outputs (one of them a scan output)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("MatMul", ["h_in", "w"], ["hw"]),
         helper.make_node("Relu", ["hw"], ["h_out"]),
         helper.make_node("Identity", ["h_out"], ["trace"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("h_in", F, [2, 4])],
        [_vi("c_out", B, []), _vi("h_out", F, [2, 4]), _vi("trace", F, [2, 4])])
    trips = helper.make_tensor("trips", I64, [], [3])
    then_g = helper.make_graph([helper.make_node("Mul", ["h", "h"], ["sq"])], "then", [],
                               [_vi("sq", F, [2, 4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["h"], ["ng"])], "else", [],
                               [_vi("ng", F, [2, 4])])
    nodes = [helper.make_node("Loop", ["trips", "", "x"], ["h", "trace"], body=body),
             helper.make_node("If", ["flag"], ["out"], then_branch=then_g,
                              else_branch=else_g)]
    model = _model(nodes, [_vi("x", F, [2, 4]), _vi("w", F, [4, 4]), _vi("flag", B, [])],
                   [_vi("out", F, [2, 4]), _vi("h", F, [2, 4]), _vi("trace", F, [3, 2, 4])],
                   initializers=[trips])
    for flag in (True, False):
        feeds = {"x": _rand(2, 4), "w": _rand(4, 4), "flag": np.array(flag)}
        for pipeline in (None, "O0"):
            _check(model, feeds, pipeline=pipeline)


def test_unsupported_op_inside_a_subgraph_is_reported():
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Erf", ["v_in"], ["v_out"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("v_in", F, [2])],
        [_vi("c_out", B, []), _vi("v_out", F, [2])])
    model = _model([helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)],
                   [_vi("M", I64, []), _vi("v0", F, [2])], [_vi("v", F, [2])])
    if "Erf" in SUPPORTED_OPS:
        pytest.skip("Erf is supported now")
    with pytest.raises(compiler.CompileError, match="Erf"):
        compiler.compile(model)


def test_lstm_runs_as_one_loop():
    """The whole sequence is one scf.for in native code: no per-step Python."""
    from compiler.driver import load_graph_module, run_pipeline

    model, _ = _rnn_model("LSTM", "bidirectional")
    module = load_graph_module(model)
    run_pipeline(module, "convert-graph-to-tensor", None)
    fors = [op for op in module.walk() if op.name == "scf.for"]
    assert len(fors) == 1
