"""convert-graph-to-tensor patterns: convolutions and pools."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.dialects import arith, math, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    IntegerType,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.ir.affine import AffineExpr
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import graph
from dialects.graph import DYN, ints, shape_of
from dialects.scalar_body import ScalarBody
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    REDUCTION,
    Emit,
    Size,
    act_epilogue,
    act_params,
    affine_map,
    di,
    elt_type,
    fail,
    identity_map,
    lowest,
)
from lowering.graph_to_tensor.linalg import init_from
from lowering.graph_to_tensor.reduce import identity_of, is_better


def _window_out_size(emit: Emit, size: Size, kernel: int, stride: int, pad_total: int,
                     dilation: int, ceil_mode: bool, static: int) -> Size:
    if static != DYN:
        return static
    # floor((size + pads - dil*(k-1) - 1) / stride) + 1 (ceil_mode: dynamic unsupported)
    span = emit.sub(emit.add(size, pad_total), dilation * (kernel - 1) + 1)
    if ceil_mode:
        span = emit.add(span, stride - 1)
    return emit.add(emit.div(span, stride), 1)


def _pad_input(emit: Emit, x: SSAValue, sizes: Sequence[Size], begin: Sequence[int],
               needed: Sequence[Size], pad_value: float,
               dim_pos: Callable[[int], int] = lambda d: d) -> SSAValue:
    """A copy of NC[spatial] `x` with `begin` leading pad and spatial extents `needed`.

    `sizes` are in NC[spatial] order; `dim_pos` maps such a dim to its position in `x`
    (channels-last tensors: the copy keeps x's layout)."""
    rank = len(sizes)
    spatial = rank - 2
    elt = elt_type(x)
    out_sizes_nc = [*sizes[:2], *needed]
    out_sizes: list[Size] = [0] * rank
    for d in range(rank):
        out_sizes[dim_pos(d)] = out_sizes_nc[d]
    dest = emit.empty(out_sizes, elt)
    dyn_sizes = [s for s in sizes]

    def body(b: ScalarBody) -> list[SSAValue]:
        idx_x = [b.linalg_index(i) for i in range(rank)]
        idx = [idx_x[dim_pos(d)] for d in range(rank)]
        valid: SSAValue | None = None
        read = list(idx[:2])
        for s in range(spatial):
            hi = dyn_sizes[2 + s]
            hi_v = b.index(hi) if isinstance(hi, int) else hi
            pos = b.add(arith.SubiOp(idx[2 + s], b.index(begin[s])))
            ok = b.in_range(pos, b.index(0), hi_v)
            valid = ok if valid is None else b.and_(valid, ok)
            read.append(b.clamp(pos, hi_v))
        read_x: list[SSAValue] = list(read)
        for d in range(rank):
            read_x[dim_pos(d)] = read[d]
        v = b.add(tensor.ExtractOp(x, read_x, elt))
        assert valid is not None
        return [b.select(valid, v, b.const(pad_value, elt))]

    return emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)[0]


