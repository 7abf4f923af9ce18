"""coRNN's whole time loop in one Triton kernel, forward and backward (REFERENCE §2).

    z_t = z_{t-1} + dt (tanh(y_{t-1} Wy^T + z_{t-1} Wz^T + a_t) - gamma y_{t-1} - eps z_{t-1})
    y_t = y_{t-1} + dt z_t

`a_t` (B, T, H) is everything that does not depend on the state (the input projection, its
bias, the dynamics' filter) and is computed before the loop as one matrix product. One
program owns BB batch rows and runs all T steps; the state of step t lives in the output
buffers themselves (Y, Z of shape (B, T+1, H), row 0 the zero initial state), read back
in (BB x BK) tiles, so any H works without holding the (H x H) weights in registers. The
backward runs in reverse time and writes G = dL/d(pre-activation) for every step; the
weight gradients are then two large matrix products outside the loop.

Registered as torch custom ops (`momnas::cornn_fwd`, `momnas::cornn_bwd`) with
`register_autograd`, so torch.compile treats the loop as one opaque call.
"""

from __future__ import annotations

import torch

from cells.fast._triton import RESIDENT_MAX, kernel_tanh, launch_options, precision, tile_blocks, tl, triton

BB = 16  # batch rows per program: the smallest tile tl.dot accepts


