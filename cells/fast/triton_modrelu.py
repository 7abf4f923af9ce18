"""The modReLU recurrence `h_t = modReLU(a_t + h_{t-1} @ M)` in one Triton kernel.

Covers every core whose step is a dense matrix followed by modReLU (REFERENCE §2): the
orthogonal core (M = B from expm / Cayley / svd, computed once per forward by its
parametrization, outside the kernel, so autograd reaches the free parameters through dM)
and ENRNN (M = [[W1, 0], [W3, W2 / rho]], assembled outside the kernel).
`modReLU(z) = sign(z) relu(|z| + b)`.

Layout as in triton_cornn: one program owns BB batch rows for all T steps, the state of
step t is read back from the output buffer (B, T+1, H) in tiles (register-resident up to
H = 128, RESIDENT_MAX); on a GPU at the widths in SPLIT, S programs share each step of a batch tile, each
holding its columns of M (`_triton.launch_split`). The backward runs in
reverse time, writes G = dL/d(pre-activation) per step and the per-row partial sums of
db; dM = sum_t h_{t-1}^T G_t is one large matrix product after the loop.
"""

from __future__ import annotations

import torch

from cells.fast._triton import RESIDENT_MAX, launch, launch_split, precision, split_ways, tl, triton
from cells.fast.ops import custom_op

SPLIT = {256: 8}  # padded H -> programs per step on a GPU (measured; at 128 the register-resident kernel wins a whole iteration)