class ConvPattern(RewritePattern):
    """N-d grouped conv: padded copy (if pads), bias-seeded reduction, fused epilogue."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConvOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x_shape, w_shape = shape_of(op.input), shape_of(op.weight)
        out_shape = shape_of(op.result)
        nhwc = op.is_nhwc
        # index helpers: dims of the input/result in NCHW order -> their position
        rank = len(x_shape)
        pos = (lambda d: 0 if d == 0 else (rank - 1 if d == 1 else d - 1)) if nhwc \
            else (lambda d: d)
        if nhwc:
            x_shape, out_shape = (graph.to_channels_first(x_shape),
                                  graph.to_channels_first(out_shape))
        spatial = len(x_shape) - 2
        strides, dil, pads = ints(op.strides), ints(op.dilations), ints(op.pads)
        group = op.group.value.data
        f_total, c_per_group = w_shape[0], w_shape[1]
        if f_total == DYN or f_total % group:
            raise fail(op, "output channels must be static and divisible by group")
        f_per_group = f_total // group
        elt = elt_type(op.result)

        x_sizes = emit.sizes(op.input)
        if nhwc:
            x_sizes = [x_sizes[pos(d)] for d in range(rank)]
        out_sizes: list[Size] = [x_sizes[0], f_total]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], w_shape[2 + i], strides[i],
                pads[i] + pads[spatial + i], dil[i], False, out_shape[2 + i]))

        x = op.input
        if any(pads):
            # exactly the extent the windows reach: (out-1)*stride + dil*(k-1) + 1
            needed = [emit.add(emit.mul(emit.sub(out_sizes[2 + i], 1), strides[i]),
                               dil[i] * (w_shape[2 + i] - 1) + 1) for i in range(spatial)]
            x = _pad_input(emit, x, x_sizes, pads[:spatial], needed, 0.0, pos)

        # loops: n, f, o_1..o_s | c, k_1..k_s
        n_par = 2 + spatial
        n_loops = n_par + 1 + spatial
        c = di(n_par)
        f = di(1)
        chan = c if group == 1 else (f // f_per_group) * c_per_group + c
        depthwise = op.kind is not None and op.kind.data == "depthwise"
        if depthwise:  # optimizer: no channel reduction loop (c_per_group == 1)
            n_loops -= 1
            c = AffineExpr.constant(0)
            chan = f // f_per_group
        k0 = n_par + (0 if depthwise else 1)
        x_exprs = [di(0), chan, *[
            di(2 + i) * strides[i] + di(k0 + i) * dil[i] for i in range(spatial)]]
        out_exprs = [di(i) for i in range(n_par)]
        if nhwc:  # loops stay (n, f, spatial | c, kernel); only the maps permute
            x_exprs = graph.to_channels_last(x_exprs)
            out_exprs = graph.to_channels_last(out_exprs)
            out_sizes = list(graph.to_channels_last(out_sizes))
        x_map = affine_map(n_loops, x_exprs)
        w_map = affine_map(n_loops, [f, c, *[di(k0 + i) for i in range(spatial)]])
        out_map = affine_map(n_loops, out_exprs)
        bias_map = affine_map(n_par, [di(pos(1))]) if op.bias is not None else None
        init = init_from(emit, out_sizes, elt, op.bias, 1.0, bias_map)

        def body(b: ScalarBody) -> list[SSAValue]:
            xv, wv, acc = b.args
            return [b.binary("add", acc, b.binary("mul", xv, wv))]

        res = emit.generic([x, op.weight], [init], [x_map, w_map, out_map],
                           [PARALLEL] * n_par + [REDUCTION] * (n_loops - n_par), body)[0]
        rewriter.replace(op, [], [act_epilogue(emit, res, op.act, op.residual,
                                                act_params(op))])


@dataclass
class _PoolWindow:
    """The window geometry of a pooling op over the spatial dims of an NCHW input: the
    output sizes, a kernel-shaped `window` operand that gives the reduction loops their
    range, and the clamped reads of each window tap."""

    x: SSAValue
    spatial: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    x_sizes: list[Size]
    out_sizes: list[Size]
    window: SSAValue

    @staticmethod
    def build(emit: Emit, op: graph.PoolOp | graph.LpPoolOp, elt: Attribute) -> _PoolWindow:
        x = op.input
        out_shape = shape_of(op.result)
        spatial = len(shape_of(x)) - 2
        kernel, strides = ints(op.kernel_shape), ints(op.strides)
        pads, dil = ints(op.pads), ints(op.dilations)
        ceil_mode = bool(op.ceil_mode.value.data)
        if ceil_mode and any(s == DYN for s in out_shape[2:]):
            raise fail(op, "ceil_mode with dynamic spatial dims is not supported")
        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = x_sizes[:2]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], kernel[i], strides[i], pads[i] + pads[spatial + i],
                dil[i], ceil_mode, out_shape[2 + i]))
        return _PoolWindow(x, spatial, kernel, strides, pads, dil, x_sizes, out_sizes,
                           emit.empty(list(kernel), elt))

    @property
    def n_par(self) -> int:
        return 2 + self.spatial

    def maps(self) -> tuple[AffineMapAttr, AffineMapAttr]:
        """(window map, output map) over the parallel dims then the window dims."""
        n_par, n_loops = self.n_par, self.n_par + self.spatial
        return (affine_map(n_loops, [di(n_par + i) for i in range(self.spatial)]),
                affine_map(n_loops, [di(i) for i in range(n_par)]))

    def tap(self, b: ScalarBody) -> tuple[list[SSAValue], SSAValue, list[SSAValue],
                                     list[SSAValue]]:
        """Inside the body: the clamped read indices of this tap, whether it lies inside
        the input, and per spatial dim its (unpadded) position and the input extent."""
        read = [b.linalg_index(0), b.linalg_index(1)]
        valid: SSAValue | None = None
        positions, highs = [], []
        for i in range(self.spatial):
            o, k = b.linalg_index(2 + i), b.linalg_index(self.n_par + i)
            pos = _affine(b, o, self.strides[i], k, self.dilations[i])
            if self.pads[i]:
                pos = b.add(arith.SubiOp(pos, b.index(self.pads[i])))
            hi = self.x_sizes[2 + i]
            hi_v = b.index(hi) if isinstance(hi, int) else hi
            ok = b.in_range(pos, b.index(0), hi_v)
            valid = ok if valid is None else b.and_(valid, ok)
            read.append(b.clamp(pos, hi_v))
            positions.append(pos)
            highs.append(hi_v)
        assert valid is not None
        return read, valid, positions, highs


class PoolPattern(RewritePattern):
    """max/avg pooling: a reduction over a window operand, inputs read with clamped
    `tensor.extract`; padding is masked out (never wins a max, counted only for
    count_include_pad)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.MaxPoolOp | graph.AvgPoolOp):
            return
        is_max = isinstance(op, graph.MaxPoolOp)
        emit = Emit(rewriter, op)
        include_pad = (not is_max) and bool(op.count_include_pad.value.data)
        elt = elt_type(op.result)
        if not isinstance(elt, AnyFloat) and not is_max:
            raise fail(op, "only floating-point average pooling is supported")
        win = _PoolWindow.build(emit, op, elt)
        spatial, n_par, pads = win.spatial, win.n_par, win.pads
        win_map, out_map = win.maps()
        iters = [PARALLEL] * n_par + [REDUCTION] * spatial
        acc = emit.fill(lowest(elt) if is_max else 0.0, win.out_sizes, elt)
        outs = [acc]
        if not is_max:
            outs.append(emit.fill(0.0, win.out_sizes, elt))

        def body(b: ScalarBody) -> list[SSAValue]:
            read, valid, positions, highs = win.tap(b)
            v = b.add(tensor.ExtractOp(win.x, read, elt))
            if is_max:
                v = b.select(valid, v, b.const(lowest(elt), elt))
                return [b.binary("max", b.args[1], v)]
            counted = valid
            if include_pad:
                counted = None
                for i, (pos, hi_v) in enumerate(zip(positions, highs, strict=True)):
                    hi_p = b.add(arith.AddiOp(hi_v, b.index(pads[spatial + i])))
                    cnt = b.in_range(pos, b.index(-pads[i]), hi_p)
                    counted = cnt if counted is None else b.and_(counted, cnt)
                assert counted is not None
            v = b.select(valid, v, b.const(0.0, elt))
            one = b.select(counted, b.const(1.0, elt), b.const(0.0, elt))
            return [b.binary("add", b.args[1], v), b.binary("add", b.args[2], one)]

        res = emit.generic([win.window], outs, [win_map] + [out_map] * len(outs), iters,
                           body)
        if not is_max:
            dest = emit.empty(win.out_sizes, elt)
            res = emit.generic(res, [dest], [identity_map(n_par)] * 3, [PARALLEL] * n_par,
                               lambda b: [b.binary("div", b.args[0], b.args[1])])
        rewriter.replace(op, [], [res[0]])


