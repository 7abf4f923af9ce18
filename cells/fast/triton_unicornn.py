"""One UnICORNN layer's time loop in one Triton kernel, forward and backward (REFERENCE §2).

    z_t = z_{t-1} - delta * (tanh(w * y_{t-1} + a_t) + alpha * y_{t-1})
    y_t = y_{t-1} + delta * z_t

The recurrent weight w is diagonal, so every (batch row, feature) pair is an independent
scalar recurrence: each program owns a block of them and runs all T steps. `delta`
(= dt * sigmoid(c), computed outside so autograd reaches c) and `w` get their gradients
as per-element sums over time, reduced over the batch after the kernel.
"""

from __future__ import annotations

import torch

from cells.fast._triton import kernel_tanh, tl, triton
from cells.fast.ops import custom_op

BLOCK = 128


if triton is not None:
    tanh = kernel_tanh()  # bound now, as triton.jit binds compiled / interpreted now

    @triton.jit
    def _elements(W, D, N, H, BLOCK: tl.constexpr):
        """This program's BLOCK elements e = b * H + h of the N = B * H recurrences: e, their
        mask, b, h, and the per-feature w and delta they use."""
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = e < N
        h = e % H
        return e, m, e // H, h, tl.load(W + h, mask=m, other=0.0), tl.load(D + h, mask=m, other=0.0)

    @triton.jit
    def _unicornn_fwd_kernel(A, W, D, Y, Z, S, N, T, H, alpha, BLOCK: tl.constexpr):
        e, m, b, h, w, d = _elements(W, D, N, H, BLOCK)
        y = tl.zeros((BLOCK,), dtype=tl.float32)
        z = tl.zeros((BLOCK,), dtype=tl.float32)
        for t in range(T):
            a = tl.load(A + (b * T + t) * H + h, mask=m, other=0.0)
            s = tanh(w * y + a)
            z = z - d * (s + alpha * y)
            y = y + d * z
            tl.store(S + (b * T + t) * H + h, s, mask=m)
            tl.store(Z + (b * (T + 1) + t + 1) * H + h, z, mask=m)
            tl.store(Y + (b * (T + 1) + t + 1) * H + h, y, mask=m)

    @triton.jit
    def _unicornn_bwd_kernel(dY, dZ, Y, Z, S, W, D, G, DW, DD, N, T, H, alpha, BLOCK: tl.constexpr):
        e, m, b, h, w, d = _elements(W, D, N, H, BLOCK)
        gy = tl.zeros((BLOCK,), dtype=tl.float32)
        gz = tl.zeros((BLOCK,), dtype=tl.float32)
        dw = tl.zeros((BLOCK,), dtype=tl.float32)
        dd = tl.zeros((BLOCK,), dtype=tl.float32)
        for i in range(T):  # reverse time (why not a negative-step range: _triton.py)
            t = T - 1 - i
            gy = gy + tl.load(dY + (b * (T + 1) + t + 1) * H + h, mask=m, other=0.0)
            zt = tl.load(Z + (b * (T + 1) + t + 1) * H + h, mask=m, other=0.0)
            yp = tl.load(Y + (b * (T + 1) + t) * H + h, mask=m, other=0.0)
            s = tl.load(S + (b * T + t) * H + h, mask=m, other=0.0)
            dd += gy * zt  # y_t = y_{t-1} + delta z_t
            gz = gz + tl.load(dZ + (b * (T + 1) + t + 1) * H + h, mask=m, other=0.0) + d * gy
            dd -= gz * (s + alpha * yp)  # z_t = z_{t-1} - delta (s_t + alpha y_{t-1})
            g = -d * gz * (1.0 - s * s)
            tl.store(G + (b * T + t) * H + h, g, mask=m)
            dw += g * yp
            gy = gy + g * w - d * alpha * gz
        tl.store(DW + e, dw, mask=m)
        tl.store(DD + e, dd, mask=m)


def _unicornn_bwd_fake(dY, dZ, Y, Z, S, w, delta, alpha):
    return torch.empty_like(S), w.new_empty(w.shape), delta.new_empty(delta.shape)


@custom_op("unicornn_bwd", _unicornn_bwd_fake)
def unicornn_bwd(dY: torch.Tensor, dZ: torch.Tensor, Y: torch.Tensor, Z: torch.Tensor, S: torch.Tensor,
                 w: torch.Tensor, delta: torch.Tensor, alpha: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> G = dL/d a (B, T, H), dL/dw (H,), dL/d delta (H,)."""
    B, T, H = S.shape
    G = torch.empty_like(S)
    DW = torch.empty(B, H, device=S.device, dtype=S.dtype)
    DD = torch.empty_like(DW)
    N = B * H
    _unicornn_bwd_kernel[(triton.cdiv(N, BLOCK),)](dY.contiguous(), dZ.contiguous(), Y, Z, S,
                                                    w.contiguous(), delta.contiguous(), G, DW, DD,
                                                    N, T, H, alpha, BLOCK=BLOCK)
    return G, DW.sum(0), DD.sum(0)


def _setup(ctx, inputs, output):
    a, w, delta, alpha = inputs
    Y, Z, S = output
    ctx.save_for_backward(w, delta, Y, Z, S)
    ctx.alpha = alpha


def _backward(ctx, dY, dZ, dS):
    w, delta, Y, Z, S = ctx.saved_tensors
    dY = torch.zeros_like(Y) if dY is None else dY
    dZ = torch.zeros_like(Z) if dZ is None else dZ
    G, dw, dd = unicornn_bwd(dY, dZ, Y, Z, S, w, delta, ctx.alpha)
    return G, dw, dd, None


def _unicornn_fwd_fake(a, w, delta, alpha):
    B, T, H = a.shape
    return a.new_empty(B, T + 1, H), a.new_empty(B, T + 1, H), a.new_empty(B, T, H)


@custom_op("unicornn_fwd", _unicornn_fwd_fake, _backward, _setup)
def unicornn_fwd(a: torch.Tensor, w: torch.Tensor, delta: torch.Tensor,
                 alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a (B, T, H) -> Y, Z (B, T+1, H) with the zero initial state in row 0, S = tanh(pre)."""
    a = a.contiguous()
    B, T, H = a.shape
    Y = torch.zeros(B, T + 1, H, device=a.device, dtype=a.dtype)
    Z = torch.zeros_like(Y)
    S = torch.empty_like(a)
    N = B * H
    _unicornn_fwd_kernel[(triton.cdiv(N, BLOCK),)](a, w.contiguous(), delta.contiguous(), Y, Z, S,
                                                    N, T, H, alpha, BLOCK=BLOCK)
    return Y, Z, S


def unicornn_sequence(a: torch.Tensor, w: torch.Tensor, delta: torch.Tensor,
                      alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer from the zero state: a (B, T, H) -> y, z sequences (B, T, H) each."""
    Y, Z, _ = unicornn_fwd(a, w, delta, float(alpha))
    return Y[:, 1:], Z[:, 1:]
