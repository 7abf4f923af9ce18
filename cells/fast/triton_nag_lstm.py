"""The paper-form NAG LSTM ("SRLSTM", REFERENCE §1) in one Triton kernel, forward and backward.

    u_t = h_{t-1} U^T + b_h - s g_t,   p_t = u_t + c_t (u_t - u_{t-1}),   LSTM update with gates p_t

The filter depends on h, so nothing but `s g_t` (one product before the loop) leaves the
time loop and cuDNN cannot run it. One program owns BB batch rows for all T steps; the
states h, c (B, T+1, H) and u (B, T+1, 4H) live in the output buffers (row 0 the zero
initial state) and are read back in tiles. The backward runs in reverse time and writes
G = dL/du_t for every step (u_t reaches p_t with weight 1 + c_t and p_{t+1} with -c_{t+1});
dU = sum_t G_t^T h_{t-1}, db_h = sum G, d(s g) = -G are products after the loop.
"""

from __future__ import annotations

import torch

from cells.fast._triton import kernel_tanh, launch, precision, tl, triton
from cells.fast.ops import custom_op

NUM_WARPS = 8  # four gate tiles a step: 8 warps run them faster than the tiled kernels' usual 4

if triton is not None:
    from cells.fast._triton import batch_rows, carried, columns, row_ptrs, rows, tiled_product, x_tile

    tanh = kernel_tanh()  # bound now, as triton.jit binds compiled / interpreted now

    @triton.jit
    def _sigmoid(x):
        return 1.0 / (1.0 + tl.exp(-x))

    @triton.jit
    def _nag_lstm_fwd(SG, W, bias, CO, Hs, Cs, Us, P, B, T, H,
                      BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        rb, mb = batch_rows(B, BB)
        G4 = 4 * H
        for t in range(T):
            ct = tl.load(CO + t)
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                ai = tl.zeros((BB, BN), dtype=tl.float32)
                af = tl.zeros((BB, BN), dtype=tl.float32)
                ag = tl.zeros((BB, BN), dtype=tl.float32)
                ao = tl.zeros((BB, BN), dtype=tl.float32)
                for k0 in range(0, H, BK):
                    rk = k0 + tl.arange(0, BK)
                    mk = rk < H
                    hk = x_tile(Hs, rb, mb, t, T + 1, H, k0, BK)
                    mkn = mk[:, None] & mn[None, :]
                    wp = W + rn[None, :] * H + rk[:, None]  # U^T[k, gate row n]
                    ai += tl.dot(hk, tl.load(wp, mask=mkn, other=0.0), input_precision=PREC)
                    af += tl.dot(hk, tl.load(wp + H * H, mask=mkn, other=0.0), input_precision=PREC)
                    ag += tl.dot(hk, tl.load(wp + 2 * H * H, mask=mkn, other=0.0), input_precision=PREC)
                    ao += tl.dot(hk, tl.load(wp + 3 * H * H, mask=mkn, other=0.0), input_precision=PREC)
                sg = row_ptrs(SG, rb, t, T, G4, rn)
                up = row_ptrs(Us, rb, t, T + 1, G4, rn)  # u_{t-1}
                un = up + G4  # u_t
                pp = row_ptrs(P, rb, t, T, G4, rn)
                ui = ai + tl.load(bias + rn, mask=mn, other=0.0)[None, :] - tl.load(sg, mask=m2, other=0.0)
                uf = af + tl.load(bias + H + rn, mask=mn, other=0.0)[None, :] - tl.load(sg + H, mask=m2, other=0.0)
                ug = ag + tl.load(bias + 2 * H + rn, mask=mn, other=0.0)[None, :] - tl.load(sg + 2 * H, mask=m2, other=0.0)
                uo = ao + tl.load(bias + 3 * H + rn, mask=mn, other=0.0)[None, :] - tl.load(sg + 3 * H, mask=m2, other=0.0)
                pi = ui + ct * (ui - tl.load(up, mask=m2, other=0.0))
                pf = uf + ct * (uf - tl.load(up + H, mask=m2, other=0.0))
                pg = ug + ct * (ug - tl.load(up + 2 * H, mask=m2, other=0.0))
                po = uo + ct * (uo - tl.load(up + 3 * H, mask=m2, other=0.0))
                tl.store(un, ui, mask=m2)
                tl.store(un + H, uf, mask=m2)
                tl.store(un + 2 * H, ug, mask=m2)
                tl.store(un + 3 * H, uo, mask=m2)
                tl.store(pp, pi, mask=m2)
                tl.store(pp + H, pf, mask=m2)
                tl.store(pp + 2 * H, pg, mask=m2)
                tl.store(pp + 3 * H, po, mask=m2)
                hs = rows(rb, t, T + 1, H, rn)
                c = _sigmoid(pf) * tl.load(Cs + hs, mask=m2, other=0.0) + _sigmoid(pi) * tanh(pg)
                tl.store(Cs + hs + H, c, mask=m2)
                tl.store(Hs + hs + H, _sigmoid(po) * tanh(c), mask=m2)
            tl.debug_barrier()

    @triton.jit
    def _nag_lstm_bwd(dHs, dCs, dUs, P, Cs, W, CO, G, DH, DC, DPN, B, T, H,
                      BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # DH, DC (B, H): dL/dh_t, dL/dc_t from later steps; DPN (B, 4H): dL/dp_{t+1}.
        rb, mb = batch_rows(B, BB)
        G4 = 4 * H
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            ct = tl.load(CO + t)
            cn = tl.load(CO + t + 1, mask=t + 1 < T, other=0.0)
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                st = rb[:, None] * H + rn[None, :]
                hs = rows(rb, t + 1, T + 1, H, rn)
                dh = carried(DH, dHs, rb, rn, m2, t, T, H)
                dc = carried(DC, dCs, rb, rn, m2, t, T, H)
                pp = row_ptrs(P, rb, t, T, G4, rn)
                ig = _sigmoid(tl.load(pp, mask=m2, other=0.0))
                fg = _sigmoid(tl.load(pp + H, mask=m2, other=0.0))
                gg = tanh(tl.load(pp + 2 * H, mask=m2, other=0.0))
                og = _sigmoid(tl.load(pp + 3 * H, mask=m2, other=0.0))
                c = tl.load(Cs + hs, mask=m2, other=0.0)
                cp = tl.load(Cs + hs - H, mask=m2, other=0.0)
                tc = tanh(c)
                dc += dh * og * (1.0 - tc * tc)
                dpi = dc * gg * ig * (1.0 - ig)
                dpf = dc * cp * fg * (1.0 - fg)
                dpg = dc * ig * (1.0 - gg * gg)
                dpo = dh * tc * og * (1.0 - og)
                tl.store(DC + st, dc * fg, mask=m2)
                sp = rb[:, None] * G4 + rn[None, :]
                gt = row_ptrs(G, rb, t, T, G4, rn)
                du = row_ptrs(dUs, rb, t + 1, T + 1, G4, rn)
                tl.store(gt, (1.0 + ct) * dpi - cn * tl.load(DPN + sp, mask=m2, other=0.0) +
                         tl.load(du, mask=m2, other=0.0), mask=m2)
                tl.store(gt + H, (1.0 + ct) * dpf - cn * tl.load(DPN + sp + H, mask=m2, other=0.0) +
                         tl.load(du + H, mask=m2, other=0.0), mask=m2)
                tl.store(gt + 2 * H, (1.0 + ct) * dpg - cn * tl.load(DPN + sp + 2 * H, mask=m2, other=0.0) +
                         tl.load(du + 2 * H, mask=m2, other=0.0), mask=m2)
                tl.store(gt + 3 * H, (1.0 + ct) * dpo - cn * tl.load(DPN + sp + 3 * H, mask=m2, other=0.0) +
                         tl.load(du + 3 * H, mask=m2, other=0.0), mask=m2)
                tl.store(DPN + sp, dpi, mask=m2)
                tl.store(DPN + sp + H, dpf, mask=m2)
                tl.store(DPN + sp + 2 * H, dpg, mask=m2)
                tl.store(DPN + sp + 3 * H, dpo, mask=m2)
            tl.debug_barrier()
            # dL/dh_{t-1} = G_t @ U over the 4H gate rows
            tiled_product(DH, G, W, rb, mb, t, T, G4, H, H, False, BB, BN, BK, PREC)
            tl.debug_barrier()


def _nag_lstm_bwd_fake(dHs, dCs, dUs, P, Cs, W, coeffs):
    return torch.empty_like(P)


@custom_op("nag_lstm_bwd", _nag_lstm_bwd_fake)
def nag_lstm_bwd(dHs: torch.Tensor, dCs: torch.Tensor, dUs: torch.Tensor, P: torch.Tensor, Cs: torch.Tensor,
                 W: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """-> G = dL/du_t (B, T, 4H)."""
    B, T, G4 = P.shape
    H = G4 // 4
    G = torch.empty_like(P)
    DH = torch.zeros(B, H, device=P.device, dtype=P.dtype)
    DC = torch.zeros_like(DH)
    DPN = torch.zeros(B, G4, device=P.device, dtype=P.dtype)
    launch(None, _nag_lstm_bwd, B, H, dHs.contiguous(), dCs.contiguous(), dUs.contiguous(), P, Cs,
           W.contiguous(), coeffs.contiguous(), G, DH, DC, DPN, B, T, H, prec=precision(dissipative=True),
           tiled_warps=NUM_WARPS)
    return G


def _setup(ctx, inputs, output):
    sg, W, bias, coeffs = inputs
    Hs, Cs, Us, P = output
    ctx.save_for_backward(W, coeffs, Hs, Cs, P)


def _backward(ctx, dHs, dCs, dUs, dP):
    W, coeffs, Hs, Cs, P = ctx.saved_tensors
    B, T, G4 = P.shape
    dHs = torch.zeros_like(Hs) if dHs is None else dHs
    dCs = torch.zeros_like(Cs) if dCs is None else dCs
    dUs = Hs.new_zeros(B, T + 1, G4) if dUs is None else dUs
    G = nag_lstm_bwd(dHs, dCs, dUs, P, Cs, W, coeffs)
    G2 = G.reshape(B * T, G4)
    dW = G2.T @ Hs[:, :-1].reshape(B * T, G4 // 4)  # (4H, H): sum_t G_t^T h_{t-1}
    return -G, dW, G2.sum(0), None


def _nag_lstm_fwd_fake(sg, W, bias, coeffs):
    B, T, G4 = sg.shape
    return (sg.new_empty(B, T + 1, G4 // 4), sg.new_empty(B, T + 1, G4 // 4), sg.new_empty(B, T + 1, G4),
            sg.new_empty(B, T, G4))


@custom_op("nag_lstm_fwd", _nag_lstm_fwd_fake, _backward, _setup)
def nag_lstm_fwd(sg: torch.Tensor, W: torch.Tensor, bias: torch.Tensor,
                 coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """s g (B, T, 4H), U (4H, H), b_h (4H,), c (T,) -> h, c (B, T+1, H), u (B, T+1, 4H), p (B, T, 4H)."""
    sg, W, bias, coeffs = sg.contiguous(), W.contiguous(), bias.contiguous(), coeffs.contiguous()
    B, T, G4 = sg.shape
    H = G4 // 4
    Hs = torch.zeros(B, T + 1, H, device=sg.device, dtype=sg.dtype)
    Cs = torch.zeros_like(Hs)
    Us = torch.zeros(B, T + 1, G4, device=sg.device, dtype=sg.dtype)
    P = torch.empty_like(sg)
    launch(None, _nag_lstm_fwd, B, H, sg, W, bias, coeffs, Hs, Cs, Us, P, B, T, H, prec=precision(dissipative=True),
           tiled_warps=NUM_WARPS)
    return Hs, Cs, Us, P