def _affine(b: ScalarBody, o: SSAValue, stride: int, k: SSAValue, dil: int) -> SSAValue:
    """o * stride + k * dil on index values."""
    os = o if stride == 1 else b.add(arith.MuliOp(o, b.index(stride)))
    kd = k if dil == 1 else b.add(arith.MuliOp(k, b.index(dil)))
    return b.add(arith.AddiOp(os, kd))


class GlobalAvgPoolPattern(RewritePattern):
    """Sum over the spatial dims (reduction generic), then divide by their product."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.GlobalAvgPoolOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        rank = len(shape_of(x))
        elt = elt_type(x)
        x_sizes = emit.sizes(x)
        out_sizes = [*x_sizes[:2], *[1] * (rank - 2)]
        acc = emit.fill(0.0, out_sizes, elt)
        out_map = affine_map(rank, [di(0), di(1), *[AffineExpr.constant(0)] * (rank - 2)])
        total = emit.generic([x], [acc], [identity_map(rank), out_map],
                             [PARALLEL] * 2 + [REDUCTION] * (rank - 2),
                             lambda b: [b.binary("add", b.args[1], b.args[0])])[0]
        count: Size = 1
        for s in x_sizes[2:]:
            count = emit.mul(count, s)
        if isinstance(count, int):
            denom = emit.scalar(float(count), elt)
        else:
            as_int = emit(arith.IndexCastOp(count, IntegerType(64)))
            denom = emit(arith.SIToFPOp(as_int, elt))
        dest = emit.empty(out_sizes, elt)
        res = emit.generic([total], [dest], [identity_map(rank)] * 2, [PARALLEL] * rank,
                           lambda b: [b.binary("div", b.args[0], denom)])
        rewriter.replace(op, [], res)


class LpPoolPattern(RewritePattern):
    """(sum |x|^p over each window)^(1/p); padding and out-of-range taps contribute 0."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LpPoolOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        p = op.p.value.data
        elt = elt_type(op.result)
        if not isinstance(elt, AnyFloat):
            raise fail(op, "only floating-point pooling is supported")
        win = _PoolWindow.build(emit, op, elt)
        n_par = win.n_par

        def body(b: ScalarBody) -> list[SSAValue]:
            read, valid, _, _ = win.tap(b)
            v = b.add(math.AbsFOp(b.add(tensor.ExtractOp(win.x, read, elt))))
            if p == 2:
                v = b.binary("mul", v, v)
            elif p != 1:
                v = b.add(math.PowFOp(v, b.const(float(p), elt)))
            v = b.select(valid, v, b.const(0.0, elt))
            return [b.binary("add", b.args[1], v)]

        acc = emit.fill(0.0, win.out_sizes, elt)
        total = emit.generic([win.window], [acc], list(win.maps()),
                             [PARALLEL] * n_par + [REDUCTION] * win.spatial, body)
        if p != 1:
            def root(b: ScalarBody) -> list[SSAValue]:
                if p == 2:
                    return [b.add(math.SqrtOp(b.args[0]))]
                return [b.add(math.PowFOp(b.args[0], b.const(1.0 / p, elt)))]

            total = emit.generic(total, [emit.empty(win.out_sizes, elt)],
                                 [identity_map(n_par)] * 2, [PARALLEL] * n_par, root)
        rewriter.replace(op, [], total)