if triton is not None:
    tanh = kernel_tanh()  # bound now, as triton.jit binds compiled / interpreted now

    @triton.jit
    def _cornn_fwd_kernel(A, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
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
                    mbk = mb[:, None] & mk[None, :]
                    yk = tl.load(Y + (rb[:, None] * (T + 1) + t) * H + rk[None, :], mask=mbk, other=0.0)
                    zk = tl.load(Z + (rb[:, None] * (T + 1) + t) * H + rk[None, :], mask=mbk, other=0.0)
                    mkn = mk[:, None] & mn[None, :]
                    wy = tl.load(Wy + rn[None, :] * H + rk[:, None], mask=mkn, other=0.0)  # Wy^T[k, n]
                    wz = tl.load(Wz + rn[None, :] * H + rk[:, None], mask=mkn, other=0.0)
                    acc += tl.dot(yk, wy, input_precision=PREC)
                    acc += tl.dot(zk, wz, input_precision=PREC)
                yp = tl.load(Y + (rb[:, None] * (T + 1) + t) * H + rn[None, :], mask=m2, other=0.0)
                zp = tl.load(Z + (rb[:, None] * (T + 1) + t) * H + rn[None, :], mask=m2, other=0.0)
                s = tanh(acc)
                zn = zp + dt * (s - gamma * yp - eps * zp)
                yn = yp + dt * zn
                tl.store(S + (rb[:, None] * T + t) * H + rn[None, :], s, mask=m2)
                tl.store(Z + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], zn, mask=m2)
                tl.store(Y + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], yn, mask=m2)
            tl.debug_barrier()  # step t+1 reads what every thread of this program wrote

    @triton.jit
    def _cornn_bwd_kernel(dY, dZ, S, Wy, Wz, G, GY, GZ, B, T, H, dt, gamma, eps,
                          BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # GY, GZ (B, H): the gradient w.r.t. y_t, z_t flowing back from later steps.
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        mb = rb < B
        for i in range(T):
            t = T - 1 - i
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                m2 = mb[:, None] & (rn < H)[None, :]
                st = rb[:, None] * H + rn[None, :]
                gy = tl.load(GY + st, mask=m2, other=0.0) + \
                    tl.load(dY + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], mask=m2, other=0.0)
                gz = tl.load(GZ + st, mask=m2, other=0.0) + \
                    tl.load(dZ + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], mask=m2, other=0.0) + dt * gy
                s = tl.load(S + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
                g = dt * gz * (1.0 - s * s)
                tl.store(G + (rb[:, None] * T + t) * H + rn[None, :], g, mask=m2)
                tl.store(GY + st, gy - dt * gamma * gz, mask=m2)
                tl.store(GZ + st, (1.0 - dt * eps) * gz, mask=m2)
            tl.debug_barrier()
            for n0 in range(0, H, BN):
                rn = n0 + tl.arange(0, BN)
                mn = rn < H
                m2 = mb[:, None] & mn[None, :]
                st = rb[:, None] * H + rn[None, :]
                acc_y = tl.zeros((BB, BN), dtype=tl.float32)
                acc_z = tl.zeros((BB, BN), dtype=tl.float32)
                for k0 in range(0, H, BK):
                    rk = k0 + tl.arange(0, BK)
                    mk = rk < H
                    gk = tl.load(G + (rb[:, None] * T + t) * H + rk[None, :], mask=mb[:, None] & mk[None, :], other=0.0)
                    mkn = mk[:, None] & mn[None, :]
                    wy = tl.load(Wy + rk[:, None] * H + rn[None, :], mask=mkn, other=0.0)  # Wy[k, n]
                    wz = tl.load(Wz + rk[:, None] * H + rn[None, :], mask=mkn, other=0.0)
                    acc_y += tl.dot(gk, wy, input_precision=PREC)
                    acc_z += tl.dot(gk, wz, input_precision=PREC)
                tl.store(GY + st, tl.load(GY + st, mask=m2, other=0.0) + acc_y, mask=m2)
                tl.store(GZ + st, tl.load(GZ + st, mask=m2, other=0.0) + acc_z, mask=m2)
            tl.debug_barrier()


    @triton.jit
    def _cornn_fwd_resident(A, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
                            BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        # H <= HP <= 128: the whole state stays in registers, the weights in L1; no barrier.
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        rn = tl.arange(0, HP)
        mb = rb < B
        mn = rn < H
        m2 = mb[:, None] & mn[None, :]
        mw = mn[:, None] & mn[None, :]
        y = tl.zeros((BB, HP), dtype=tl.float32)
        z = tl.zeros((BB, HP), dtype=tl.float32)
        for t in range(T):
            wy = tl.load(Wy + rn[None, :] * H + rn[:, None], mask=mw, other=0.0)  # Wy^T[k, n]
            wz = tl.load(Wz + rn[None, :] * H + rn[:, None], mask=mw, other=0.0)
            acc = tl.load(A + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
            acc += tl.dot(y, wy, input_precision=PREC)
            acc += tl.dot(z, wz, input_precision=PREC)
            s = tanh(acc)
            z = z + dt * (s - gamma * y - eps * z)
            y = y + dt * z
            tl.store(S + (rb[:, None] * T + t) * H + rn[None, :], s, mask=m2)
            tl.store(Z + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], z, mask=m2)
            tl.store(Y + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], y, mask=m2)

    @triton.jit
    def _cornn_bwd_resident(dY, dZ, S, Wy, Wz, G, GY, GZ, B, T, H, dt, gamma, eps,
                            BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        rn = tl.arange(0, HP)
        mb = rb < B
        mn = rn < H
        m2 = mb[:, None] & mn[None, :]
        mw = mn[:, None] & mn[None, :]
        gy = tl.zeros((BB, HP), dtype=tl.float32)
        gz = tl.zeros((BB, HP), dtype=tl.float32)
        for i in range(T):
            t = T - 1 - i
            wy = tl.load(Wy + rn[:, None] * H + rn[None, :], mask=mw, other=0.0)  # Wy[k, n]
            wz = tl.load(Wz + rn[:, None] * H + rn[None, :], mask=mw, other=0.0)
            gy += tl.load(dY + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], mask=m2, other=0.0)
            gz += tl.load(dZ + (rb[:, None] * (T + 1) + t + 1) * H + rn[None, :], mask=m2, other=0.0) + dt * gy
            s = tl.load(S + (rb[:, None] * T + t) * H + rn[None, :], mask=m2, other=0.0)
            g = dt * gz * (1.0 - s * s)
            tl.store(G + (rb[:, None] * T + t) * H + rn[None, :], g, mask=m2)
            gy = gy - dt * gamma * gz + tl.dot(g, wy, input_precision=PREC)
            gz = (1.0 - dt * eps) * gz + tl.dot(g, wz, input_precision=PREC)
        tl.store(GY + rb[:, None] * H + rn[None, :], gy, mask=m2)
        tl.store(GZ + rb[:, None] * H + rn[None, :], gz, mask=m2)


@torch.library.custom_op("momnas::cornn_fwd", mutates_args=())
def cornn_fwd(a: torch.Tensor, Wy: torch.Tensor, Wz: torch.Tensor, dt: float, gamma: float,
              eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a (B, T, H) float32 -> Y, Z (B, T+1, H) with the zero initial state in row 0, S = tanh(pre)."""
    a, Wy, Wz = a.contiguous(), Wy.contiguous(), Wz.contiguous()
    B, T, H = a.shape
    Y = torch.zeros(B, T + 1, H, device=a.device, dtype=a.dtype)
    Z = torch.zeros_like(Y)
    S = torch.empty_like(a)
    HP = max(16, triton.next_power_of_2(H))
    if HP <= RESIDENT_MAX:
        _cornn_fwd_resident[(triton.cdiv(B, BB),)](a, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
                                                    BB=BB, HP=HP, PREC=precision(dissipative=True), **launch_options(True))
        return Y, Z, S
    BN, BK = tile_blocks(H)
    _cornn_fwd_kernel[(triton.cdiv(B, BB),)](a, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
                                              BB=BB, BN=BN, BK=BK, PREC=precision(dissipative=True), **launch_options(False))
    return Y, Z, S


@cornn_fwd.register_fake
def _(a, Wy, Wz, dt, gamma, eps):
    B, T, H = a.shape
    return a.new_empty(B, T + 1, H), a.new_empty(B, T + 1, H), a.new_empty(B, T, H)


@torch.library.custom_op("momnas::cornn_bwd", mutates_args=())
def cornn_bwd(dY: torch.Tensor, dZ: torch.Tensor, S: torch.Tensor, Wy: torch.Tensor, Wz: torch.Tensor,
              dt: float, gamma: float, eps: float) -> torch.Tensor:
    """dL/dY, dL/dZ (B, T+1, H) -> G = dL/d(pre-activation) (B, T, H)."""
    dY, dZ, S = dY.contiguous(), dZ.contiguous(), S.contiguous()
    B, T, H = S.shape
    G = torch.empty_like(S)
    GY = torch.zeros(B, H, device=S.device, dtype=S.dtype)
    GZ = torch.zeros_like(GY)
    HP = max(16, triton.next_power_of_2(H))
    kernel, blocks = ((_cornn_bwd_resident, {"HP": HP}) if HP <= RESIDENT_MAX else
                      (_cornn_bwd_kernel, dict(zip(("BN", "BK"), tile_blocks(H)))))
    kernel[(triton.cdiv(B, BB),)](dY, dZ, S, Wy.contiguous(), Wz.contiguous(), G, GY, GZ,
                                  B, T, H, dt, gamma, eps, BB=BB, PREC=precision(dissipative=True),
                                  **blocks, **launch_options(HP <= RESIDENT_MAX))
    return G


@cornn_bwd.register_fake
def _(dY, dZ, S, Wy, Wz, dt, gamma, eps):
    return torch.empty_like(S)


def _setup(ctx, inputs, output):
    a, Wy, Wz, dt, gamma, eps = inputs
    Y, Z, S = output
    ctx.save_for_backward(Wy, Wz, Y, Z, S)
    ctx.consts = (dt, gamma, eps)


def _backward(ctx, dY, dZ, dS):
    Wy, Wz, Y, Z, S = ctx.saved_tensors
    B, T, H = S.shape
    dY = torch.zeros_like(Y) if dY is None else dY
    dZ = torch.zeros_like(Z) if dZ is None else dZ
    G = cornn_bwd(dY, dZ, S, Wy, Wz, *ctx.consts)
    G2 = G.reshape(B * T, H)
    dWy = G2.T @ Y[:, :-1].reshape(B * T, H)  # (H, H): sum over steps of g_t^T y_{t-1}
    dWz = G2.T @ Z[:, :-1].reshape(B * T, H)
    return G, dWy, dWz, None, None, None


cornn_fwd.register_autograd(_backward, setup_context=_setup)


def cornn_sequence(a: torch.Tensor, Wy: torch.Tensor, Wz: torch.Tensor, dt: float, gamma: float,
                   eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Run coRNN from the zero state: a (B, T, H) -> y, z sequences (B, T, H) each."""
    Y, Z, _ = cornn_fwd(a, Wy, Wz, float(dt), float(gamma), float(eps))
    return Y[:, 1:], Z[:, 1:]
