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

from cells.fast._triton import RESIDENT_MAX, kernel_tanh, launch, precision, tl, triton
from cells.fast.ops import custom_op

if triton is not None:
    from cells.fast._triton import batch_rows, carried, columns, resident_block, row_ptrs, tiled_dot_pair, w_tile, x_tile

    tanh = kernel_tanh()  # bound now, as triton.jit binds compiled / interpreted now

    @triton.jit
    def _cornn_fwd_kernel(A, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
                          BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        rb, mb = batch_rows(B, BB)
        for t in range(T):
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                acc = tl.load(row_ptrs(A, rb, t, T, H, rn), mask=m2, other=0.0)
                for k0 in range(0, H, BK):  # + y_{t-1} Wy^T + z_{t-1} Wz^T, the two in one pipelined loop
                    yk = x_tile(Y, rb, mb, t, T + 1, H, k0, BK)
                    zk = x_tile(Z, rb, mb, t, T + 1, H, k0, BK)
                    wy = w_tile(Wy, k0, H, rn, mn, H, True, BK)
                    wz = w_tile(Wz, k0, H, rn, mn, H, True, BK)
                    acc += tl.dot(yk, wy, input_precision=PREC)
                    acc += tl.dot(zk, wz, input_precision=PREC)
                yp = tl.load(row_ptrs(Y, rb, t, T + 1, H, rn), mask=m2, other=0.0)
                zp = tl.load(row_ptrs(Z, rb, t, T + 1, H, rn), mask=m2, other=0.0)
                s = tanh(acc)
                zn = zp + dt * (s - gamma * yp - eps * zp)
                yn = yp + dt * zn
                tl.store(row_ptrs(S, rb, t, T, H, rn), s, mask=m2)
                tl.store(row_ptrs(Z, rb, t + 1, T + 1, H, rn), zn, mask=m2)
                tl.store(row_ptrs(Y, rb, t + 1, T + 1, H, rn), yn, mask=m2)
            tl.debug_barrier()  # step t+1 reads what every thread of this program wrote

    @triton.jit
    def _cornn_bwd_kernel(dY, dZ, S, Wy, Wz, G, GY, GZ, B, T, H, dt, gamma, eps,
                          BB: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        # GY, GZ (B, H): the gradient w.r.t. y_t, z_t flowing back from later steps.
        rb, mb = batch_rows(B, BB)
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            for n0 in range(0, H, BN):
                rn, _, m2 = columns(n0, H, BN, mb)
                st = rb[:, None] * H + rn[None, :]
                gy = carried(GY, dY, rb, rn, m2, t, T, H)
                gz = carried(GZ, dZ, rb, rn, m2, t, T, H) + dt * gy
                s = tl.load(row_ptrs(S, rb, t, T, H, rn), mask=m2, other=0.0)
                g = dt * gz * (1.0 - s * s)
                tl.store(row_ptrs(G, rb, t, T, H, rn), g, mask=m2)
                tl.store(GY + st, gy - dt * gamma * gz, mask=m2)
                tl.store(GZ + st, (1.0 - dt * eps) * gz, mask=m2)
            tl.debug_barrier()
            for n0 in range(0, H, BN):
                rn, mn, m2 = columns(n0, H, BN, mb)
                st = rb[:, None] * H + rn[None, :]
                zero = tl.zeros((BB, BN), dtype=tl.float32)
                acc_y, acc_z = tiled_dot_pair(zero, zero, G, rb, mb, t, T, H, Wy, rn, Wz, rn, mn, H, False, BK, PREC)
                tl.store(GY + st, tl.load(GY + st, mask=m2, other=0.0) + acc_y, mask=m2)
                tl.store(GZ + st, tl.load(GZ + st, mask=m2, other=0.0) + acc_z, mask=m2)
            tl.debug_barrier()


    @triton.jit
    def _cornn_fwd_resident(A, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
                            BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        # H <= HP <= 128: the whole state stays in registers and the weights, loaded once, on chip;
        # no barrier.
        rb, mb, rn, mn, m2, mw = resident_block(B, H, BB, HP)
        y = tl.zeros((BB, HP), dtype=tl.float32)
        z = tl.zeros((BB, HP), dtype=tl.float32)
        wy = tl.load(Wy + rn[None, :] * H + rn[:, None], mask=mw, other=0.0)  # Wy^T[k, n]
        wz = tl.load(Wz + rn[None, :] * H + rn[:, None], mask=mw, other=0.0)
        for t in range(T):
            acc = tl.load(row_ptrs(A, rb, t, T, H, rn), mask=m2, other=0.0)
            acc += tl.dot(y, wy, input_precision=PREC)
            acc += tl.dot(z, wz, input_precision=PREC)
            s = tanh(acc)
            z = z + dt * (s - gamma * y - eps * z)
            y = y + dt * z
            tl.store(row_ptrs(S, rb, t, T, H, rn), s, mask=m2)
            tl.store(row_ptrs(Z, rb, t + 1, T + 1, H, rn), z, mask=m2)
            tl.store(row_ptrs(Y, rb, t + 1, T + 1, H, rn), y, mask=m2)

    @triton.jit
    def _cornn_bwd_resident(dY, dZ, S, Wy, Wz, G, GY, GZ, B, T, H, dt, gamma, eps,
                            BB: tl.constexpr, HP: tl.constexpr, PREC: tl.constexpr):
        rb, mb, rn, mn, m2, mw = resident_block(B, H, BB, HP)
        gy = tl.zeros((BB, HP), dtype=tl.float32)
        gz = tl.zeros((BB, HP), dtype=tl.float32)
        wy = tl.load(Wy + rn[:, None] * H + rn[None, :], mask=mw, other=0.0)  # Wy[k, n]
        wz = tl.load(Wz + rn[:, None] * H + rn[None, :], mask=mw, other=0.0)
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            gy += tl.load(row_ptrs(dY, rb, t + 1, T + 1, H, rn), mask=m2, other=0.0)
            gz += tl.load(row_ptrs(dZ, rb, t + 1, T + 1, H, rn), mask=m2, other=0.0) + dt * gy
            s = tl.load(row_ptrs(S, rb, t, T, H, rn), mask=m2, other=0.0)
            g = dt * gz * (1.0 - s * s)
            tl.store(row_ptrs(G, rb, t, T, H, rn), g, mask=m2)
            gy = gy - dt * gamma * gz + tl.dot(g, wy, input_precision=PREC)
            gz = (1.0 - dt * eps) * gz + tl.dot(g, wz, input_precision=PREC)
        tl.store(GY + rb[:, None] * H + rn[None, :], gy, mask=m2)
        tl.store(GZ + rb[:, None] * H + rn[None, :], gz, mask=m2)


def _cornn_bwd_fake(dY, dZ, S, Wy, Wz, dt, gamma, eps):
    return torch.empty_like(S)


@custom_op("cornn_bwd", _cornn_bwd_fake)
def cornn_bwd(dY: torch.Tensor, dZ: torch.Tensor, S: torch.Tensor, Wy: torch.Tensor, Wz: torch.Tensor,
              dt: float, gamma: float, eps: float) -> torch.Tensor:
    """dL/dY, dL/dZ (B, T+1, H) -> G = dL/d(pre-activation) (B, T, H)."""
    dY, dZ, S = dY.contiguous(), dZ.contiguous(), S.contiguous()
    B, T, H = S.shape
    G = torch.empty_like(S)
    GY = torch.zeros(B, H, device=S.device, dtype=S.dtype)
    GZ = torch.zeros_like(GY)
    launch(_cornn_bwd_resident, _cornn_bwd_kernel, B, H, dY, dZ, S, Wy.contiguous(), Wz.contiguous(), G, GY, GZ,
           B, T, H, dt, gamma, eps, resident_max=RESIDENT_MAX, prec=precision(dissipative=True))
    return G


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


def _cornn_fwd_fake(a, Wy, Wz, dt, gamma, eps):
    B, T, H = a.shape
    return a.new_empty(B, T + 1, H), a.new_empty(B, T + 1, H), a.new_empty(B, T, H)


@custom_op("cornn_fwd", _cornn_fwd_fake, _backward, _setup)
def cornn_fwd(a: torch.Tensor, Wy: torch.Tensor, Wz: torch.Tensor, dt: float, gamma: float,
              eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a (B, T, H) float32 -> Y, Z (B, T+1, H) with the zero initial state in row 0, S = tanh(pre)."""
    a, Wy, Wz = a.contiguous(), Wy.contiguous(), Wz.contiguous()
    B, T, H = a.shape
    Y = torch.zeros(B, T + 1, H, device=a.device, dtype=a.dtype)
    Z = torch.zeros_like(Y)
    S = torch.empty_like(a)
    launch(_cornn_fwd_resident, _cornn_fwd_kernel, B, H, a, Wy, Wz, Y, Z, S, B, T, H, dt, gamma, eps,
           resident_max=RESIDENT_MAX, prec=precision(dissipative=True))
    return Y, Z, S


def cornn_sequence(a: torch.Tensor, Wy: torch.Tensor, Wz: torch.Tensor, dt: float, gamma: float,
                   eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Run coRNN from the zero state: a (B, T, H) -> y, z sequences (B, T, H) each."""
    Y, Z, _ = cornn_fwd(a, Wy, Wz, float(dt), float(gamma), float(eps))
    return Y[:, 1:], Z[:, 1:]