class ConvTransposePattern(RewritePattern):
    """Transposed conv as a gather over the output: out[n, f, o] += x[n, c, i] * w[c, f, k]
    where i = (o + pad - k * dilation) / stride is integral and in range (masked)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConvTransposeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x, w = op.input, op.weight
        x_shape, w_shape = shape_of(x), shape_of(w)
        spatial = len(x_shape) - 2
        strides, dil, pads = ints(op.strides), ints(op.dilations), ints(op.pads)
        out_pad = ints(op.output_padding)
        group = op.group.value.data
        c_total, f_per_group = w_shape[0], w_shape[1]
        if c_total == DYN or f_per_group == DYN or c_total % group:
            raise fail(op, "weight channels must be static and divisible by group")
        c_per_group = c_total // group
        elt = elt_type(op.result)
        out_shape = shape_of(op.result)
        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = [x_sizes[0], f_per_group * group]
        for i in range(spatial):
            if out_shape[2 + i] != DYN:
                out_sizes.append(out_shape[2 + i])
                continue
            extent = (w_shape[2 + i] - 1) * dil[i] + 1 + out_pad[i] - pads[i] - pads[
                spatial + i]
            out_sizes.append(emit.add(emit.mul(emit.sub(x_sizes[2 + i], 1), strides[i]),
                                      extent))
        # loops: n, f, o_1..o_s | c, k_1..k_s
        n_par = 2 + spatial
        n_loops = n_par + 1 + spatial
        f, c = di(1), di(n_par)
        chan = c if group == 1 else (f // f_per_group) * c_per_group + c
        f_local = f if group == 1 else (
            AffineExpr.constant(0) if f_per_group == 1 else f % f_per_group)
        w_map = affine_map(n_loops, [chan, f_local, *[di(n_par + 1 + i) for i in range(spatial)]])
        out_map = affine_map(n_loops, [di(i) for i in range(n_par)])
        bias_map = affine_map(n_par, [di(1)]) if op.bias is not None else None
        init = init_from(emit, out_sizes, elt, op.bias, 1.0, bias_map)

        ins, maps = [w], [w_map]
        if group > 1:
            # grouped weight reads are not plain dims: a window operand gives c, k ranges
            ins.append(emit.empty([c_per_group, *w_shape[2:]], elt))
            maps.append(affine_map(n_loops, [di(n_par + i) for i in range(1 + spatial)]))

        def body(b: ScalarBody) -> list[SSAValue]:
            wv, acc = b.args[0], b.args[-1]
            ch = b.linalg_index(n_par)
            if group > 1:
                g_idx = b.add(arith.DivSIOp(b.linalg_index(1), b.index(f_per_group)))
                ch = b.add(arith.AddiOp(b.add(arith.MuliOp(g_idx, b.index(c_per_group))), ch))
            read = [b.linalg_index(0), ch]
            valid: SSAValue | None = None
            for i in range(spatial):
                o, k = b.linalg_index(2 + i), b.linalg_index(n_par + 1 + i)
                num = b.add(arith.AddiOp(o, b.index(pads[i]))) if pads[i] else o
                kd = k if dil[i] == 1 else b.add(arith.MuliOp(k, b.index(dil[i])))
                num = b.add(arith.SubiOp(num, kd))
                hi = x_sizes[2 + i]
                hi_v = b.index(hi) if isinstance(hi, int) else hi
                if strides[i] == 1:
                    pos, ok = num, b.in_range(num, b.index(0), hi_v)
                else:
                    s = b.index(strides[i])
                    pos = b.add(arith.DivSIOp(num, s))
                    exact = b.cmp("eq", b.add(arith.RemSIOp(num, s)), b.index(0))
                    nonneg = b.cmp("sge", num, b.index(0))
                    ok = b.and_(b.and_(exact, nonneg), b.cmp("slt", pos, hi_v))
                valid = ok if valid is None else b.and_(valid, ok)
                read.append(b.clamp(pos, hi_v))
            assert valid is not None
            xv = b.add(tensor.ExtractOp(x, read, elt))
            term = b.select(valid, b.binary("mul", xv, wv), b.const(0, elt))
            return [b.binary("add", acc, term)]

        res = emit.generic(ins, [init], [*maps, out_map],
                           [PARALLEL] * n_par + [REDUCTION] * (1 + spatial), body)
        rewriter.replace(op, [], res)


class MaxPoolIndicesPattern(RewritePattern):
    """The flat input index of each window's first maximum: (value, index) accumulated in
    one reduction generic over a window operand, like max pooling."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.MaxPoolIndicesOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        x_shape, out_shape = shape_of(x), shape_of(op.result)
        spatial = len(x_shape) - 2
        kernel, strides = ints(op.kernel_shape), ints(op.strides)
        pads, dil = ints(op.pads), ints(op.dilations)
        ceil_mode = bool(op.ceil_mode.value.data)
        column_major = bool(op.storage_order.value.data)
        elt = elt_type(x)
        i64t = IntegerType(64)
        if ceil_mode and any(s == DYN for s in out_shape[2:]):
            raise fail(op, "ceil_mode with dynamic spatial dims is not supported")
        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = x_sizes[:2]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], kernel[i], strides[i], pads[i] + pads[spatial + i],
                dil[i], ceil_mode, out_shape[2 + i]))
        hi = [emit.value(s) for s in x_sizes]
        n_par = 2 + spatial
        n_loops = n_par + spatial

        def body(b: ScalarBody) -> list[SSAValue]:
            read = [b.linalg_index(0), b.linalg_index(1)]
            valid: SSAValue | None = None
            for i in range(spatial):
                o, k = b.linalg_index(2 + i), b.linalg_index(n_par + i)
                pos = _affine(b, o, strides[i], k, dil[i])
                if pads[i]:
                    pos = b.add(arith.SubiOp(pos, b.index(pads[i])))
                ok = b.in_range(pos, b.index(0), hi[2 + i])
                valid = ok if valid is None else b.and_(valid, ok)
                read.append(b.clamp(pos, hi[2 + i]))
            assert valid is not None
            # flat index: (n * C + c) * prod(spatial) + spatial offset (row/column-major)
            flat = b.add(arith.AddiOp(b.add(arith.MuliOp(read[0], hi[1])), read[1]))
            order = list(range(spatial))
            if column_major:
                order.reverse()
            offset: SSAValue | None = None
            for i in order:
                offset = read[2 + i] if offset is None else b.add(arith.AddiOp(
                    b.add(arith.MuliOp(offset, hi[2 + i])), read[2 + i]))
            for i in range(spatial):
                flat = b.add(arith.MuliOp(flat, hi[2 + i]))
            assert offset is not None
            flat = b.add(arith.IndexCastOp(b.add(arith.AddiOp(flat, offset)), i64t))
            v = b.add(tensor.ExtractOp(x, read, elt))
            best, best_i = b.args[1], b.args[2]
            first = b.cmp("eq", best_i, b.const(-1, i64t))
            take = b.and_(valid, b.add(arith.OrIOp(first, is_better(b, "max", False, v, best))))
            return [b.select(take, v, best), b.select(take, flat, best_i)]

        window = emit.empty(list(kernel), elt)
        outs = [emit.fill(identity_of("max", elt), out_sizes, elt),
                emit.fill(-1, out_sizes, i64t)]
        res = emit.generic([window], outs, [
            affine_map(n_loops, [di(n_par + i) for i in range(spatial)]),
            *[affine_map(n_loops, [di(i) for i in range(n_par)])] * 2],
            [PARALLEL] * n_par + [REDUCTION] * spatial, body)
        rewriter.replace(op, [], [res[1]])
