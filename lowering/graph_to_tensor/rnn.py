"""convert-graph-to-tensor patterns: recurrent layers (graph.rnn)."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, math, scf, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    IndexType,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import Rewriter

from dialects import graph
from dialects.graph import DYN, shape_of
from dialects.scalar_body import ScalarBody
from lowering.graph_to_tensor.control import (
    cast_to,
    extract_slice,
    index_const,
    insert_before,
    scan_position,
)
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    Emit,
    Size,
    affine_map,
    di,
    elt_type,
    fail,
    identity_map,
)
from lowering.graph_to_tensor.linalg import contraction

# --------------------------------------------------------------------------- recurrent cells


def _rnn_activation(b: ScalarBody, name: str, alpha: float, beta: float, x: SSAValue) -> SSAValue:
    """One ONNX recurrent-cell activation on a float scalar."""
    t = x.type
    zero = b.const(0.0, t)
    match name:
        case "sigmoid" | "tanh" | "relu":
            return b.unary(name, x)
        case "affine":
            return b.binary("add", b.binary("mul", b.const(alpha, t), x), b.const(beta, t))
        case "leaky_relu":
            neg = b.add(arith.CmpfOp(x, zero, "olt"))
            return b.select(neg, b.binary("mul", b.const(alpha, t), x), x)
        case "thresholded_relu":
            keep = b.add(arith.CmpfOp(x, b.const(alpha, t), "ogt"))
            return b.select(keep, x, zero)
        case "scaled_tanh":
            inner = b.add(math.TanhOp(b.binary("mul", b.const(beta, t), x)))
            return b.binary("mul", b.const(alpha, t), inner)
        case "hard_sigmoid":
            y = b.binary("add", b.binary("mul", b.const(alpha, t), x), b.const(beta, t))
            y = b.add(arith.MinimumfOp(y, b.const(1.0, t)))
            return b.add(arith.MaximumfOp(y, zero))
        case "elu":
            neg = b.add(arith.CmpfOp(x, zero, "olt"))
            em1 = b.binary("sub", b.add(math.ExpOp(x)), b.const(1.0, t))
            return b.select(neg, b.binary("mul", b.const(alpha, t), em1), x)
        case "softsign":
            denom = b.binary("add", b.const(1.0, t), b.add(math.AbsFOp(x)))
            return b.binary("div", x, denom)
        case "softplus":
            return b.add(math.LogOp(b.binary("add", b.const(1.0, t), b.add(math.ExpOp(x)))))
    raise ValueError(f"unknown activation {name}")


class RNNPattern(RewritePattern):
    """graph.rnn -> X @ W^T for all steps (one generic), then one scf.for over time:
    H @ R^T (one generic for all directions), one cell generic for all directions
    computing the new states and the step's output slab, written into Y per direction."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.RNNOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        kind, hidden = op.kind.data, op.hidden_size.value.data
        n_dir, n_gates = op.num_directions, op.num_gates
        gh = n_gates * hidden
        elt = elt_type(op.x)
        if not isinstance(elt, AnyFloat):
            raise fail(op, "only floating-point recurrent cells are supported")
        t_size, b_size, i_size = emit.sizes(op.x)
        trip = emit.value(t_size)
        # XW[t, d, b, g] = sum_i X[t, b, i] * W[d, g, i]
        xw = contraction(
            emit, op.x, op.w, affine_map(5, [di(0), di(2), di(4)]),
            affine_map(5, [di(1), di(3), di(4)]),
            emit.fill(0.0, [t_size, n_dir, b_size, gh], elt), 4)
        state_sizes: list[Size] = [n_dir, b_size, hidden]
        h0 = op.initial_h if op.initial_h is not None else emit.fill(0.0, state_sizes, elt)
        states = [h0]
        if kind == "lstm":
            c0 = op.initial_c if op.initial_c is not None else emit.fill(0.0, state_sizes,
                                                                        elt)
            states.append(c0)
        y0 = emit.empty([t_size, n_dir, b_size, hidden], elt)
        inits = [cast_to(v, tensor_type_of(state_sizes, elt), op) for v in states] + [y0]

        block = Block(arg_types=[IndexType(), *[v.type for v in inits]])
        loop = scf.ForOp(emit.index(0), trip, emit.index(1), inits, block)
        emit(loop)
        placeholder = scf.YieldOp()
        block.add_op(placeholder)
        inner = Emit(rewriter, placeholder)
        step = block.args[0]
        h_prev = block.args[1]
        c_prev = block.args[2] if kind == "lstm" else None
        y_prev = block.args[-1]
        cell = _RNNCell(op, inner, xw, step, trip, elt)
        new_states, slab = cell.build(h_prev, c_prev)
        y = y_prev
        for d in range(n_dir):
            at = scan_position(step, trip, cell.reverse(d), placeholder)
            part = extract_slice(inner, slab, 0, index_const(d, placeholder),
                                  tensor_type_of([b_size, hidden], elt), placeholder)
            y = _insert_slab(part, y, at, d, placeholder)
        Rewriter.replace_op(placeholder, scf.YieldOp(*new_states, y))
        outs = [loop.results[-1], *loop.results[:-1]]
        rewriter.replace(op, [], [cast_to(v, t, op) for v, t in
                                     zip(outs, op.outputs.types, strict=True)])


