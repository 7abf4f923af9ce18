"""The paper-form NAG LSTM ("SRLSTM", REFERENCE §1) in one Triton kernel, forward and backward.

    u_t = h_{t-1} U^T + b_h - s g_t,   p_t = u_t + c_t (u_t - u_{t-1}),   LSTM update with gates p_t

The filter depends on h, so nothing but `s g_t` (one product before the loop) leaves the
time loop and cuDNN cannot run it. With c_t = 0 it is the LSTM fed -s g_t as its input
part, which `auto` runs for wide LSTMs. On a GPU at the widths in SPLIT, S programs share
each step of a batch tile, each owning H / S state columns and their four gate rows
(`_triton.launch_split`); otherwise one program owns BB batch rows for all T steps; the
states h, c (B, T+1, H) and u (B, T+1, 4H) live in the output buffers (row 0 the zero
initial state) and are read back in tiles. The backward runs in reverse time and writes
G = dL/du_t for every step (u_t reaches p_t with weight 1 + c_t and p_{t+1} with -c_{t+1});
dU = sum_t G_t^T h_{t-1}, db_h = sum G, d(s g) = -G are products after the loop.
"""

from __future__ import annotations

import torch

from cells.fast._triton import kernel_tanh, launch, launch_split, precision, split_ways, tl, triton
from cells.fast.ops import custom_op

NUM_WARPS = 8  # four gate tiles a step: 8 warps run them faster than the tiled kernels' usual 4
SPLIT = {128: 8, 256: 8}  # padded H -> programs per step on a GPU (measured)

