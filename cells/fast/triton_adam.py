"""The Adam / RMSProp input filter as one elementwise Triton scan, forward and backward.

    v_t = mu v_{t-1} + s g_t,  r_t = beta r_{t-1} + (1 - beta) g_t^2,  a_t = v_t / sqrt(r_t + eps)

Every (batch row, feature) pair is an independent scalar recurrence, so each program owns
BLOCK of them and runs all T steps in registers: g is read once and a, v, r written once,
where the chunked torch scans (`filters`) make about fifteen passes over the (B, T, 4H)
stream (measured: 5.6 ms of adam-lstm's 11.3 at H = 128 on an H200). The backward runs in
reverse time with the same layout. mu, s, beta are config constants (no gradient).
"""

from __future__ import annotations

import torch

from cells.fast._triton import tl, triton

BLOCK = 256


if triton is not None:

    @triton.jit
    def _adam_fwd(Gin, A, V, R, N, T, F, mu, s, beta, eps, BLOCK: tl.constexpr):
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # element = b * F + f
        m = e < N
        base = (e // F) * T * F + e % F
        v = tl.zeros((BLOCK,), dtype=tl.float32)
        r = tl.zeros((BLOCK,), dtype=tl.float32)
        for t in range(T):
            g = tl.load(Gin + base + t * F, mask=m, other=0.0)
            v = mu * v + s * g
            r = beta * r + (1.0 - beta) * g * g
            tl.store(A + base + t * F, tl.div_rn(v, tl.sqrt_rn(r + eps)), mask=m)
            tl.store(V + base + t * F, v, mask=m)
            tl.store(R + base + t * F, r, mask=m)

    @triton.jit
    def _adam_bwd(dA, dV, dR, Gin, V, R, dG, N, T, F, mu, s, beta, eps,
                  HAS_DVR: tl.constexpr, BLOCK: tl.constexpr):
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = e < N
        base = (e // F) * T * F + e % F
        gv = tl.zeros((BLOCK,), dtype=tl.float32)  # dL/dv_t and dL/dr_t carried from step t + 1
        gr = tl.zeros((BLOCK,), dtype=tl.float32)
        for i in range(T):
            o = base + (T - 1 - i) * F
            ga = tl.load(dA + o, mask=m, other=0.0)
            v = tl.load(V + o, mask=m, other=0.0)
            q = tl.load(R + o, mask=m, other=0.0) + eps
            sq = tl.sqrt_rn(q)
            gv = mu * gv + ga / sq
            gr = beta * gr - 0.5 * ga * v / (q * sq)
            if HAS_DVR:
                gv += tl.load(dV + o, mask=m, other=0.0)
                gr += tl.load(dR + o, mask=m, other=0.0)
            g = tl.load(Gin + o, mask=m, other=0.0)
            tl.store(dG + o, s * gv + 2.0 * (1.0 - beta) * g * gr, mask=m)


@torch.library.custom_op("momnas::adam_filter", mutates_args=())
def adam_filter(g: torch.Tensor, mu: float, s: float, beta: float,
                eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g (B, T, F) float32 -> a, v, r (B, T, F)."""
    g = g.contiguous()
    B, T, F = g.shape
    a, v, r = torch.empty_like(g), torch.empty_like(g), torch.empty_like(g)
    N = B * F
    _adam_fwd[(triton.cdiv(N, BLOCK),)](g, a, v, r, N, T, F, mu, s, beta, eps, BLOCK=BLOCK)
    return a, v, r


@adam_filter.register_fake
def _(g, mu, s, beta, eps):
    return torch.empty_like(g), torch.empty_like(g), torch.empty_like(g)


@torch.library.custom_op("momnas::adam_filter_bwd", mutates_args=())
def adam_filter_bwd(dA: torch.Tensor, dV: torch.Tensor, dR: torch.Tensor, g: torch.Tensor, v: torch.Tensor,
                    r: torch.Tensor, mu: float, s: float, beta: float, eps: float,
                    has_dvr: bool) -> torch.Tensor:
    """-> dL/dg (B, T, F)."""
    B, T, F = g.shape
    dG = torch.empty_like(g)
    N = B * F
    _adam_bwd[(triton.cdiv(N, BLOCK),)](dA.contiguous(), dV.contiguous(), dR.contiguous(), g, v, r, dG,
                                         N, T, F, mu, s, beta, eps, HAS_DVR=has_dvr, BLOCK=BLOCK)
    return dG


@adam_filter_bwd.register_fake
def _(dA, dV, dR, g, v, r, mu, s, beta, eps, has_dvr):
    return torch.empty_like(g)


def _setup(ctx, inputs, output):
    g, mu, s, beta, eps = inputs
    a, v, r = output
    ctx.save_for_backward(g.contiguous(), v, r)
    ctx.consts = (mu, s, beta, eps)


def _backward(ctx, dA, dV, dR):
    g, v, r = ctx.saved_tensors
    has_dvr = dV is not None or dR is not None
    dA = torch.zeros_like(g) if dA is None else dA
    dV = (torch.zeros_like(g) if dV is None else dV) if has_dvr else dA
    dR = (torch.zeros_like(g) if dR is None else dR) if has_dvr else dA
    return adam_filter_bwd(dA, dV, dR, g, v, r, *ctx.consts, has_dvr), None, None, None, None


adam_filter.register_autograd(_backward, setup_context=_setup)
