"""The Adam / RMSProp input filter as one elementwise Triton scan, forward and backward.

    v_t = mu v_{t-1} + s g_t,  r_t = beta r_{t-1} + (1 - beta) g_t^2,  a_t = v_t / sqrt(r_t + eps)

Every (batch row, feature) pair is an independent scalar recurrence, so each program owns
BLOCK of them and runs all T steps in registers: g is read once and a, v, r written once,
where the chunked torch scans (`filters`) make about fifteen passes over the (B, T, 4H)
stream (measured: 5.6 ms of adam-lstm's 11.3 at H = 128 on an H200). The backward runs in
reverse time with the same layout. mu, s, beta are config constants (no gradient).

Layout: the ops take g as (T, B, F), time-major, the layout of torch's fused RNN operators
with batch_first=False, so `auto` feeds a to cuDNN and takes its gradient back without a
transpose copy of the wide stream (an H200 profile of adam-lstm at H = 128 showed ~0.7-0.8
ms of a 7.9 ms training iteration in such copies while the stream was (B, T, F)). The
kernels address element (t, b, f) as t * st + b * sb + f, so a batch-major g seen through
`.transpose(0, 1)` (the other fused kernels' (B, T, F) streams, `hoist.hoisted`) runs in
place too; every tensor of one call shares g's strides (a gradient in another layout is
copied into them).

Unroll: one load per step leaves the scan waiting on memory latency (the same profile:
adam_fwd 0.51 ms and adam_bwd 0.88 ms against ~0.2 and 0.25 ms for their bytes at HBM
bandwidth), so the kernels load UNROLL steps before computing them; steps past T are
masked. The arithmetic per step is unchanged (tl.div_rn, tl.sqrt_rn, the same order).
"""

from __future__ import annotations

import torch

from cells.fast._triton import tl, triton
from cells.fast.ops import custom_op

BLOCK = 256
UNROLL = 4  # time steps whose loads are issued together


