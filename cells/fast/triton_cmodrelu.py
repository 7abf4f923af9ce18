"""The complex modReLU recurrence of the unitary cores (scuRNN, uRNN) in one Triton kernel.

State h = [Re, Im] (B, 2H), `h_t = cmodReLU(a_t + h_{t-1} @ M)` where M (2H, 2H) is the
real form [[Wr, Wi], [-Wi, Wr]] of the complex W (built outside from the parametrized W, so
autograd reaches its free tensors), `cmodReLU(z) = z relu(|z| + b) / (|z| + 1e-5)` per
complex entry, and the initial state h0 is trained. One program owns BB batch rows and
keeps Re and Im of its state in registers (H <= 64; wider states are read back from the
output buffer in tiles, any H); on a GPU at the widths in SPLIT, S programs share each step
of a batch tile, each holding its columns of Wr and Wi (`_triton.launch_split`), or at the
widths in STREAM_K, where those columns would spill from registers, reading them each step
from L2 in blocks of rows (`_streamed_products`). The
backward runs in reverse time and writes G = dL/d(pre-activation); dM = sum_t h_{t-1}^T G_t
after the loop.
"""

from __future__ import annotations

import torch

from cells.fast._triton import launch, launch_split, precision, split_ways, stream_rows, tl, triton
from cells.fast.ops import custom_op
from cells.fast.triton_modrelu import save_matrix_and_states

EPS = 1e-5  # cells.cores.orthogonal.complex_modrelu
MAX_H = 64  # register-resident up to this H; at 128 its two (H x H) weight blocks overflow shared memory. Tiled above
SPLIT = {128: 4, 256: 8}  # padded H -> programs per step on a GPU (measured)
# padded H -> rows of Wr / Wi read per product in a split step (absent: held in registers). Held, the
# slices spill from registers at H = 256 (benchmarks/kernels_sass.py); read each step in 64-row blocks
# they do not, and the kernel runs 4x faster. At H = 128 holding them is as fast. Knob: OVERRIDES["stream_k"].
STREAM_K = {256: 64}


