"""The modReLU recurrence `h_t = modReLU(a_t + h_{t-1} @ M)` in one Triton kernel.

Covers every core whose step is a dense matrix followed by modReLU (REFERENCE §2): the
orthogonal core (M = B from expm / Cayley / svd, computed once per forward by its
parametrization, outside the kernel, so autograd reaches the free parameters through dM)
and ENRNN (M = [[W1, 0], [W3, W2 / rho]], assembled outside the kernel).
`modReLU(z) = sign(z) relu(|z| + b)`.

Layout as in triton_cornn: one program owns BB batch rows for all T steps, the state of
step t is read back from the output buffer (B, T+1, H) in tiles. The backward runs in
reverse time, writes G = dL/d(pre-activation) per step and the per-row partial sums of
db; dM = sum_t h_{t-1}^T G_t is one large matrix product after the loop.
"""

from __future__ import annotations

import torch

from cells.fast._triton import RESIDENT_MAX, launch_options, precision, tile_blocks, tl, triton

BB = 16


if triton is not None:

    @triton.jit
    def _modrelu_fwd_kernel(A, M, bias, Hs, P, B, T, H,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        mb = rb < B
        for t in range(T):
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                mn = rn < H
                m2 = mb[:, None] & mn[None, :]
                acc = tl.load(A + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
                for k0 in range(0, H, BK):
                    rk = k0 + tl.arange(0, BK)
                    mk = rk < H
                    hk = tl.load(Hs + (rb[:, None] * (T + 1) + t) * H + rk[None, :],
                                 mask=mb[:, None] & mk[None, :], other=0.0)
                    w = tl.load(M + rk[:, None] * H + rn[None, :], mask=mk[:, None] & mn[None, :], other=0.0)
                    acc += tl.dot(hk, w, input_precision=PREC)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                mag = tl.maximum(tl.abs(acc) + bb[None, :], 0.0)
                h = tl.where(acc > 0, mag, tl.where(acc < 0, -mag, 0.0))
                tl.store(P + (rb[:, None] * T + t) * H + rn[None, :], acc, mask=m2)
                tl.store(Hs + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], h, mask=m2)
            tl.debug_barrier()

    @triton.jit
    def _modrelu_bwd_kernel(dH, P, M, bias, G, GH, DB, B, T, H,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # GH (B, H): dL/dh_t from later steps; DB (B, H): per-row sums of dL/db.
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        mb = rb < B
        for i in range(T):
            t = T - 1 - i
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                mn = rn < H
                m2 = mb[:, None] & mn[None, :]
                st = rb[:, None] * H + rn[None, :]
                gh = tl.load(GH + st, mask=m2, other=0.0) + \
                    tl.load(dH + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], mask=m2, other=0.0)
                p = tl.load(P + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                on = (tl.abs(p) + bb[None, :]) > 0
                sgn = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
                g = tl.where(on, gh * sgn * sgn, 0.0)
                tl.store(G + (rb[:, None] * T + t) * H + rn[None, :], g, mask=m2)
                tl.store(DB + st, tl.load(DB + st, mask=m2, other=0.0) + tl.where(on, gh * sgn, 0.0), mask=m2)
            tl.debug_barrier()
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                mn = rn < H
                m2 = mb[:, None] & mn[None, :]
                acc = tl.zeros((BB, BN), dtype=tl.float32)
                for k0 in range(0, H, BK):
                    rk = k0 + tl.arange(0, BK)
                    mk = rk < H
                    gk = tl.load(G + (rb[:, None] * T + t) * H + rk[None, :], mask=mb[:, None] & mk[None, :], other=0.0)
                    w = tl.load(M + rn[None, :] * H + rk[:, None], mask=mk[:, None] & mn[None, :], other=0.0)  # M^T[k, n]
                    acc += tl.dot(gk, w, input_precision=PREC)
                tl.store(GH + rb[:, None] * H + rn[None, :], acc, mask=m2)
            tl.debug_barrier()


    @triton.jit
    def _modrelu_fwd_resident(A, M, bias, Hs, P, B, T, H,
                              BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        # H <= HP <= 128: the state stays in registers, M in L1; no barrier.
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        rn = tl.arange(0, HP)
        mb = rb < B
        mn = rn < H
        m2 = mb[:, None] & mn[None, :]
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        h = tl.zeros((BB, HP), dtype=tl.float32)
        for t in range(T):
            w = tl.load(M + rn[:, None] * H + rn[None, :], mask=mn[:, None] & mn[None, :], other=0.0)
            acc = tl.load(A + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
            acc += tl.dot(h, w, input_precision=PREC)
            mag = tl.maximum(tl.abs(acc) + bb[None, :], 0.0)
            h = tl.where(acc > 0, mag, tl.where(acc < 0, -mag, 0.0))
            tl.store(P + (rb[:, None] * T + t) * H + rn[None, :], acc, mask=m2)
            tl.store(Hs + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], h, mask=m2)

    @triton.jit
    def _modrelu_bwd_resident(dH, P, M, bias, G, GH, DB, B, T, H,
                              BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        rn = tl.arange(0, HP)
        mb = rb < B
        mn = rn < H
        m2 = mb[:, None] & mn[None, :]
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        gh = tl.zeros((BB, HP), dtype=tl.float32)
        db = tl.zeros((BB, HP), dtype=tl.float32)
        for i in range(T):
            t = T - 1 - i
            w = tl.load(M + rn[None, :] * H + rn[:, None], mask=mn[:, None] & mn[None, :], other=0.0)  # M^T
            gh += tl.load(dH + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], mask=m2, other=0.0)
            p = tl.load(P + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
            on = (tl.abs(p) + bb[None, :]) > 0
            sgn = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
            g = tl.where(on, gh * sgn * sgn, 0.0)
            db += tl.where(on, gh * sgn, 0.0)
            tl.store(G + (rb[:, None] * T + t) * H + rn[None, :], g, mask=m2)
            gh = tl.dot(g, w, input_precision=PREC)
        tl.store(GH + rb[:, None] * H + rn[None, :], gh, mask=m2)
        tl.store(DB + rb[:, None] * H + rn[None, :], db, mask=m2)


@torch.library.custom_op("momnas::modrelu_fwd", mutates_args=())
def modrelu_fwd(a: torch.Tensor, M: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a (B, T, H) -> Hs (B, T+1, H) with the zero initial state in row 0, P the pre-activations."""
    a, M, bias = a.contiguous(), M.contiguous(), bias.contiguous()
    B, T, H = a.shape
    Hs = torch.zeros(B, T + 1, H, device=a.device, dtype=a.dtype)
    P = torch.empty_like(a)
    HP = max(16, triton.next_power_of_2(H))
    if HP <= RESIDENT_MAX:
        _modrelu_fwd_resident[(triton.cdiv(B, BB),)](a, M, bias, Hs, P, B, T, H,
                                                      BB=BB, HP=HP, PREC=precision(), **launch_options(True))
        return Hs, P
    BN, BK = tile_blocks(H)
    _modrelu_fwd_kernel[(triton.cdiv(B, BB),)](a, M, bias, Hs, P, B, T, H,
                                                BB=BB, BN=BN, BK=BK, PREC=precision(), **launch_options(False))
    return Hs, P


@modrelu_fwd.register_fake
def _(a, M, bias):
    B, T, H = a.shape
    return a.new_empty(B, T + 1, H), a.new_empty(B, T, H)


@torch.library.custom_op("momnas::modrelu_bwd", mutates_args=())
def modrelu_bwd(dH: torch.Tensor, P: torch.Tensor, M: torch.Tensor,
                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dHs (B, T+1, H) -> G = dL/d(pre-activation) (B, T, H), dL/dbias (H,)."""
    dH, P = dH.contiguous(), P.contiguous()
    B, T, H = P.shape
    G = torch.empty_like(P)
    GH = torch.zeros(B, H, device=P.device, dtype=P.dtype)
    DB = torch.zeros_like(GH)
    HP = max(16, triton.next_power_of_2(H))
    kernel, blocks = ((_modrelu_bwd_resident, {"HP": HP}) if HP <= RESIDENT_MAX else
                      (_modrelu_bwd_kernel, dict(zip(("BN", "BK"), tile_blocks(H)))))
    kernel[(triton.cdiv(B, BB),)](dH, P, M.contiguous(), bias.contiguous(), G, GH, DB, B, T, H,
                                  BB=BB, PREC=precision(), **blocks,
                                  **launch_options(HP <= RESIDENT_MAX))
    return G, DB.sum(0)


@modrelu_bwd.register_fake
def _(dH, P, M, bias):
    return torch.empty_like(P), bias.new_empty(bias.shape)


def _setup(ctx, inputs, output):
    a, M, bias = inputs
    Hs, P = output
    ctx.save_for_backward(M, bias, Hs, P)


def _backward(ctx, dHs, dP):
    M, bias, Hs, P = ctx.saved_tensors
    B, T, H = P.shape
    dHs = torch.zeros_like(Hs) if dHs is None else dHs
    G, db = modrelu_bwd(dHs, P, M, bias)
    dM = Hs[:, :-1].reshape(B * T, H).T @ G.reshape(B * T, H)  # (H, H): sum_t h_{t-1}^T g_t
    return G, dM, db


modrelu_fwd.register_autograd(_backward, setup_context=_setup)


def modrelu_sequence(a: torch.Tensor, M: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`h_t = modReLU(a_t + h_{t-1} @ M)` from the zero state: a (B, T, H) -> h (B, T, H)."""
    Hs, _ = modrelu_fwd(a, M, bias)
    return Hs[:, 1:]