if triton is not None:
    from cells.fast._triton import (batch_rows, carried, columns, resident_block, row_ptrs, rows, split_block,
                                    step_barrier, step_mask, tiled_dot, tiled_product)

    @triton.jit
    def _modrelu(acc, bb):
        mag = tl.maximum(tl.abs(acc) + bb[None, :], 0.0)
        return tl.where(acc > 0, mag, tl.where(acc < 0, -mag, 0.0))

    @triton.jit
    def _modrelu_fwd_kernel(A, M, bias, Hs, P, B, T, H,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        rb, mb = batch_rows(B, BB)
        for t in range(T):
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                acc = tl.load(row_ptrs(A, rb, t, T, H, rn), mask=m2, other=0.0)
                acc = tiled_dot(acc, Hs, rb, mb, t, T + 1, H, M, rn, mn, H, False, BK, PREC)  # + h_{t-1} @ M
                tl.store(row_ptrs(P, rb, t, T, H, rn), acc, mask=m2)
                tl.store(row_ptrs(Hs, rb, t + 1, T + 1, H, rn), _modrelu(acc, tl.load(bias + rn, mask=mn, other=0.0)),
                         mask=m2)
            tl.debug_barrier()

    @triton.jit
    def _modrelu_bwd_kernel(dH, P, M, bias, G, GH, DB, B, T, H,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # GH (B, H): dL/dh_t from later steps; DB (B, H): per-row sums of dL/db.
        rb, mb = batch_rows(B, BB)
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                st = rb[:, None] * H + rn[None, :]
                gh = carried(GH, dH, rb, rn, m2, t, T, H)
                p = tl.load(row_ptrs(P, rb, t, T, H, rn), mask=m2, other=0.0)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                on = (tl.abs(p) + bb[None, :]) > 0
                sgn = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
                g = tl.where(on, gh * sgn * sgn, 0.0)
                tl.store(row_ptrs(G, rb, t, T, H, rn), g, mask=m2)
                tl.store(DB + st, tl.load(DB + st, mask=m2, other=0.0) + tl.where(on, gh * sgn, 0.0), mask=m2)
            tl.debug_barrier()
            tiled_product(GH, G, M, rb, mb, t, T, H, H, H, True, BB, BN, BK, PREC)  # G_t @ M^T
            tl.debug_barrier()


    @triton.jit
    def _modrelu_fwd_resident(A, M, bias, Hs, P, B, T, H,
                              BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        # H <= HP <= 128: the state stays in registers and M, loaded once, on chip; no barrier.
        rb, mb, rn, mn, m2, mw = resident_block(B, H, BB, HP)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        h = tl.zeros((BB, HP), dtype=tl.float32)
        w = tl.load(M + rn[:, None] * H + rn[None, :], mask=mw, other=0.0)
        for t in range(T):
            acc = tl.load(row_ptrs(A, rb, t, T, H, rn), mask=m2, other=0.0)
            acc += tl.dot(h, w, input_precision=PREC)
            h = _modrelu(acc, bb)
            tl.store(row_ptrs(P, rb, t, T, H, rn), acc, mask=m2)
            tl.store(row_ptrs(Hs, rb, t + 1, T + 1, H, rn), h, mask=m2)

    @triton.jit
    def _modrelu_bwd_resident(dH, P, M, bias, G, GH, DB, B, T, H,
                              BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        rb, mb, rn, mn, m2, mw = resident_block(B, H, BB, HP)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        gh = tl.zeros((BB, HP), dtype=tl.float32)
        db = tl.zeros((BB, HP), dtype=tl.float32)
        w = tl.load(M + rn[None, :] * H + rn[:, None], mask=mw, other=0.0)  # M^T
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            gh += tl.load(row_ptrs(dH, rb, t + 1, T + 1, H, rn), mask=m2, other=0.0)
            p = tl.load(row_ptrs(P, rb, t, T, H, rn), mask=m2, other=0.0)
            on = (tl.abs(p) + bb[None, :]) > 0
            sgn = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
            g = tl.where(on, gh * sgn * sgn, 0.0)
            db += tl.where(on, gh * sgn, 0.0)
            tl.store(row_ptrs(G, rb, t, T, H, rn), g, mask=m2)
            gh = tl.dot(g, w, input_precision=PREC)
        tl.store(GH + rb[:, None] * H + rn[None, :], gh, mask=m2)
        tl.store(DB + rb[:, None] * H + rn[None, :], db, mask=m2)


    @triton.jit
    def _modrelu_fwd_split(A, M, bias, Hs, P, B, T, H, Count, t0, t1, BB: tl.constexpr, HP: tl.constexpr,
                           HS: tl.constexpr, SYNC: tl.constexpr, PREC: tl.constexpr):
        # Program (s, b) owns columns rn of the new state and holds M[:, rn]; each step it reads
        # the whole h_{t-1} its siblings wrote, and loads its next a_t before it waits for them
        # (_triton.launch_split).
        rb, mb, rk, mk, rn, mn, m2, mh = split_block(B, H, BB, HP, HS)
        w = tl.load(M + rk[:, None] * H + rn[None, :], mask=mk[:, None] & mn[None, :], other=0.0)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        a = tl.load(row_ptrs(A, rb, t0, T, H, rn), mask=m2, other=0.0)
        for t in range(t0, t1):
            h = tl.load(row_ptrs(Hs, rb, t, T + 1, H, rk), mask=mh, other=0.0, cache_modifier=".cg")
            acc = a + tl.dot(h, w, input_precision=PREC)
            tl.store(row_ptrs(P, rb, t, T, H, rn), acc, mask=m2)
            tl.store(row_ptrs(Hs, rb, t + 1, T + 1, H, rn), _modrelu(acc, bb), mask=m2)
            a = tl.load(row_ptrs(A, rb, t + 1, T, H, rn), mask=step_mask(m2, rn, t + 1, t1), other=0.0)
            if SYNC:
                step_barrier(Count + tl.program_id(1), tl.num_programs(0) * (t + 1))

    @triton.jit
    def _modrelu_bwd_split(dH, P, M, bias, G, DB, B, T, H, Count, t0, t1, BB: tl.constexpr, HP: tl.constexpr,
                           HS: tl.constexpr, SYNC: tl.constexpr, PREC: tl.constexpr):
        # Program (s, b) owns columns rn of dL/dh and holds M^T[:, rn]. Step i (t = T-1-i) first
        # carries the whole G_{t+1} its siblings wrote back one step, then writes its columns of
        # G_t, loads its inputs of the next step and waits. DB (B, H) holds the running dL/db
        # between launches.
        rb, mb, rk, mk, rn, mn, m2, mh = split_block(B, H, BB, HP, HS)
        w = tl.load(M + rn[None, :] * H + rk[:, None], mask=mk[:, None] & mn[None, :], other=0.0)  # M^T[k, n]
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        sd = rb[:, None] * H + rn[None, :]
        db = tl.load(DB + sd, mask=m2, other=0.0)
        live = step_mask(m2, rn, t0, t1)  # P_t and dL/dh_t (row t + 1 of dH) of the first step
        p = tl.load(row_ptrs(P, rb, T - 1 - t0, T, H, rn), mask=live, other=0.0)
        d = tl.load(row_ptrs(dH, rb, T - t0, T + 1, H, rn), mask=live, other=0.0)
        for i in range(t0, t1):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            mg = step_mask(mh, rk, t + 1, T)  # G_{t+1}, none at t = T - 1
            gn = tl.load(row_ptrs(G, rb, t + 1, T, H, rk), mask=mg, other=0.0, cache_modifier=".cg")
            gh = d + tl.dot(gn, w, input_precision=PREC)
            on = (tl.abs(p) + bb[None, :]) > 0
            sgn = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
            db += tl.where(on, gh * sgn, 0.0)
            tl.store(row_ptrs(G, rb, t, T, H, rn), tl.where(on, gh * sgn * sgn, 0.0), mask=m2)
            nxt = step_mask(m2, rn, i + 1, t1)
            p = tl.load(row_ptrs(P, rb, t - 1, T, H, rn), mask=nxt, other=0.0)
            d = tl.load(row_ptrs(dH, rb, t, T + 1, H, rn), mask=nxt, other=0.0)
            if SYNC:
                step_barrier(Count + tl.program_id(1), tl.num_programs(0) * (i + 1))
        tl.store(DB + sd, db, mask=m2)


def _modrelu_bwd_fake(dH, P, M, bias):
    return torch.empty_like(P), bias.new_empty(bias.shape)


@custom_op("modrelu_bwd", _modrelu_bwd_fake)
def modrelu_bwd(dH: torch.Tensor, P: torch.Tensor, M: torch.Tensor,
                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dHs (B, T+1, H) -> G = dL/d(pre-activation) (B, T, H), dL/dbias (H,)."""
    dH, P = dH.contiguous(), P.contiguous()
    B, T, H = P.shape
    G = torch.empty_like(P)
    GH = torch.zeros(B, H, device=P.device, dtype=P.dtype)
    DB = torch.zeros_like(GH)
    S = split_ways(B, H, P.device, SPLIT)
    if S > 1:
        launch_split(_modrelu_bwd_split, S, B, H, T, dH, P, M.contiguous(), bias.contiguous(), G, DB, B, T, H,
                     prec=precision())
        return G, DB.sum(0)
    launch(_modrelu_bwd_resident, _modrelu_bwd_kernel, B, H, dH, P, M.contiguous(), bias.contiguous(), G, GH, DB,
           B, T, H, resident_max=RESIDENT_MAX, prec=precision())
    return G, DB.sum(0)


def save_matrix_and_states(ctx, inputs, output):
    """setup_context of the real and the complex modReLU ops: M and bias (inputs 1, 2), Hs and P."""
    ctx.save_for_backward(inputs[1], inputs[2], *output)


def _backward(ctx, dHs, dP):
    M, bias, Hs, P = ctx.saved_tensors
    B, T, H = P.shape
    dHs = torch.zeros_like(Hs) if dHs is None else dHs
    G, db = modrelu_bwd(dHs, P, M, bias)
    dM = Hs[:, :-1].reshape(B * T, H).T @ G.reshape(B * T, H)  # (H, H): sum_t h_{t-1}^T g_t
    return G, dM, db


def _modrelu_fwd_fake(a, M, bias):
    B, T, H = a.shape
    return a.new_empty(B, T + 1, H), a.new_empty(B, T, H)


@custom_op("modrelu_fwd", _modrelu_fwd_fake, _backward, save_matrix_and_states)
def modrelu_fwd(a: torch.Tensor, M: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a (B, T, H) -> Hs (B, T+1, H) with the zero initial state in row 0, P the pre-activations."""
    a, M, bias = a.contiguous(), M.contiguous(), bias.contiguous()
    B, T, H = a.shape
    Hs = torch.zeros(B, T + 1, H, device=a.device, dtype=a.dtype)
    P = torch.empty_like(a)
    S = split_ways(B, H, a.device, SPLIT)
    if S > 1:
        launch_split(_modrelu_fwd_split, S, B, H, T, a, M, bias, Hs, P, B, T, H, prec=precision())
        return Hs, P
    launch(_modrelu_fwd_resident, _modrelu_fwd_kernel, B, H, a, M, bias, Hs, P, B, T, H,
           resident_max=RESIDENT_MAX, prec=precision())
    return Hs, P


def modrelu_sequence(a: torch.Tensor, M: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`h_t = modReLU(a_t + h_{t-1} @ M)` from the zero state: a (B, T, H) -> h (B, T, H)."""
    Hs, _ = modrelu_fwd(a, M, bias)
    return Hs[:, 1:]