if triton is not None:
    from cells.fast._triton import (batch_rows, carried, columns, row_ptrs, rows, split_block, step_barrier,
                                    step_mask, tiled_product, x_tile)

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


    @triton.jit
    def _gate_tiles(X, rb, t, T, G4, H, rn, m):
        """The four (BB x HS) gate tiles of row t of X (B, T, 4H) at columns rn (zero where not m)."""
        p = row_ptrs(X, rb, t, T, G4, rn)
        return (tl.load(p, mask=m, other=0.0), tl.load(p + H, mask=m, other=0.0),
                tl.load(p + 2 * H, mask=m, other=0.0), tl.load(p + 3 * H, mask=m, other=0.0))

    @triton.jit
    def _store_gates(X, rb, t, T, G4, H, rn, m, a, b, c, d):
        p = row_ptrs(X, rb, t, T, G4, rn)
        tl.store(p, a, mask=m)
        tl.store(p + H, b, mask=m)
        tl.store(p + 2 * H, c, mask=m)
        tl.store(p + 3 * H, d, mask=m)

    @triton.jit
    def _nag_lstm_fwd_split(SG, W, bias, CO, Hs, Cs, Us, P, B, T, H, Count, t0, t1, BB: tl.constexpr,
                            HP: tl.constexpr, HS: tl.constexpr, SYNC: tl.constexpr, PREC: tl.constexpr):
        # Program (s, b) owns state columns rn (and their four gate rows) and holds U^T[:, gate
        # rows]; its own u_{t-1} and c_{t-1} stay in registers. Each step it reads the whole
        # h_{t-1} its siblings wrote, and loads its next s g_t before it waits for them.
        rb, mb, rk, mk, rn, mn, m2, mh = split_block(B, H, BB, HP, HS)
        G4 = 4 * H
        mw = mk[:, None] & mn[None, :]
        wp = W + rn[None, :] * H + rk[:, None]  # U^T[k, gate row n]
        wi = tl.load(wp, mask=mw, other=0.0)
        wf = tl.load(wp + H * H, mask=mw, other=0.0)
        wg = tl.load(wp + 2 * H * H, mask=mw, other=0.0)
        wo = tl.load(wp + 3 * H * H, mask=mw, other=0.0)
        bi, bf, bg, bo = _gate_tiles(bias, rb * 0, 0, 1, G4, H, rn, m2)  # b_h in every row
        qi, qf, qg, qo = _gate_tiles(Us, rb, t0, T + 1, G4, H, rn, m2)  # u_{t-1}
        c = tl.load(row_ptrs(Cs, rb, t0, T + 1, H, rn), mask=m2, other=0.0)
        si, sf, sg, so = _gate_tiles(SG, rb, t0, T, G4, H, rn, step_mask(m2, rn, t0, t1))
        for t in range(t0, t1):
            ct = tl.load(CO + t)
            h = tl.load(row_ptrs(Hs, rb, t, T + 1, H, rk), mask=mh, other=0.0, cache_modifier=".cg")
            ui = tl.dot(h, wi, input_precision=PREC) + bi - si
            uf = tl.dot(h, wf, input_precision=PREC) + bf - sf
            ug = tl.dot(h, wg, input_precision=PREC) + bg - sg
            uo = tl.dot(h, wo, input_precision=PREC) + bo - so
            pi = ui + ct * (ui - qi)
            pf = uf + ct * (uf - qf)
            pg = ug + ct * (ug - qg)
            po = uo + ct * (uo - qo)
            _store_gates(Us, rb, t + 1, T + 1, G4, H, rn, m2, ui, uf, ug, uo)
            _store_gates(P, rb, t, T, G4, H, rn, m2, pi, pf, pg, po)
            c = _sigmoid(pf) * c + _sigmoid(pi) * tanh(pg)
            hs = rows(rb, t + 1, T + 1, H, rn)
            tl.store(Cs + hs, c, mask=m2)
            tl.store(Hs + hs, _sigmoid(po) * tanh(c), mask=m2)
            qi, qf, qg, qo = ui, uf, ug, uo
            si, sf, sg, so = _gate_tiles(SG, rb, t + 1, T, G4, H, rn, step_mask(m2, rn, t + 1, t1))
            if SYNC:
                step_barrier(Count + tl.program_id(1), tl.num_programs(0) * (t + 1))

    @triton.jit
    def _nag_lstm_bwd_split(dHs, dCs, dUs, P, Cs, W, CO, G, DC, DPN, B, T, H, Count, t0, t1, BB: tl.constexpr,
                            HP: tl.constexpr, HS: tl.constexpr, SYNC: tl.constexpr, PREC: tl.constexpr):
        # Program (s, b) owns state columns rn and holds U[:, rn] per gate block. Step i
        # (t = T-1-i) first carries the whole G_{t+1} its siblings wrote back one step
        # (dL/dh_t = G_{t+1} @ U), then writes its columns of G_t, loads its inputs of the next
        # step and waits. DC (B, H) and DPN (B, 4H) hold its running dL/dc and dL/dp between
        # launches.
        rb, mb, rk, mk, rn, mn, m2, mh = split_block(B, H, BB, HP, HS)
        G4 = 4 * H
        mw = mk[:, None] & mn[None, :]
        wp = W + rk[:, None] * H + rn[None, :]  # U[gate row k, n]
        ui = tl.load(wp, mask=mw, other=0.0)
        uf = tl.load(wp + H * H, mask=mw, other=0.0)
        ug = tl.load(wp + 2 * H * H, mask=mw, other=0.0)
        uo = tl.load(wp + 3 * H * H, mask=mw, other=0.0)
        st = rb[:, None] * H + rn[None, :]
        dcc = tl.load(DC + st, mask=m2, other=0.0)
        npi, npf, npg, npo = _gate_tiles(DPN, rb, 0, 1, G4, H, rn, m2)
        # step t's own inputs: p_t, dL/du_t, c_t, c_{t-1}, dL/dh_t and dL/dc_t (row t + 1 of the outputs)
        t = T - 1 - t0
        live = step_mask(m2, rn, t0, t1)
        xi, xf, xg, xo = _gate_tiles(P, rb, t, T, G4, H, rn, live)
        ei, ef, eg, eo = _gate_tiles(dUs, rb, t + 1, T + 1, G4, H, rn, live)
        hs = rows(rb, t + 1, T + 1, H, rn)
        c = tl.load(Cs + hs, mask=live, other=0.0)
        cp = tl.load(Cs + hs - H, mask=live, other=0.0)
        dho = tl.load(dHs + hs, mask=live, other=0.0)
        dco = tl.load(dCs + hs, mask=live, other=0.0)
        for i in range(t0, t1):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            ct = tl.load(CO + t)
            cn = tl.load(CO + t + 1, mask=t + 1 < T, other=0.0)
            mg = step_mask(mh, rk, t + 1, T)  # G_{t+1}, none at t = T - 1
            gn = row_ptrs(G, rb, t + 1, T, G4, rk)
            dh = dho + tl.dot(tl.load(gn, mask=mg, other=0.0, cache_modifier=".cg"), ui, input_precision=PREC)
            dh += tl.dot(tl.load(gn + H, mask=mg, other=0.0, cache_modifier=".cg"), uf, input_precision=PREC)
            dh += tl.dot(tl.load(gn + 2 * H, mask=mg, other=0.0, cache_modifier=".cg"), ug, input_precision=PREC)
            dh += tl.dot(tl.load(gn + 3 * H, mask=mg, other=0.0, cache_modifier=".cg"), uo, input_precision=PREC)
            ig = _sigmoid(xi)
            fg = _sigmoid(xf)
            gg = tanh(xg)
            og = _sigmoid(xo)
            tc = tanh(c)
            dc = dcc + dco + dh * og * (1.0 - tc * tc)
            dpi = dc * gg * ig * (1.0 - ig)
            dpf = dc * cp * fg * (1.0 - fg)
            dpg = dc * ig * (1.0 - gg * gg)
            dpo = dh * tc * og * (1.0 - og)
            dcc = dc * fg
            _store_gates(G, rb, t, T, G4, H, rn, m2, (1.0 + ct) * dpi - cn * npi + ei, (1.0 + ct) * dpf - cn * npf + ef,
                         (1.0 + ct) * dpg - cn * npg + eg, (1.0 + ct) * dpo - cn * npo + eo)
            npi, npf, npg, npo = dpi, dpf, dpg, dpo
            nxt = step_mask(m2, rn, i + 1, t1)  # step t - 1's inputs
            xi, xf, xg, xo = _gate_tiles(P, rb, t - 1, T, G4, H, rn, nxt)
            ei, ef, eg, eo = _gate_tiles(dUs, rb, t, T + 1, G4, H, rn, nxt)
            hs = rows(rb, t, T + 1, H, rn)
            c = cp
            cp = tl.load(Cs + hs - H, mask=nxt, other=0.0)
            dho = tl.load(dHs + hs, mask=nxt, other=0.0)
            dco = tl.load(dCs + hs, mask=nxt, other=0.0)
            if SYNC:
                step_barrier(Count + tl.program_id(1), tl.num_programs(0) * (i + 1))
        tl.store(DC + st, dcc, mask=m2)
        _store_gates(DPN, rb, 0, 1, G4, H, rn, m2, npi, npf, npg, npo)


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
    S = split_ways(B, H, P.device, SPLIT)
    if S > 1:
        launch_split(_nag_lstm_bwd_split, S, B, H, T, dHs.contiguous(), dCs.contiguous(), dUs.contiguous(), P, Cs,
                     W.contiguous(), coeffs.contiguous(), G, DC, DPN, B, T, H, prec=precision(dissipative=True))
        return G
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
    S = split_ways(B, H, sg.device, SPLIT)
    if S > 1:
        launch_split(_nag_lstm_fwd_split, S, B, H, T, sg, W, bias, coeffs, Hs, Cs, Us, P, B, T, H,
                     prec=precision(dissipative=True))
        return Hs, Cs, Us, P
    launch(None, _nag_lstm_fwd, B, H, sg, W, bias, coeffs, Hs, Cs, Us, P, B, T, H, prec=precision(dissipative=True),
           tiled_warps=NUM_WARPS)
    return Hs, Cs, Us, P
