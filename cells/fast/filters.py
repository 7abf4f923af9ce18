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

import math

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


def time_major_product(M: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """v = M @ b along time with one (T, T) matrix: b (B, T, F) -> v (T, B, F), time-major
    (as the fused RNN operators take it). b is read as a (T, B F) matrix, so that the
    gradient of M is one (T, T) product, not a (B, T, T) batch."""
    B, T, F = b.shape
    return (M @ b.transpose(0, 1).reshape(T, B * F)).view(T, B, F)


def _full(b: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """`time_major_product`, returned as a (B, T, F) view."""
    return time_major_product(M, b).transpose(0, 1)


def full_is_cheaper(b: torch.Tensor, chunk: int = CHUNK) -> bool:
    """One (T, T) product when its work is small: few features (the [x, 1] streams) or short T."""
    B, T, F = b.shape
    return T <= chunk or T * B * F <= FULL_LIMIT


def decay_matrix(T: int, decay, like: torch.Tensor) -> torch.Tensor:
    """The (T, T) matrix of `decay_filter`: M[i, j] = decay^(i - j) for i >= j, else 0 (dtype
    and device of `like`; `decay` a float or a 0-dim tensor, which gradients reach)."""
    d = _as_tensor(decay, like)
    zero = torch.zeros((), dtype=like.dtype, device=like.device)
    idx = torch.arange(T, device=like.device, dtype=like.dtype)
    e = idx[:, None] - idx[None, :]  # (T, T) exponents i - j
    # pow's gradient is masked where the exponent is 0, so decay = 0 is safe.
    return torch.where(e >= 0, torch.pow(d, e.clamp(min=0)), zero)


def restart_matrix(T: int, restart, like: torch.Tensor) -> torch.Tensor:
    """The (T, T) matrix of `restart_filter` (NAG's restarted c products; dtype and device of `like`)."""
    t = torch.arange(T, device=like.device)
    return _transfer(t[:, None], t[None, :], _as_period(restart, T, like.device), like.dtype)


def decay_filter(b: torch.Tensor, decay, *, chunk: int = CHUNK) -> torch.Tensor:
    """`v_t = decay * v_{t-1} + b_t`, v_{-1} = 0, along dim 1 of b (B, T, F).

    `decay` is a float or a 0-dim tensor (gradients flow into it)."""
    if full_is_cheaper(b, chunk):
        return _full(b, decay_matrix(b.shape[1], decay, b))
    d = _as_tensor(decay, b)
    zero = torch.zeros((), dtype=b.dtype, device=b.device)
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


def _as_period(restart, T: int, device: torch.device) -> torch.Tensor:
    """The restart period as an int64 tensor; 0 (never restart) becomes a period longer than T."""
    if isinstance(restart, torch.Tensor):
        r = restart.to(device=device, dtype=torch.int64)
    else:
        r = torch.full((), int(restart), dtype=torch.int64, device=device)
    return torch.where(r > 0, r, T + 1)


def _clock(t: torch.Tensor, period: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For 0-based steps t (int64): NAG's k = 1, 2, ... (restarted to 1 every `period` steps) and the block index."""
    return torch.remainder(t, period) + 1, torch.div(t, period, rounding_mode="floor")


def _transfer(ti: torch.Tensor, tj: torch.Tensor, period: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The product of NAG's c over the steps (tj, ti]: how v_tj reaches v_ti (0 across a restart or for ti < tj).

    Closed form, so it is built in the graph from the time index (no host-side table):
    prod_{k=a+1}^{b} (k-1)/(k+2) = a(a+1)(a+2) / (b(b+1)(b+2)) inside one restart block."""
    ki, bi = _clock(ti, period)
    kj, bj = _clock(tj, period)
    ki, kj = ki.to(dtype), kj.to(dtype)
    ratio = (kj * (kj + 1) * (kj + 2)) / (ki * (ki + 1) * (ki + 2))
    return torch.where((ti >= tj) & (bi == bj), ratio, torch.zeros((), dtype=dtype, device=ratio.device))


def nag_coefficients(T: int, restart, dtype: torch.dtype = torch.float64,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """c for each step (T,): `c_k = (k-1)/(k+2)`, k = 1, 2, ... restarting after k % F == 0.

    `restart` is an int or a 0-dim tensor (then a new period reuses a compiled graph)."""
    k, _ = _clock(torch.arange(T, device=device), _as_period(restart, T, device))
    k = k.to(dtype)
    return (k - 1) / (k + 2)


def restart_filter(b: torch.Tensor, restart, *, chunk: int = CHUNK) -> torch.Tensor:
    """`v_t = c_t v_{t-1} + b_t` with NAG's restarted coefficients, along dim 1 of b (B, T, F).

    The transfer matrices come from the time index inside the graph (see `_transfer`), so
    torch.export and torch.compile see them as ops, not as constants of one trace."""
    T, device = b.shape[1], b.device
    if full_is_cheaper(b, chunk):
        return _full(b, restart_matrix(T, restart, b))
    bc, _ = _chunked(b, chunk)
    C, L = bc.shape[1], bc.shape[2]
    period = _as_period(restart, C * L, device)
    starts = torch.arange(C, device=device)[:, None, None] * L  # (C, 1, 1)
    i = torch.arange(L, device=device)
    M = _transfer(starts + i[:, None], starts + i[None, :], period, b.dtype)  # (C, L, L)
    p = _transfer(starts[:, 0] + i, starts[:, 0] - 1, period, b.dtype)  # (C, L): from the entering state
    ends = torch.arange(C, device=device) * L - 1
    K = _transfer(ends[:, None], ends[None, :] + L, period, b.dtype)  # (C, C): end of c' to the entry of c
    return _scan(bc, M, p, K, T)


def momentum_filter(g: torch.Tensor, mu, s, *, chunk: int = CHUNK) -> torch.Tensor:
    """Momentum: `v_t = mu v_{t-1} + s g_t`."""
    return decay_filter(g, mu, chunk=chunk) * _as_tensor(s, g)


def nag_filter(g: torch.Tensor, s, restart, *, chunk: int = CHUNK) -> torch.Tensor:
    """Input-form NAG with restarts: `v_t = c_k v_{t-1} + s g_t`."""
    return restart_filter(g, restart, chunk=chunk) * _as_tensor(s, g)


def adam_term(g: torch.Tensor, mu, s, beta, eps: float = 1e-16, *, chunk: int = CHUNK) -> torch.Tensor:
    """Adam (RMSProp with mu = 0): `v_t / sqrt(r_t + eps)`, `r_t = beta r_{t-1} + (1-beta) g_t^2`."""
    beta_t = _as_tensor(beta, g)
    v = momentum_filter(g, mu, s, chunk=chunk) if not _is_zero(mu) else g * _as_tensor(s, g)
    r = decay_filter(g * g, beta_t, chunk=chunk) * (1 - beta_t)
    return v / torch.sqrt(r + eps)


def _is_zero(value) -> bool:
    return not isinstance(value, torch.Tensor) and float(value) == 0.0
