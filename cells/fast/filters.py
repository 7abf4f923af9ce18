"""The dynamics' input filters for all time steps at once (REFERENCE §1).

Every dynamics except the paper-form NAG filters the input projection `g_t` with a
linear recurrence `v_t = a_t v_{t-1} + b_t` whose coefficients do not depend on h, so
the whole stream can be computed before the recurrence. We do it as a chunked
lower-triangular decay-matrix product: inside a chunk of L steps, `v = M @ b` with
`M[i, j] = a_{j+1} ... a_i`, one batched matrix product for all chunks; between chunks only
the last state of each chunk is carried (T / L tiny sequential steps). Everything is
ordinary autograd, so the filters are differentiable in every input, mu, s and beta
included. Shapes: streams are (B, T, F), the filter acts along T, per feature.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

CHUNK = 64  # 784 steps -> 13 chunks: (64 x 64) products for wide streams (adam's g: B x 4H features)
FULL_LIMIT = 1 << 20  # T * B * F up to this: one (T, T) product (the [x, 1] streams: 784 x 128 x 2)


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=like.dtype, device=like.device)
    return torch.full((), float(value), dtype=like.dtype, device=like.device)  # a fill: torch.tensor would copy from the host and wait


def _chunk_length(T: int, chunk: int) -> int:
    """A chunk length near `chunk` that divides T (784 -> 56), so that no padded copy of the
    stream is made; `chunk` itself when no divisor lies within a factor of two."""
    if T <= chunk:
        return T
    divisors = [d for d in range(chunk // 2, 2 * chunk + 1) if T % d == 0]
    return min(divisors, key=lambda d: abs(d - chunk)) if divisors else chunk


def _chunked(b: torch.Tensor, chunk: int) -> tuple[torch.Tensor, int]:
    """(B, T, F) -> (B, C, L, F), zero-padded at the end; returns it and T."""
    B, T, F = b.shape
    L = _chunk_length(T, chunk)
    C = math.ceil(T / L)
    if C * L != T:
        b = torch.nn.functional.pad(b, (0, 0, 0, C * L - T))
    return b.reshape(B, C, L, F), T


def _scan(b: torch.Tensor, M: torch.Tensor, p: torch.Tensor, K: torch.Tensor, T: int) -> torch.Tensor:
    """Chunked linear scan, three batched products and no loop over time.

    b (B, C, L, F); M (C|1, L, L) the in-chunk transfer matrices; p (C|1, L) the decay from
    the state entering a chunk to each of its steps; K (C, C) the transfer from the end of
    chunk c' to the entry of chunk c (zero for c' >= c)."""
    B, C, L, F = b.shape
    local = torch.matmul(M, b)  # (B, C, L, F): each chunk from a zero state
    if C > 1:
        carry = torch.matmul(K, local[:, :, -1])  # (B, C, F): state entering each chunk
        local = local + p.expand(C, L)[None, :, :, None] * carry[:, :, None, :]
    return local.reshape(B, C * L, F)[:, :T]


def _full(b: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """v = M @ b along time with one (T, T) matrix, b (B, T, F) as a (T, B F) matrix (so that
    the gradient of M is one (T, T) product, not a (B, T, T) batch)."""
    B, T, F = b.shape
    v = M @ b.transpose(0, 1).reshape(T, B * F)  # (T, B F)
    return v.reshape(T, B, F).transpose(0, 1)


def _full_is_cheaper(b: torch.Tensor, chunk: int) -> bool:
    """One (T, T) product when its work is small: few features (the [x, 1] streams) or short T."""
    B, T, F = b.shape
    return T <= chunk or T * B * F <= FULL_LIMIT


def decay_filter(b: torch.Tensor, decay, *, chunk: int = CHUNK) -> torch.Tensor:
    """`v_t = decay * v_{t-1} + b_t`, v_{-1} = 0, along dim 1 of b (B, T, F).

    `decay` is a float or a 0-dim tensor (gradients flow into it)."""
    d = _as_tensor(decay, b)
    zero = torch.zeros((), dtype=b.dtype, device=b.device)
    # pow's gradient is masked where the exponent is 0, so decay = 0 is safe.
    if _full_is_cheaper(b, chunk):
        idx = torch.arange(b.shape[1], device=b.device, dtype=b.dtype)
        e = idx[:, None] - idx[None, :]  # (T, T) exponents i - j
        return _full(b, torch.where(e >= 0, torch.pow(d, e.clamp(min=0)), zero))
    bc, T = _chunked(b, chunk)
    C, L = bc.shape[1], bc.shape[2]
    idx = torch.arange(L, device=b.device, dtype=b.dtype)
    e = idx[:, None] - idx[None, :]  # (L, L)
    M = torch.where(e >= 0, torch.pow(d, e.clamp(min=0)), zero)
    p = torch.pow(d, idx + 1)  # decay from the entering state to step i
    ci = torch.arange(C, device=b.device, dtype=b.dtype)
    ce = ci[:, None] - ci[None, :] - 1  # whole chunks between the end of c' and the entry of c
    K = torch.where(ce >= 0, torch.pow(d, L * ce.clamp(min=0)), zero)
    return _scan(bc, M[None], p[None], K, T)


def nag_coefficients(T: int, restart: int) -> np.ndarray:
    """c for each step: `c_k = (k-1)/(k+2)`, k = 1, 2, ... restarting after k % F == 0."""
    t = np.arange(T)
    k = (t % restart) + 1 if restart > 0 else t + 1
    return (k - 1) / (k + 2)


@functools.lru_cache(maxsize=32)
def nag_coefficients_on(T: int, restart: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`nag_coefficients` as a tensor on `device`, copied once (a host copy per forward waits for the GPU)."""
    return torch.as_tensor(nag_coefficients(T, restart), dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _varying_matrices(coeffs: tuple, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-chunk transfer matrices M, entry decays p and chunk-to-chunk transfer K for fixed
    per-step decays a_t (float64, cached); chunk = T gives the one full (T, T) matrix."""
    a = np.asarray(coeffs, dtype=np.float64)
    T = a.size
    L = _chunk_length(T, chunk)
    C = math.ceil(T / L)
    a = np.concatenate([a, np.ones(C * L - T)])
    M = np.zeros((C, L, L))
    p = np.zeros((C, L))
    for c in range(C):
        seg = a[c * L:(c + 1) * L]
        for i in range(L):
            M[c, i, i] = 1.0
            for j in range(i - 1, -1, -1):
                M[c, i, j] = M[c, i, j + 1] * seg[j + 1]
            p[c, i] = np.prod(seg[:i + 1])
    K = np.zeros((C, C))
    for c in range(C):
        for c2 in range(c):
            K[c, c2] = np.prod(p[c2 + 1:c, -1])
    return M, p, K


def varying_decay_filter(b: torch.Tensor, coeffs: np.ndarray, *, chunk: int = CHUNK) -> torch.Tensor:
    """`v_t = a_t v_{t-1} + b_t` with fixed (not trained) per-step decays a (length T)."""
    key = tuple(float(c) for c in coeffs)
    if _full_is_cheaper(b, chunk):
        M, _, _ = _on_device(key, b.shape[1], b.dtype, b.device)
        return _full(b, M[0])
    bc, T = _chunked(b, chunk)
    return _scan(bc, *_on_device(key, chunk, b.dtype, b.device), T)


@functools.lru_cache(maxsize=32)
def _on_device(key: tuple, chunk: int, dtype: torch.dtype, device: torch.device):
    """The constant matrices, copied to the device once (not one host copy per forward)."""
    return tuple(torch.as_tensor(m, dtype=dtype, device=device) for m in _varying_matrices(key, chunk))


def momentum_filter(g: torch.Tensor, mu, s, *, chunk: int = CHUNK) -> torch.Tensor:
    """Momentum: `v_t = mu v_{t-1} + s g_t`."""
    return decay_filter(g, mu, chunk=chunk) * _as_tensor(s, g)


def nag_filter(g: torch.Tensor, s, restart: int, *, chunk: int = CHUNK) -> torch.Tensor:
    """Input-form NAG with restarts: `v_t = c_k v_{t-1} + s g_t`."""
    coeffs = nag_coefficients(g.shape[1], int(restart))
    return varying_decay_filter(g, coeffs, chunk=chunk) * _as_tensor(s, g)


def adam_term(g: torch.Tensor, mu, s, beta, eps: float = 1e-16, *, chunk: int = CHUNK) -> torch.Tensor:
    """Adam (RMSProp with mu = 0): `v_t / sqrt(r_t + eps)`, `r_t = beta r_{t-1} + (1-beta) g_t^2`."""
    beta_t = _as_tensor(beta, g)
    v = momentum_filter(g, mu, s, chunk=chunk) if not _is_zero(mu) else g * _as_tensor(s, g)
    r = decay_filter(g * g, beta_t, chunk=chunk) * (1 - beta_t)
    return v / torch.sqrt(r + eps)


def _is_zero(value) -> bool:
    return not isinstance(value, torch.Tensor) and float(value) == 0.0