if triton is not None:

    @triton.jit
    def _live(i, T, N):
        """Elements e below this are live at loop step i: all N, or none once i >= T (a bound
        for e, because the interpreter turns `(e < N) & (i < T)` into ints, not a mask)."""
        return tl.where(i < T, N, 0)

    @triton.jit
    def _forward_step(A, V, R, o, mk, v, r, g, mu, s, beta, eps):
        """One step of the filter from g: v, r updated and, with a, stored at o where mk."""
        v = mu * v + s * g
        r = beta * r + (1.0 - beta) * g * g
        tl.store(A + o, tl.div_rn(v, tl.sqrt_rn(r + eps)), mask=mk)
        tl.store(V + o, v, mask=mk)
        tl.store(R + o, r, mask=mk)
        return v, r

    @triton.jit
    def _carry_back(gv, gr, ga, v, q, mu, beta):
        """dL/dv_t and dL/dr_t from step t + 1's and dL/da_t (q = r_t + eps), before any
        gradient arriving on v_t, r_t themselves."""
        sq = tl.sqrt_rn(q)
        return mu * gv + ga / sq, beta * gr - 0.5 * ga * v / (q * sq)

    @triton.jit
    def _grad_g(gv, gr, g, s, beta):
        """dL/dg_t from dL/dv_t and dL/dr_t."""
        return s * gv + 2.0 * (1.0 - beta) * g * gr

    @triton.jit
    def _gate_weights(W, Bias, e, F, N, I: tl.constexpr):
        """The row of W (its I columns, a tuple) and of b each element's feature f = e % F reads."""
        f = e % F
        ws = ()
        for i in tl.static_range(I):
            ws = ws + (tl.load(W + f * I + i, mask=e < N, other=0.0),)
        return ws, tl.load(Bias + f, mask=e < N, other=0.0)

    @triton.jit
    def _adam_fwd(Gin, A, V, R, N, T, F, st, sb, mu, s, beta, eps, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # element = b * F + f
        base = (e // F) * sb + e % F
        v = tl.zeros((BLOCK,), dtype=tl.float32)
        r = tl.zeros((BLOCK,), dtype=tl.float32)
        for t0 in range(0, T, UNROLL):
            gs = ()
            for k in tl.static_range(UNROLL):
                gs = gs + (tl.load(Gin + base + (t0 + k) * st, mask=e < _live(t0 + k, T, N), other=0.0),)
            for k in tl.static_range(UNROLL):  # past T: v, r run on but nothing is stored
                o, mk = base + (t0 + k) * st, e < _live(t0 + k, T, N)
                v, r = _forward_step(A, V, R, o, mk, v, r, gs[k], mu, s, beta, eps)

    @triton.jit
    def _adam_bwd(dA, dV, dR, Gin, V, R, dG, N, T, F, st, sb, mu, s, beta, eps,
                  HAS_DVR: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        base = (e // F) * sb + e % F
        gv = tl.zeros((BLOCK,), dtype=tl.float32)  # dL/dv_t and dL/dr_t carried from step t + 1
        gr = tl.zeros((BLOCK,), dtype=tl.float32)
        for i0 in range(0, T, UNROLL):  # step t = T - 1 - i
            gas, vs, qs, dvs, drs, gs = (), (), (), (), (), ()
            for k in tl.static_range(UNROLL):
                o = base + (T - 1 - i0 - k) * st
                mk = e < _live(i0 + k, T, N)
                gas = gas + (tl.load(dA + o, mask=mk, other=0.0),)
                vs = vs + (tl.load(V + o, mask=mk, other=0.0),)
                qs = qs + (tl.load(R + o, mask=mk, other=0.0) + eps,)
                gs = gs + (tl.load(Gin + o, mask=mk, other=0.0),)
                if HAS_DVR:
                    dvs = dvs + (tl.load(dV + o, mask=mk, other=0.0),)
                    drs = drs + (tl.load(dR + o, mask=mk, other=0.0),)
            for k in tl.static_range(UNROLL):  # past the first step: gv, gr run on but nothing is stored
                gv, gr = _carry_back(gv, gr, gas[k], vs[k], qs[k], mu, beta)
                if HAS_DVR:
                    gv += dvs[k]
                    gr += drs[k]
                o, mk = base + (T - 1 - i0 - k) * st, e < _live(i0 + k, T, N)
                tl.store(dG + o, _grad_g(gv, gr, gs[k], s, beta), mask=mk)


    @triton.jit
    def _adam_x_fwd(X, W, Bias, A, V, R, N, T, F, sxb, sxt, sxi, mu, s, beta, eps,
                    I: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
        """`_adam_fwd` on g = x W^T + b made in registers from x (B, T, I <= 4): g is never
        stored. Outputs time-major and dense (element (t, b, f) at t * N + b * F + f)."""
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        xb = X + (e // F) * sxb
        ws, bias = _gate_weights(W, Bias, e, F, N, I)
        v = tl.zeros((BLOCK,), dtype=tl.float32)
        r = tl.zeros((BLOCK,), dtype=tl.float32)
        for t0 in range(0, T, UNROLL):
            gs = ()
            for k in tl.static_range(UNROLL):
                mk = e < _live(t0 + k, T, N)
                g = bias
                for i in tl.static_range(I):
                    g = g + tl.load(xb + (t0 + k) * sxt + i * sxi, mask=mk, other=0.0) * ws[i]
                gs = gs + (g,)
            for k in tl.static_range(UNROLL):
                o, mk = e + (t0 + k) * N, e < _live(t0 + k, T, N)
                v, r = _forward_step(A, V, R, o, mk, v, r, gs[k], mu, s, beta, eps)

    @triton.jit
    def _adam_x_bwd(dA, dV, dR, X, W, Bias, V, R, P, N, T, F, sxb, sxt, sxi, mu, s, beta, eps,
                    I: tl.constexpr, HAS_DVR: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
        """`_adam_bwd` with g remade from x, and dL/dg summed over time into this element's
        share of dL/dW and dL/db (P[e] = [sum_t dg x_0, ..., sum_t dg x_{I-1}, sum_t dg])
        instead of stored. Four accumulators for x's columns, the first I of them used."""
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        xb = X + (e // F) * sxb
        ws, bias = _gate_weights(W, Bias, e, F, N, I)
        gv = tl.zeros((BLOCK,), dtype=tl.float32)
        gr = tl.zeros((BLOCK,), dtype=tl.float32)
        db = tl.zeros((BLOCK,), dtype=tl.float32)
        dw0 = tl.zeros((BLOCK,), dtype=tl.float32)
        dw1 = tl.zeros((BLOCK,), dtype=tl.float32)
        dw2 = tl.zeros((BLOCK,), dtype=tl.float32)
        dw3 = tl.zeros((BLOCK,), dtype=tl.float32)
        for i0 in range(0, T, UNROLL):  # step t = T - 1 - i
            gas, vs, qs, dvs, drs, xs = (), (), (), (), (), ()  # xs: x[b, t, i] at k * I + i
            for k in tl.static_range(UNROLL):
                t = T - 1 - i0 - k
                o = e + t * N
                mk = e < _live(i0 + k, T, N)
                gas = gas + (tl.load(dA + o, mask=mk, other=0.0),)
                vs = vs + (tl.load(V + o, mask=mk, other=0.0),)
                qs = qs + (tl.load(R + o, mask=mk, other=0.0) + eps,)
                for i in tl.static_range(I):
                    xs = xs + (tl.load(xb + t * sxt + i * sxi, mask=mk, other=0.0),)
                if HAS_DVR:
                    dvs = dvs + (tl.load(dV + o, mask=mk, other=0.0),)
                    drs = drs + (tl.load(dR + o, mask=mk, other=0.0),)
            for k in tl.static_range(UNROLL):  # past the first step: gv, gr run on, nothing is summed
                mk = e < _live(i0 + k, T, N)
                g = bias
                for i in tl.static_range(I):
                    g = g + xs[k * I + i] * ws[i]
                gv, gr = _carry_back(gv, gr, gas[k], vs[k], qs[k], mu, beta)
                if HAS_DVR:
                    gv += dvs[k]
                    gr += drs[k]
                dg = tl.where(mk, _grad_g(gv, gr, g, s, beta), 0.0)
                db += dg
                dw0 += dg * xs[k * I]
                if I > 1:
                    dw1 += dg * xs[k * I + 1]
                if I > 2:
                    dw2 += dg * xs[k * I + 2]
                if I > 3:
                    dw3 += dg * xs[k * I + 3]
        p = P + e * (I + 1)
        tl.store(p, dw0, mask=e < N)
        if I > 1:
            tl.store(p + 1, dw1, mask=e < N)
        if I > 2:
            tl.store(p + 2, dw2, mask=e < N)
        if I > 3:
            tl.store(p + 3, dw3, mask=e < N)
        tl.store(p + I, db, mask=e < N)


def _layout(g: torch.Tensor) -> torch.Tensor:
    """An empty tensor shaped like g (T, B, F) in the layout the kernels use for this call:
    g's own where that is dense with unit feature stride (time-major, or batch-major seen
    through a transpose), else time-major."""
    out = torch.empty_like(g)
    if out.stride(2) == 1 or g.shape[2] == 1:
        return out
    return g.new_empty(g.shape)


def _in_layout(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t with like's strides, copied only where they differ (the kernels address all the
    tensors of a call with one (st, sb) pair)."""
    return t if t.stride() == like.stride() else torch.empty_like(like).copy_(t)


def _grid(g: torch.Tensor) -> tuple[tuple[int], int]:
    """(launch grid, N): one program per BLOCK of the N = B * F recurrences."""
    N = g.shape[1] * g.shape[2]
    return (triton.cdiv(N, BLOCK),), N


def _adam_filter_bwd_fake(dA, dV, dR, g, v, r, mu, s, beta, eps, has_dvr):
    return _layout(g)


@custom_op("adam_filter_bwd", _adam_filter_bwd_fake)
def adam_filter_bwd(dA: torch.Tensor, dV: torch.Tensor, dR: torch.Tensor, g: torch.Tensor, v: torch.Tensor,
                    r: torch.Tensor, mu: float, s: float, beta: float, eps: float,
                    has_dvr: bool) -> torch.Tensor:
    """-> dL/dg (T, B, F), in g's layout."""
    dG = _layout(g)
    dA, dV, dR, g, v, r = (_in_layout(t, dG) for t in (dA, dV, dR, g, v, r))
    T, B, F = g.shape
    grid, N = _grid(g)
    _adam_bwd[grid](dA, dV, dR, g, v, r, dG, N, T, F, g.stride(0), g.stride(1), mu, s, beta, eps,
                    HAS_DVR=has_dvr, BLOCK=BLOCK, UNROLL=UNROLL)
    return dG


def _setup(ctx, inputs, output):
    g, mu, s, beta, eps = inputs
    a, v, r = output
    ctx.save_for_backward(_in_layout(g, a), v, r)
    ctx.consts = (mu, s, beta, eps)
    # v and r are mostly unused (only v_T, r_T leave, as the filter state): their gradients
    # stay None, not two (T, B, F) zero tensors for the kernel to fill and read (HAS_DVR).
    ctx.set_materialize_grads(False)


def _incoming(dA, dV, dR, like: torch.Tensor):
    """The gradients arriving on a, v, r (None: none arrived) as the backward kernels take them,
    and whether any arrived on v or r (HAS_DVR; without, dA stands in for the unread two)."""
    has_dvr = dV is not None or dR is not None
    dA = torch.zeros_like(like) if dA is None else dA
    dV = (torch.zeros_like(like) if dV is None else dV) if has_dvr else dA
    dR = (torch.zeros_like(like) if dR is None else dR) if has_dvr else dA
    return dA, dV, dR, has_dvr


def _backward(ctx, dA, dV, dR):
    g, v, r = ctx.saved_tensors
    dA, dV, dR, has_dvr = _incoming(dA, dV, dR, g)
    return adam_filter_bwd(dA, dV, dR, g, v, r, *ctx.consts, has_dvr), None, None, None, None


def _adam_filter_fake(g, mu, s, beta, eps):
    return _layout(g), _layout(g), _layout(g)


@custom_op("adam_filter", _adam_filter_fake, _backward, _setup)
def adam_filter(g: torch.Tensor, mu: float, s: float, beta: float,
                eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g (T, B, F) float32 -> a, v, r (T, B, F), in g's layout (see the module docstring)."""
    a = _layout(g)
    g = _in_layout(g, a)
    v, r = torch.empty_like(a), torch.empty_like(a)
    T, B, F = g.shape
    grid, N = _grid(g)
    _adam_fwd[grid](g, a, v, r, N, T, F, g.stride(0), g.stride(1), mu, s, beta, eps, BLOCK=BLOCK, UNROLL=UNROLL)
    return a, v, r


# Inputs up to this many: the from-input op makes g = x W^T + b in the kernel (I products per
# element and step) instead of reading a stored (T, B, G) g; past it, the GEMM is the cheaper way.
X_INPUTS_MAX = 4


def _adam_filter_x_bwd_fake(dA, dV, dR, x, W, b, v, r, mu, s, beta, eps, has_dvr):
    return W.new_empty(W.shape), b.new_empty(b.shape)


@custom_op("adam_filter_x_bwd", _adam_filter_x_bwd_fake)
def adam_filter_x_bwd(dA: torch.Tensor, dV: torch.Tensor, dR: torch.Tensor, x: torch.Tensor, W: torch.Tensor,
                      b: torch.Tensor, v: torch.Tensor, r: torch.Tensor, mu: float, s: float, beta: float, eps: float,
                      has_dvr: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (dL/dW (G, I), dL/db (G,)): each program sums its elements over time, torch over the batch."""
    B, T, I = x.shape
    dA, dV, dR = (_in_layout(t, v) for t in (dA, dV, dR))
    partial = v.new_empty(B * W.shape[0], I + 1)
    grid, N = _grid(v)
    _adam_x_bwd[grid](dA, dV, dR, x, W.contiguous(), b, v, r, partial, N, T, W.shape[0], *x.stride(), mu, s, beta, eps,
                      I=I, HAS_DVR=has_dvr, BLOCK=BLOCK, UNROLL=UNROLL)
    sums = partial.view(B, W.shape[0], I + 1).sum(0)
    return sums[:, :I].contiguous(), sums[:, I].contiguous()


def _setup_x(ctx, inputs, output):
    x, W, b, mu, s, beta, eps = inputs
    _, v, r = output
    ctx.save_for_backward(x, W, b, v, r)
    ctx.consts = (mu, s, beta, eps)
    ctx.set_materialize_grads(False)


def _backward_x(ctx, dA, dV, dR):
    x, W, b, v, r = ctx.saved_tensors
    dA, dV, dR, has_dvr = _incoming(dA, dV, dR, v)
    dW, db = adam_filter_x_bwd(dA, dV, dR, x, W, b, v, r, *ctx.consts, has_dvr)
    return None, dW, db, None, None, None, None  # x: the data (the caller routes an x that needs a gradient elsewhere)


def _adam_filter_x_fake(x, W, b, mu, s, beta, eps):
    B, T, _ = x.shape
    return tuple(x.new_empty(T, B, W.shape[0]) for _ in range(3))


@custom_op("adam_filter_x", _adam_filter_x_fake, _backward_x, _setup_x)
def adam_filter_x(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, mu: float, s: float, beta: float,
                  eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`adam_filter` of g = x W^T + b without g: x (B, T, I) with I <= X_INPUTS_MAX, W (G, I),
    b (G,) -> a, v, r (T, B, G) time-major. g is made in registers each step (forward and
    backward), so neither g nor dL/dg crosses memory: at B = 128, T = 784, G = 512 that is
    four passes over a 205 MB stream and the projection's two GEMMs. No gradient for x."""
    B, T, I = x.shape
    a, v, r = (x.new_empty(T, B, W.shape[0]) for _ in range(3))
    grid, N = _grid(a)
    _adam_x_fwd[grid](x, W.contiguous(), b, a, v, r, N, T, W.shape[0], *x.stride(), mu, s, beta, eps,
                      I=I, BLOCK=BLOCK, UNROLL=UNROLL)
    return a, v, r
