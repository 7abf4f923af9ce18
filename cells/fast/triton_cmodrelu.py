"""The complex modReLU recurrence of the unitary cores (scuRNN, uRNN) in one Triton kernel.

State h = [Re, Im] (B, 2H), `h_t = cmodReLU(a_t + h_{t-1} @ M)` where M (2H, 2H) is the
real form [[Wr, Wi], [-Wi, Wr]] of the complex W (built outside from the parametrized W, so
autograd reaches its free tensors), `cmodReLU(z) = z relu(|z| + b) / (|z| + 1e-5)` per
complex entry, and the initial state h0 is trained. One program owns BB batch rows and
keeps Re and Im of its state in registers (H <= 64; wider states are read back from the
output buffer in tiles, any H); the backward runs in reverse time
and writes G = dL/d(pre-activation); dM = sum_t h_{t-1}^T G_t after the loop.
"""

from __future__ import annotations

import torch

from cells.fast._triton import launch_options, precision, tl, triton

BB = 16
EPS = 1e-5  # cells.cores.orthogonal.complex_modrelu
MAX_H = 64  # register-resident up to this H (four (H x H) fp32 weight blocks in shared memory); tiled above


if triton is not None:

    @triton.jit
    def _cmodrelu_fwd(A, M, bias, Hs, P, B, T, H, eps,
                      BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        rn = tl.arange(0, HP)
        mb = rb < B
        mn = rn < H
        m2 = mb[:, None] & mn[None, :]
        mw = mn[:, None] & mn[None, :]
        W2 = 2 * H
        row = rb[:, None] * (T + 1) * W2 + rn[None, :]
        hr = tl.load(Hs + row, mask=m2, other=0.0)  # h0, written by the caller
        hi = tl.load(Hs + row + H, mask=m2, other=0.0)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        for t in range(T):
            k = rn[:, None] * W2 + rn[None, :]
            mrr = tl.load(M + k, mask=mw, other=0.0)
            mri = tl.load(M + k + H, mask=mw, other=0.0)
            mir = tl.load(M + k + H * W2, mask=mw, other=0.0)
            mii = tl.load(M + k + H * W2 + H, mask=mw, other=0.0)
            at = (rb[:, None] * T + t) * W2 + rn[None, :]
            pr = tl.load(A + at, mask=m2, other=0.0)
            pi = tl.load(A + at + H, mask=m2, other=0.0)
            pr += tl.dot(hr, mrr, input_precision=PREC)
            pr += tl.dot(hi, mir, input_precision=PREC)
            pi += tl.dot(hr, mri, input_precision=PREC)
            pi += tl.dot(hi, mii, input_precision=PREC)
            m = tl.sqrt(pr * pr + pi * pi)
            f = tl.maximum(m + bb[None, :], 0.0) / (m + eps)
            hr = pr * f
            hi = pi * f
            tl.store(P + at, pr, mask=m2)
            tl.store(P + at + H, pi, mask=m2)
            ht = (rb[:, None] * (T + 1) + t + 1) * W2 + rn[None, :]
            tl.store(Hs + ht, hr, mask=m2)
            tl.store(Hs + ht + H, hi, mask=m2)

    @triton.jit
    def _cmodrelu_bwd(dH, P, M, bias, G, GH, DB, B, T, H, eps,
                      BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        rn = tl.arange(0, HP)
        mb = rb < B
        mn = rn < H
        m2 = mb[:, None] & mn[None, :]
        mw = mn[:, None] & mn[None, :]
        W2 = 2 * H
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        ghr = tl.zeros((BB, HP), dtype=tl.float32)
        ghi = tl.zeros((BB, HP), dtype=tl.float32)
        db = tl.zeros((BB, HP), dtype=tl.float32)
        for i in range(T):
            t = T - 1 - i
            kt = rn[None, :] * W2 + rn[:, None]  # transposed blocks: [k, n] = M[n, k]
            trr = tl.load(M + kt, mask=mw, other=0.0)
            tri = tl.load(M + kt + H, mask=mw, other=0.0)
            tir = tl.load(M + kt + H * W2, mask=mw, other=0.0)
            tii = tl.load(M + kt + H * W2 + H, mask=mw, other=0.0)
            ht = (rb[:, None] * (T + 1) + t + 1) * W2 + rn[None, :]
            ghr += tl.load(dH + ht, mask=m2, other=0.0)
            ghi += tl.load(dH + ht + H, mask=m2, other=0.0)
            at = (rb[:, None] * T + t) * W2 + rn[None, :]
            pr = tl.load(P + at, mask=m2, other=0.0)
            pi = tl.load(P + at + H, mask=m2, other=0.0)
            m = tl.sqrt(pr * pr + pi * pi)
            on = (m + bb[None, :]) > 0
            relu = tl.maximum(m + bb[None, :], 0.0)
            f = relu / (m + eps)
            fprime = (tl.where(on, m + eps, 0.0) - relu) / ((m + eps) * (m + eps))
            gz = ghr * pr + ghi * pi
            coef = tl.where(m > 0, fprime / tl.where(m > 0, m, 1.0) * gz, 0.0)
            gr = f * ghr + coef * pr
            gi = f * ghi + coef * pi
            db += tl.where(on, gz / (m + eps), 0.0)
            tl.store(G + at, gr, mask=m2)
            tl.store(G + at + H, gi, mask=m2)
            ghr = tl.dot(gr, trr, input_precision=PREC) + tl.dot(gi, tri, input_precision=PREC)
            ghi = tl.dot(gr, tir, input_precision=PREC) + tl.dot(gi, tii, input_precision=PREC)
        row = rb[:, None] * W2 + rn[None, :]
        tl.store(GH + row, ghr, mask=m2)
        tl.store(GH + row + H, ghi, mask=m2)
        tl.store(DB + rb[:, None] * H + rn[None, :], db, mask=m2)

    @triton.jit
    def _cmodrelu_fwd_tiled(A, M, bias, Hs, P, B, T, H, eps,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # Wide states: h_{t-1} is read back from Hs in (BB x BK) tiles of the 2H columns.
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        mb = rb < B
        W2 = 2 * H
        for t in range(T):
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                mn = rn < H
                m2 = mb[:, None] & mn[None, :]
                at = (rb[:, None] * T + t) * W2 + rn[None, :]
                pr = tl.load(A + at, mask=m2, other=0.0)
                pi = tl.load(A + at + H, mask=m2, other=0.0)
                for k0 in range(0, W2, BK):
                    rk = k0 + tl.arange(0, BK)
                    mk = rk < W2
                    hk = tl.load(Hs + (rb[:, None] * (T + 1) + t) * W2 + rk[None, :],
                                 mask=mb[:, None] & mk[None, :], other=0.0)
                    mkn = mk[:, None] & mn[None, :]
                    wr = tl.load(M + rk[:, None] * W2 + rn[None, :], mask=mkn, other=0.0)
                    wi = tl.load(M + rk[:, None] * W2 + H + rn[None, :], mask=mkn, other=0.0)
                    pr += tl.dot(hk, wr, input_precision=PREC)
                    pi += tl.dot(hk, wi, input_precision=PREC)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                m = tl.sqrt(pr * pr + pi * pi)
                f = tl.maximum(m + bb[None, :], 0.0) / (m + eps)
                tl.store(P + at, pr, mask=m2)
                tl.store(P + at + H, pi, mask=m2)
                ht = (rb[:, None] * (T + 1) + t + 1) * W2 + rn[None, :]
                tl.store(Hs + ht, pr * f, mask=m2)
                tl.store(Hs + ht + H, pi * f, mask=m2)
            tl.debug_barrier()

    @triton.jit
    def _cmodrelu_bwd_tiled(dH, P, M, bias, G, GH, DB, B, T, H, eps,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # GH (B, 2H): dL/dh_t from later steps; DB (B, H): per-row sums of dL/db.
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        mb = rb < B
        W2 = 2 * H
        for i in range(T):
            t = T - 1 - i
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                mn = rn < H
                m2 = mb[:, None] & mn[None, :]
                st = rb[:, None] * W2 + rn[None, :]
                ht = (rb[:, None] * (T + 1) + t + 1) * W2 + rn[None, :]
                ghr = tl.load(GH + st, mask=m2, other=0.0) + tl.load(dH + ht, mask=m2, other=0.0)
                ghi = tl.load(GH + st + H, mask=m2, other=0.0) + tl.load(dH + ht + H, mask=m2, other=0.0)
                at = (rb[:, None] * T + t) * W2 + rn[None, :]
                pr = tl.load(P + at, mask=m2, other=0.0)
                pi = tl.load(P + at + H, mask=m2, other=0.0)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                m = tl.sqrt(pr * pr + pi * pi)
                on = (m + bb[None, :]) > 0
                relu = tl.maximum(m + bb[None, :], 0.0)
                f = relu / (m + eps)
                fprime = (tl.where(on, m + eps, 0.0) - relu) / ((m + eps) * (m + eps))
                gz = ghr * pr + ghi * pi
                coef = tl.where(m > 0, fprime / tl.where(m > 0, m, 1.0) * gz, 0.0)
                tl.store(G + at, f * ghr + coef * pr, mask=m2)
                tl.store(G + at + H, f * ghi + coef * pi, mask=m2)
                sd = rb[:, None] * H + rn[None, :]
                tl.store(DB + sd, tl.load(DB + sd, mask=m2, other=0.0) + tl.where(on, gz / (m + eps), 0.0), mask=m2)
            tl.debug_barrier()
            for n0 in range(0, W2, BN):  # GH = G_t @ M^T over the 2H state columns
                rn = n0 + tl.arange(0, BN)
                mn = rn < W2
                acc = tl.zeros((BB, BN), dtype=tl.float32)
                for k0 in range(0, W2, BK):
                    rk = k0 + tl.arange(0, BK)
                    mk = rk < W2
                    gk = tl.load(G + (rb[:, None] * T + t) * W2 + rk[None, :], mask=mb[:, None] & mk[None, :], other=0.0)
                    w = tl.load(M + rn[None, :] * W2 + rk[:, None], mask=mk[:, None] & mn[None, :], other=0.0)
                    acc += tl.dot(gk, w, input_precision=PREC)
                tl.store(GH + rb[:, None] * W2 + rn[None, :], acc, mask=mb[:, None] & mn[None, :])
            tl.debug_barrier()


def _tiles(H: int) -> dict:
    p = max(16, triton.next_power_of_2(H))
    return {"BN": min(p, 64), "BK": min(p, 64)}


@torch.library.custom_op("momnas::cmodrelu_fwd", mutates_args=())
def cmodrelu_fwd(a: torch.Tensor, M: torch.Tensor, bias: torch.Tensor,
                 h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a (B, T, 2H), M (2H, 2H), bias (H,), h0 (B, 2H) -> Hs (B, T+1, 2H) (row 0 = h0), P pre-activations."""
    a, M, bias = a.contiguous(), M.contiguous(), bias.contiguous()
    B, T, W2 = a.shape
    H = W2 // 2
    Hs = torch.empty(B, T + 1, W2, device=a.device, dtype=a.dtype)
    Hs[:, 0] = h0
    P = torch.empty_like(a)
    HP = max(16, triton.next_power_of_2(H))
    if HP <= MAX_H:
        _cmodrelu_fwd[(triton.cdiv(B, BB),)](a, M, bias, Hs, P, B, T, H, EPS, BB=BB, HP=HP, PREC=precision(),
                                              **launch_options(True))
    else:
        _cmodrelu_fwd_tiled[(triton.cdiv(B, BB),)](a, M, bias, Hs, P, B, T, H, EPS, BB=BB, PREC=precision(),
                                                    **_tiles(H), **launch_options(False))
    return Hs, P


@cmodrelu_fwd.register_fake
def _(a, M, bias, h0):
    B, T, W2 = a.shape
    return a.new_empty(B, T + 1, W2), a.new_empty(B, T, W2)


@torch.library.custom_op("momnas::cmodrelu_bwd", mutates_args=())
def cmodrelu_bwd(dH: torch.Tensor, P: torch.Tensor, M: torch.Tensor,
                 bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> G = dL/d(pre-activation) (B, T, 2H), dL/d bias (H,), dL/d h0 from the steps (B, 2H)."""
    dH, P = dH.contiguous(), P.contiguous()
    B, T, W2 = P.shape
    H = W2 // 2
    G = torch.empty_like(P)
    GH = torch.zeros(B, W2, device=P.device, dtype=P.dtype)
    DB = torch.zeros(B, H, device=P.device, dtype=P.dtype)
    HP = max(16, triton.next_power_of_2(H))
    if HP <= MAX_H:
        _cmodrelu_bwd[(triton.cdiv(B, BB),)](dH, P, M.contiguous(), bias.contiguous(), G, GH, DB, B, T, H, EPS,
                                              BB=BB, HP=HP, PREC=precision(), **launch_options(True))
    else:
        _cmodrelu_bwd_tiled[(triton.cdiv(B, BB),)](dH, P, M.contiguous(), bias.contiguous(), G, GH, DB, B, T, H,
                                                    EPS, BB=BB, PREC=precision(), **_tiles(H), **launch_options(False))
    return G, DB.sum(0), GH


@cmodrelu_bwd.register_fake
def _(dH, P, M, bias):
    B, T, W2 = P.shape
    return torch.empty_like(P), bias.new_empty(bias.shape), P.new_empty(B, W2)


def _setup(ctx, inputs, output):
    a, M, bias, h0 = inputs
    Hs, P = output
    ctx.save_for_backward(M, bias, Hs, P)


def _backward(ctx, dHs, dP):
    M, bias, Hs, P = ctx.saved_tensors
    B, T, W2 = P.shape
    dHs = torch.zeros_like(Hs) if dHs is None else dHs
    G, db, gh0 = cmodrelu_bwd(dHs, P, M, bias)
    dM = Hs[:, :-1].reshape(B * T, W2).T @ G.reshape(B * T, W2)  # (2H, 2H)
    return G, dM, db, gh0 + dHs[:, 0]


cmodrelu_fwd.register_autograd(_backward, setup_context=_setup)


def real_form(W: torch.Tensor) -> torch.Tensor:
    """Complex W (H, H) -> M (2H, 2H) with [hr, hi] @ M = [Re, Im] of (hr + i hi) @ W."""
    Wr, Wi = W.real, W.imag
    return torch.cat([torch.cat([Wr, Wi], dim=1), torch.cat([-Wi, Wr], dim=1)], dim=0)


def cmodrelu_sequence(a: torch.Tensor, W: torch.Tensor, bias: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """a (B, T, 2H) [Re, Im], complex W (H, H), h0 (B, 2H) -> h (B, T, 2H)."""
    Hs, _ = cmodrelu_fwd(a, real_form(W), bias, h0)
    return Hs[:, 1:]