def tensor_type_of(sizes: Sequence[Size], element_type: Attribute) -> TensorType:
    return TensorType(element_type, [s if isinstance(s, int) else DYN for s in sizes])


def _insert_slab(part: SSAValue, y: SSAValue, at: SSAValue, direction: int,
                 before: Operation) -> SSAValue:
    """Y[at, direction, :, :] = part (a [B, H] tensor)."""
    shape = shape_of(y)
    sizes: list[int | SSAValue] = [1, 1]
    for d in (2, 3):
        sizes.append(shape[d] if shape[d] != DYN else insert_before(
            tensor.DimOp(y, index_const(d, before)), before))
    op = tensor.InsertSliceOp.get(
        part, y, [DYN if isinstance(s, SSAValue) else s for s in sizes],
        [DYN, direction, 0, 0], [1, 1, 1, 1], offsets=[at],
        sizes=[s for s in sizes if isinstance(s, SSAValue)])
    return insert_before(op, before)


class _RNNCell:
    """The per-step computations of a graph.rnn, emitted into the time loop's body."""

    def __init__(self, op: graph.RNNOp, emit: Emit, xw: SSAValue, step: SSAValue,
                 trip: SSAValue, elt: Attribute):
        self.op, self.emit, self.xw, self.step, self.trip, self.elt = op, emit, xw, step, \
            trip, elt
        self.kind = op.kind.data
        self.hidden = op.hidden_size.value.data
        self.n_dir = op.num_directions
        self.acts = [a.data for a in op.activations.data]
        self.alpha = [float(v) for v in op.activation_alpha.get_values()]
        self.beta = [float(v) for v in op.activation_beta.get_values()]
        self.per_dir = len(self.acts) // self.n_dir
        self.clip = op.clip.value.data if op.clip is not None else None

    def reverse(self, d: int) -> bool:
        direction = self.op.direction.data
        return direction == "reverse" or (direction == "bidirectional" and d == 1)

    def matmul_r(self, h: SSAValue) -> SSAValue:
        """[D, B, G*H]: h[d, b, :] @ R[d, :, :]^T."""
        sizes = [self.n_dir, self.emit.size(h, 1), self.op.num_gates * self.hidden]
        init = self.emit.fill(0.0, sizes, self.elt)
        return contraction(self.emit, h, self.op.r, affine_map(4, [di(0), di(1), di(3)]),
                            affine_map(4, [di(0), di(2), di(3)]), init, 3)

    def build(self, h: SSAValue, c: SSAValue | None) -> tuple[list[SSAValue], SSAValue]:
        op = self.op
        lbr = bool(op.linear_before_reset.value.data)
        hr = self.matmul_r(h)
        hr_h = None
        if self.kind == "gru" and not lbr:
            r_gate = self.generic(h, c, hr, None, "gru_r")[0]
            rh = self.emit.generic(
                [r_gate, h], [self.emit.empty(self.emit.sizes(h), self.elt)],
                [identity_map(3)] * 3, [PARALLEL] * 3,
                lambda b: [b.binary("mul", b.args[0], b.args[1])])[0]
            hr_h = self.matmul_r(rh)
        results = self.generic(h, c, hr, hr_h, "cell")
        n_states = 2 if self.kind == "lstm" else 1
        return results[:n_states], results[n_states]

    def generic(self, h: SSAValue, c: SSAValue | None, hr: SSAValue, hr_h: SSAValue | None,
                what: str) -> list[SSAValue]:
        """A [D, B, H] generic; `cell` yields new states and the output slab, `gru_r`
        the GRU reset gate."""
        op, hidden, n_gates = self.op, self.hidden, self.op.num_gates
        emit, elt = self.emit, self.elt
        ident = identity_map(3)
        ins: list[SSAValue] = [h]
        maps = [ident]
        names = ["h"]

        def add(value: SSAValue, amap: AffineMapAttr, name: str) -> None:
            ins.append(value)
            maps.append(amap)
            names.append(name)

        if c is not None:
            add(c, ident, "c")
        sizes = emit.sizes(h)
        n_out = 1 if what == "gru_r" else (3 if self.kind == "lstm" else 2)
        outs = [emit.empty(sizes, elt) for _ in range(n_out)]
        step, trip = self.step, self.trip
        xw, seq = self.xw, op.sequence_lens
        n_in = len(ins)

        def body(b: ScalarBody) -> list[SSAValue]:
            v = dict(zip(names, b.args[:n_in], strict=True))
            d, bi, hi = b.linalg_index(0), b.linalg_index(1), b.linalg_index(2)

            def at(source: SSAValue, offset: int, batch: bool = True) -> SSAValue:
                col = hi if offset == 0 else b.add(arith.AddiOp(hi, b.index(offset)))
                return b.add(tensor.ExtractOp(source, [d, bi, col] if batch else [d, col],
                                              elt))

            for gate in range(n_gates):
                v[f"hr{gate}"] = at(hr, gate * hidden)
                if op.bias is not None:
                    v[f"wb{gate}"] = at(op.bias, gate * hidden, False)
                    v[f"rb{gate}"] = at(op.bias, (n_gates + gate) * hidden, False)
            if hr_h is not None:
                v["hr_h"] = at(hr_h, 2 * hidden)
            if op.peepholes is not None:
                for k in range(3):
                    v[f"p{k}"] = at(op.peepholes, k * hidden, False)
            t = step
            if any(self.reverse(k) for k in range(self.n_dir)):
                back = b.add(arith.SubiOp(b.add(arith.SubiOp(trip, b.index(1))), step))
                if all(self.reverse(k) for k in range(self.n_dir)):
                    t = back
                else:
                    t = b.select(b.cmp("eq", d, b.index(1)), back, step)

            def gate_in(gate: int) -> SSAValue:
                col = b.add(arith.AddiOp(hi, b.index(gate * hidden)))
                x = b.add(tensor.ExtractOp(xw, [t, d, bi, col], elt))
                if gate != 2 or self.kind != "gru":
                    x = b.binary("add", x, v[f"hr{gate}"])
                if op.bias is not None:
                    x = b.binary("add", x, v[f"wb{gate}"])
                    if not (self.kind == "gru" and gate == 2 and lbr):
                        x = b.binary("add", x, v[f"rb{gate}"])
                return x

            def act(j: int, x: SSAValue, clip: bool = True) -> SSAValue:
                if self.clip is not None and clip:  # gate inputs only, as onnxruntime
                    x = b.add(arith.MinimumfOp(x, b.const(self.clip, elt)))
                    x = b.add(arith.MaximumfOp(x, b.const(-self.clip, elt)))
                ys = [_rnn_activation(b, self.acts[k * self.per_dir + j],
                                      self.alpha[k * self.per_dir + j],
                                      self.beta[k * self.per_dir + j], x)
                      for k in range(self.n_dir)]
                if self.n_dir == 2 and self.acts[j] != self.acts[self.per_dir + j]:
                    return b.select(b.cmp("eq", d, b.index(1)), ys[1], ys[0])
                return ys[0]

            lbr = bool(op.linear_before_reset.value.data)
            one = b.const(1.0, elt)
            h_old = v["h"]
            if what == "gru_r":
                return [act(0, gate_in(1))]
            c_new = None
            if self.kind == "rnn":
                h_new = act(0, gate_in(0))
            elif self.kind == "gru":
                z = act(0, gate_in(0))
                r = act(0, gate_in(1))
                if lbr:
                    hh = v["hr2"]
                    if op.bias is not None:
                        hh = b.binary("add", hh, v["rb2"])
                    pre = b.binary("add", gate_in(2), b.binary("mul", r, hh))
                else:
                    pre = b.binary("add", gate_in(2), v["hr_h"])
                cand = act(1, pre)
                h_new = b.binary("add", b.binary("mul", b.binary("sub", one, z), cand),
                                 b.binary("mul", z, h_old))
            else:
                c_old = v["c"]

                def peep(x: SSAValue, k: int, cell: SSAValue) -> SSAValue:
                    if op.peepholes is None:
                        return x
                    return b.binary("add", x, b.binary("mul", v[f"p{k}"], cell))

                i = act(0, peep(gate_in(0), 0, c_old))
                if op.input_forget.value.data:
                    f = b.binary("sub", one, i)
                else:
                    f = act(0, peep(gate_in(2), 2, c_old))
                cand = act(1, gate_in(3))
                c_new = b.binary("add", b.binary("mul", f, c_old), b.binary("mul", i, cand))
                o = act(0, peep(gate_in(1), 1, c_new))
                h_new = b.binary("mul", o, act(2, c_new, clip=False))
            y = h_new
            if seq is not None:
                length = b.add(tensor.ExtractOp(seq, [bi], elt_type(seq)))
                t_int = b.add(arith.IndexCastOp(t, length.type))
                active = b.cmp("slt", t_int, length)
                h_new = b.select(active, h_new, h_old)
                if c_new is not None:
                    c_new = b.select(active, c_new, v["c"])
                y = b.select(active, y, b.const(0.0, elt))
            return [h_new, *([c_new] if c_new is not None else []), y]

        return emit.generic(ins, outs, [*maps, *[ident] * n_out], [PARALLEL] * 3, body)