if triton is not None:
    from cells.fast._triton import (batch_rows, carried, columns, resident_block, rows, split_block, step_barrier,
                                    step_mask, tiled_dot_pair, tiled_product)

    @triton.jit
    def _scale(pr, pi, bb, eps):
        """cmodReLU's factor relu(|z| + b) / (|z| + eps) of z = pr + i pi."""
        m = tl.sqrt(pr * pr + pi * pi)
        return tl.maximum(m + bb[None, :], 0.0) / (m + eps)

    @triton.jit
    def _scale_grad(pr, pi, ghr, ghi, bb, eps):
        """(dL/dpr, dL/dpi, dL/db) of h = cmodReLU(pr + i pi) from dL/dh = ghr + i ghi."""
        m = tl.sqrt(pr * pr + pi * pi)
        on = (m + bb[None, :]) > 0
        relu = tl.maximum(m + bb[None, :], 0.0)
        f = relu / (m + eps)
        fprime = (tl.where(on, m + eps, 0.0) - relu) / ((m + eps) * (m + eps))
        gz = ghr * pr + ghi * pi
        coef = tl.where(m > 0, fprime / tl.where(m > 0, m, 1.0) * gz, 0.0)
        return f * ghr + coef * pr, f * ghi + coef * pi, tl.where(on, gz / (m + eps), 0.0)

    @triton.jit
    def _complex_dots(accr, acci, xr, xi, wr, wi, TRANS: tl.constexpr, PREC: tl.constexpr):
        """(accr, acci) plus [xr, xi] times the blocks (wr, wi) of M's columns (TRANS False:
        Re += xr Wr - xi Wi, Im += xr Wi + xi Wr) or of M^T's (TRANS: Re += xr Wr^T + xi Wi^T,
        Im += xi Wr^T - xr Wi^T): the kernels' complex product, whether the blocks are
        held (the register-resident and split kernels) or read in rows (`_streamed_products`)."""
        if TRANS:
            accr += tl.dot(xr, wr, input_precision=PREC)
            accr += tl.dot(xi, wi, input_precision=PREC)
            acci += tl.dot(xi, wr, input_precision=PREC)
            acci -= tl.dot(xr, wi, input_precision=PREC)
        else:
            accr += tl.dot(xr, wr, input_precision=PREC)
            accr -= tl.dot(xi, wi, input_precision=PREC)
            acci += tl.dot(xr, wi, input_precision=PREC)
            acci += tl.dot(xi, wr, input_precision=PREC)
        return accr, acci

    @triton.jit
    def _cmodrelu_fwd(A, M, bias, Hs, P, B, T, H, eps,
                      BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        # M = [[Wr, Wi], [-Wi, Wr]]: two (H x H) blocks hold it, Re = hr Wr - hi Wi, Im = hr Wi + hi Wr
        rb, mb, rn, mn, m2, mw = resident_block(B, H, BB, HP)
        W2 = 2 * H
        row = rb[:, None] * (T + 1) * W2 + rn[None, :]
        hr = tl.load(Hs + row, mask=m2, other=0.0)  # h0, written by the caller
        hi = tl.load(Hs + row + H, mask=m2, other=0.0)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        k = rn[:, None] * W2 + rn[None, :]
        wr = tl.load(M + k, mask=mw, other=0.0)
        wi = tl.load(M + k + H, mask=mw, other=0.0)
        for t in range(T):
            at = rows(rb, t, T, W2, rn)
            pr = tl.load(A + at, mask=m2, other=0.0)
            pi = tl.load(A + at + H, mask=m2, other=0.0)
            pr, pi = _complex_dots(pr, pi, hr, hi, wr, wi, False, PREC)
            f = _scale(pr, pi, bb, eps)
            hr = pr * f
            hi = pi * f
            tl.store(P + at, pr, mask=m2)
            tl.store(P + at + H, pi, mask=m2)
            ht = rows(rb, t + 1, T + 1, W2, rn)
            tl.store(Hs + ht, hr, mask=m2)
            tl.store(Hs + ht + H, hi, mask=m2)

    @triton.jit
    def _cmodrelu_bwd(dH, P, M, bias, G, GH, DB, B, T, H, eps,
                      BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        # M^T = [[Wr^T, -Wi^T], [Wi^T, Wr^T]]: dL/dhr = gr Wr^T + gi Wi^T, dL/dhi = gi Wr^T - gr Wi^T
        rb, mb, rn, mn, m2, mw = resident_block(B, H, BB, HP)
        W2 = 2 * H
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        ghr = tl.zeros((BB, HP), dtype=tl.float32)
        ghi = tl.zeros((BB, HP), dtype=tl.float32)
        db = tl.zeros((BB, HP), dtype=tl.float32)
        kt = rn[None, :] * W2 + rn[:, None]  # transposed blocks: [k, n] = M[n, k]
        tr = tl.load(M + kt, mask=mw, other=0.0)
        ti = tl.load(M + kt + H, mask=mw, other=0.0)
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            ht = rows(rb, t + 1, T + 1, W2, rn)
            ghr += tl.load(dH + ht, mask=m2, other=0.0)
            ghi += tl.load(dH + ht + H, mask=m2, other=0.0)
            at = rows(rb, t, T, W2, rn)
            pr = tl.load(P + at, mask=m2, other=0.0)
            pi = tl.load(P + at + H, mask=m2, other=0.0)
            gr, gi, dbt = _scale_grad(pr, pi, ghr, ghi, bb, eps)
            db += dbt
            tl.store(G + at, gr, mask=m2)
            tl.store(G + at + H, gi, mask=m2)
            ghr, ghi = _complex_dots(tl.zeros((BB, HP), dtype=tl.float32), tl.zeros((BB, HP), dtype=tl.float32),
                                     gr, gi, tr, ti, True, PREC)
        row = rb[:, None] * W2 + rn[None, :]
        tl.store(GH + row, ghr, mask=m2)
        tl.store(GH + row + H, ghi, mask=m2)
        tl.store(DB + rb[:, None] * H + rn[None, :], db, mask=m2)

    @triton.jit
    def _cmodrelu_fwd_tiled(A, M, bias, Hs, P, B, T, H, eps,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # Wide states: h_{t-1} is read back from Hs in (BB x BK) tiles of the 2H columns.
        rb, mb = batch_rows(B, BB)
        W2 = 2 * H
        for t in range(T):
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                at = rows(rb, t, T, W2, rn)
                pr = tl.load(A + at, mask=m2, other=0.0)
                pi = tl.load(A + at + H, mask=m2, other=0.0)
                # Re from M's left half, Im from its right half
                pr, pi = tiled_dot_pair(pr, pi, Hs, rb, mb, t, T + 1, W2, M, rn, M, rn + H, mn, W2, False, BK, PREC)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                f = _scale(pr, pi, bb, eps)
                tl.store(P + at, pr, mask=m2)
                tl.store(P + at + H, pi, mask=m2)
                ht = rows(rb, t + 1, T + 1, W2, rn)
                tl.store(Hs + ht, pr * f, mask=m2)
                tl.store(Hs + ht + H, pi * f, mask=m2)
            tl.debug_barrier()

    @triton.jit
    def _cmodrelu_bwd_tiled(dH, P, M, bias, G, GH, DB, B, T, H, eps,
                            BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # GH (B, 2H): dL/dh_t from later steps; DB (B, H): per-row sums of dL/db.
        rb, mb = batch_rows(B, BB)
        W2 = 2 * H
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                ghr = carried(GH, dH, rb, rn, m2, t, T, W2)
                ghi = carried(GH + H, dH + H, rb, rn, m2, t, T, W2)
                at = rows(rb, t, T, W2, rn)
                pr = tl.load(P + at, mask=m2, other=0.0)
                pi = tl.load(P + at + H, mask=m2, other=0.0)
                bb = tl.load(bias + rn, mask=mn, other=0.0)
                gr, gi, dbt = _scale_grad(pr, pi, ghr, ghi, bb, eps)
                tl.store(G + at, gr, mask=m2)
                tl.store(G + at + H, gi, mask=m2)
                sd = rb[:, None] * H + rn[None, :]
                tl.store(DB + sd, tl.load(DB + sd, mask=m2, other=0.0) + dbt, mask=m2)
            tl.debug_barrier()
            # GH = G_t @ M^T over the 2H state columns
            tiled_product(GH, G, M, rb, mb, t, T, W2, W2, W2, True, BB, BN, BK, PREC)
            tl.debug_barrier()


    @triton.jit
    def _streamed_products(accr, acci, X, rb, mb, t, T, end, M, rn, mn, H, TRANS: tl.constexpr,
                           BK: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        """`_complex_dots` of row t of X (B, T, 2H) = [xr, xi] with this program's columns rn of M
        (of M^T when TRANS), the weights read from memory (L2) in BK rows at a time: a split
        kernel's slices of the two wide blocks do not fit in registers. The row counts as zero
        where t >= end."""
        W2 = 2 * H
        for k0 in range(0, HP, BK):
            rk = k0 + tl.arange(0, BK)
            mk = rk < H
            xo = rows(rb, t, T, W2, rk)
            mx = step_mask(mb[:, None] & mk[None, :], rk, t, end)
            xr = tl.load(X + xo, mask=mx, other=0.0, cache_modifier=".cg")  # L2: siblings wrote it
            xi = tl.load(X + xo + H, mask=mx, other=0.0, cache_modifier=".cg")
            mw = mk[:, None] & mn[None, :]
            if TRANS:
                k = rn[None, :] * W2 + rk[:, None]  # [k, n] = M[n, k]
            else:
                k = rk[:, None] * W2 + rn[None, :]
            wr = tl.load(M + k, mask=mw, other=0.0)
            wi = tl.load(M + k + H, mask=mw, other=0.0)
            accr, acci = _complex_dots(accr, acci, xr, xi, wr, wi, TRANS, PREC)
        return accr, acci

    @triton.jit
    def _cmodrelu_fwd_split(A, M, bias, Hs, P, B, T, H, eps, Count, t0, t1, BB: tl.constexpr, HP: tl.constexpr,
                            HS: tl.constexpr, BK: tl.constexpr, SYNC: tl.constexpr, PREC: tl.constexpr):
        # Program (s, b) owns complex columns rn of the new state and holds Wr[:, rn], Wi[:, rn];
        # each step it reads the whole h_{t-1} its siblings wrote, and loads its next a_t
        # before it waits for them.
        rb, mb, rk, mk, rn, mn, m2, mh = split_block(B, H, BB, HP, HS)
        W2 = 2 * H
        if BK == HP:  # resident: Wr[:, rn], Wi[:, rn] loaded once
            k = rk[:, None] * W2 + rn[None, :]
            mw = mk[:, None] & mn[None, :]
            wr = tl.load(M + k, mask=mw, other=0.0)
            wi = tl.load(M + k + H, mask=mw, other=0.0)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        at = rows(rb, t0, T, W2, rn)
        ar = tl.load(A + at, mask=m2, other=0.0)
        ai = tl.load(A + at + H, mask=m2, other=0.0)
        for t in range(t0, t1):
            if BK == HP:
                hp = rows(rb, t, T + 1, W2, rk)
                hr = tl.load(Hs + hp, mask=mh, other=0.0, cache_modifier=".cg")  # L2: siblings wrote it
                hi = tl.load(Hs + hp + H, mask=mh, other=0.0, cache_modifier=".cg")
                pr, pi = _complex_dots(ar, ai, hr, hi, wr, wi, False, PREC)
            else:
                pr, pi = _streamed_products(ar, ai, Hs, rb, mb, t, T + 1, t1, M, rn, mn, H, False, BK, HP, PREC)
            f = _scale(pr, pi, bb, eps)
            at = rows(rb, t, T, W2, rn)
            tl.store(P + at, pr, mask=m2)
            tl.store(P + at + H, pi, mask=m2)
            ht = rows(rb, t + 1, T + 1, W2, rn)
            tl.store(Hs + ht, pr * f, mask=m2)
            tl.store(Hs + ht + H, pi * f, mask=m2)
            nxt = step_mask(m2, rn, t + 1, t1)
            ar = tl.load(A + at + W2, mask=nxt, other=0.0)  # a_{t+1}
            ai = tl.load(A + at + W2 + H, mask=nxt, other=0.0)
            if SYNC:
                step_barrier(Count + tl.program_id(1), tl.num_programs(0) * (t + 1))

    @triton.jit
    def _cmodrelu_bwd_split(dH, P, M, bias, G, GH, DB, B, T, H, eps, Count, t0, t1, BB: tl.constexpr,
                            HP: tl.constexpr, HS: tl.constexpr, BK: tl.constexpr, SYNC: tl.constexpr,
                            PREC: tl.constexpr):
        # Program (s, b) owns complex columns rn of dL/dh and holds Wr^T[:, rn], Wi^T[:, rn]. Step
        # i (t = T-1-i) first carries the whole G_{t+1} its siblings wrote back one step, then
        # writes its columns of G_t, loads its inputs of the next step and waits; after the loop
        # (t1 = T) it carries G_0 into GH. DB (B, H) holds the running dL/db between launches.
        rb, mb, rk, mk, rn, mn, m2, mh = split_block(B, H, BB, HP, HS)
        W2 = 2 * H
        if BK == HP:  # resident: Wr^T[:, rn], Wi^T[:, rn] loaded once
            k = rn[None, :] * W2 + rk[:, None]  # transposed: [k, n] = M[n, k]
            mw = mk[:, None] & mn[None, :]
            tr = tl.load(M + k, mask=mw, other=0.0)
            ti = tl.load(M + k + H, mask=mw, other=0.0)
        bb = tl.load(bias + rn, mask=mn, other=0.0)
        sd = rb[:, None] * H + rn[None, :]
        db = tl.load(DB + sd, mask=m2, other=0.0)
        at = rows(rb, T - 1 - t0, T, W2, rn)  # P_t and dL/dh_t (row t + 1 of dH) of the first step
        ht = rows(rb, T - t0, T + 1, W2, rn)
        live = step_mask(m2, rn, t0, t1)
        pr = tl.load(P + at, mask=live, other=0.0)
        pi = tl.load(P + at + H, mask=live, other=0.0)
        dr = tl.load(dH + ht, mask=live, other=0.0)
        di = tl.load(dH + ht + H, mask=live, other=0.0)
        for i in range(t0, t1):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            if BK == HP:
                gp = rows(rb, t + 1, T, W2, rk)  # G_{t+1}, none at t = T - 1
                mg = step_mask(mh, rk, t + 1, T)
                gr = tl.load(G + gp, mask=mg, other=0.0, cache_modifier=".cg")
                gi = tl.load(G + gp + H, mask=mg, other=0.0, cache_modifier=".cg")
                ghr, ghi = _complex_dots(dr, di, gr, gi, tr, ti, True, PREC)
            else:
                ghr, ghi = _streamed_products(dr, di, G, rb, mb, t + 1, T, T, M, rn, mn, H, True, BK, HP, PREC)
            gtr, gti, dbt = _scale_grad(pr, pi, ghr, ghi, bb, eps)
            db += dbt
            at = rows(rb, t, T, W2, rn)
            tl.store(G + at, gtr, mask=m2)
            tl.store(G + at + H, gti, mask=m2)
            nxt = step_mask(m2, rn, i + 1, t1)  # step t - 1's P and dL/dh (row t of dH)
            pr = tl.load(P + at - W2, mask=nxt, other=0.0)
            pi = tl.load(P + at - W2 + H, mask=nxt, other=0.0)
            ht = rows(rb, t, T + 1, W2, rn)
            dr = tl.load(dH + ht, mask=nxt, other=0.0)
            di = tl.load(dH + ht + H, mask=nxt, other=0.0)
            if SYNC:
                step_barrier(Count + tl.program_id(1), tl.num_programs(0) * (i + 1))
        tl.store(DB + sd, db, mask=m2)
        if t1 == T:  # dL/dh0 from the steps: G_0 @ M^T
            row = rb[:, None] * W2 + rn[None, :]
            zero = tl.zeros((BB, HS), dtype=tl.float32)
            if BK == HP:
                gp = rows(rb, 0, T, W2, rk)
                gr = tl.load(G + gp, mask=mh, other=0.0, cache_modifier=".cg")
                gi = tl.load(G + gp + H, mask=mh, other=0.0, cache_modifier=".cg")
                ghr, ghi = _complex_dots(zero, zero, gr, gi, tr, ti, True, PREC)
            else:
                ghr, ghi = _streamed_products(zero, zero, G, rb, mb, 0, T, T, M, rn, mn, H, True, BK, HP, PREC)
            tl.store(GH + row, ghr, mask=m2)
            tl.store(GH + row + H, ghi, mask=m2)


def _cmodrelu_bwd_fake(dH, P, M, bias):
    B, T, W2 = P.shape
    return torch.empty_like(P), bias.new_empty(bias.shape), P.new_empty(B, W2)


@custom_op("cmodrelu_bwd", _cmodrelu_bwd_fake)
def cmodrelu_bwd(dH: torch.Tensor, P: torch.Tensor, M: torch.Tensor,
                 bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> G = dL/d(pre-activation) (B, T, 2H), dL/d bias (H,), dL/d h0 from the steps (B, 2H)."""
    dH, P = dH.contiguous(), P.contiguous()
    B, T, W2 = P.shape
    H = W2 // 2
    G = torch.empty_like(P)
    GH = torch.zeros(B, W2, device=P.device, dtype=P.dtype)
    DB = torch.zeros(B, H, device=P.device, dtype=P.dtype)
    S = split_ways(B, H, P.device, SPLIT)
    if S > 1:
        launch_split(_cmodrelu_bwd_split, S, B, H, T, dH, P, M.contiguous(), bias.contiguous(), G, GH, DB,
                     B, T, H, EPS, prec=precision(), tail=True, block_k=stream_rows(H, STREAM_K))
        return G, DB.sum(0), GH
    launch(_cmodrelu_bwd, _cmodrelu_bwd_tiled, B, H, dH, P, M.contiguous(), bias.contiguous(), G, GH, DB,
           B, T, H, EPS, resident_max=MAX_H, prec=precision())
    return G, DB.sum(0), GH


def _backward(ctx, dHs, dP):
    M, bias, Hs, P = ctx.saved_tensors
    B, T, W2 = P.shape
    dHs = torch.zeros_like(Hs) if dHs is None else dHs
    G, db, gh0 = cmodrelu_bwd(dHs, P, M, bias)
    dM = Hs[:, :-1].reshape(B * T, W2).T @ G.reshape(B * T, W2)  # (2H, 2H)
    return G, dM, db, gh0 + dHs[:, 0]


def _cmodrelu_fwd_fake(a, M, bias, h0):
    B, T, W2 = a.shape
    return a.new_empty(B, T + 1, W2), a.new_empty(B, T, W2)


@custom_op("cmodrelu_fwd", _cmodrelu_fwd_fake, _backward, save_matrix_and_states)
def cmodrelu_fwd(a: torch.Tensor, M: torch.Tensor, bias: torch.Tensor,
                 h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a (B, T, 2H), M (2H, 2H) = real_form(W), bias (H,), h0 (B, 2H) -> Hs (B, T+1, 2H) (row 0 = h0),
    P pre-activations. The register-resident kernel reads only M's two distinct blocks, Wr and Wi."""
    a, M, bias = a.contiguous(), M.contiguous(), bias.contiguous()
    B, T, W2 = a.shape
    H = W2 // 2
    Hs = torch.empty(B, T + 1, W2, device=a.device, dtype=a.dtype)
    Hs[:, 0] = h0
    P = torch.empty_like(a)
    S = split_ways(B, H, a.device, SPLIT)
    if S > 1:
        launch_split(_cmodrelu_fwd_split, S, B, H, T, a, M, bias, Hs, P, B, T, H, EPS, prec=precision(),
                     block_k=stream_rows(H, STREAM_K))
        return Hs, P
    launch(_cmodrelu_fwd, _cmodrelu_fwd_tiled, B, H, a, M, bias, Hs, P, B, T, H, EPS,
           resident_max=MAX_H, prec=precision())
    return Hs, P


def real_form(W: torch.Tensor) -> torch.Tensor:
    """Complex W (H, H) -> M (2H, 2H) with [hr, hi] @ M = [Re, Im] of (hr + i hi) @ W."""
    Wr, Wi = W.real, W.imag
    return torch.cat([torch.cat([Wr, Wi], dim=1), torch.cat([-Wi, Wr], dim=1)], dim=0)


def cmodrelu_sequence(a: torch.Tensor, W: torch.Tensor, bias: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """a (B, T, 2H) [Re, Im], complex W (H, H), h0 (B, 2H) -> h (B, T, 2H)."""
    Hs, _ = cmodrelu_fwd(a, real_form(W), bias, h0)
    return Hs[:, 1:]
