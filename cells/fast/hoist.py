"""The dynamics of cells.dynamics, for a whole sequence at once (from the zero state).

`hoisted(dynamics, g)` returns what `dynamics.filter(g)` returns (the term a (B, T, G) and
the final filter state), through the chunked scans of `filters`, or for adam / rmsprop in
float32 on CUDA (or TRITON_INTERPRET=1) the one-pass kernel of `triton_adam`, which reads
g through its time-major view. `linear_input(dynamics, x)` serves the linear filters
(momentum, input-form NAG, plain) in the commuted form of REFERENCE §6: filter the input x
and a constant 1 instead of g = x W^T + b, which is exact because the filter commutes with
the projection, and is (I + 1) / G times the work; its time-major result is what `auto`'s fused
RNN operators take, and the parts that depend on no tensor (the filter matrix, the filtered
1) are kept between calls in the cell's `constants.Constants`. `adam_from_input` serves the
fused RNN operators too, its stream time-major (T, B, G).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cells.dynamics import Adam, Dynamics, Momentum, NAGRestart, Plain

from . import filters
from .constants import Constants


def linear(dynamics: Dynamics) -> bool:
    """Whether the dynamics is a linear filter of g (so it commutes with the projection)."""
    if isinstance(dynamics, NAGRestart):
        return dynamics.nag_form == "input"
    return isinstance(dynamics, (Plain, Momentum))


def hoistable(dynamics: Dynamics) -> bool:
    """Whether `hoisted` handles this dynamics (everything but the paper-form NAG)."""
    return linear(dynamics) or isinstance(dynamics, Adam)


def _unit_filter(dynamics: Dynamics, b: Tensor) -> Tensor:
    """The filter with s = 1 (the linear part), along dim 1 of b (B, T, F); momentum (Adam's
    v included) or input-form NAG: plain has nothing to filter, and its callers return first."""
    if isinstance(dynamics, NAGRestart):
        return filters.restart_filter(b, dynamics.restart)
    return filters.decay_filter(b, dynamics.mu)


def hoisted(dynamics: Dynamics, g: Tensor) -> tuple[Tensor, tuple]:
    """g (B, T, G) -> (a (B, T, G), final filter state), as `dynamics.filter(g)` from zero state."""
    if isinstance(dynamics, Plain):
        return g, ()
    if isinstance(dynamics, Adam):  # rmsprop included (mu = 0)
        if _fused(g) and not _traced(dynamics):
            a, state = _adam_kernel(dynamics, g.transpose(0, 1))  # the kernel reads g in place
            return a.transpose(0, 1), state
        v = _unit_filter(dynamics, g) * dynamics.s if _has_momentum(dynamics) else dynamics.s * g
        r = filters.decay_filter(g * g, dynamics.beta) * (1.0 - dynamics.beta)
        return v / torch.sqrt(r + dynamics.eps), (v[:, -1], r[:, -1])
    if linear(dynamics):
        v = _unit_filter(dynamics, g) * dynamics.s
        return v, (v[:, -1],)
    raise ValueError(f"hoisted: {type(dynamics).__name__}(nag_form='paper') depends on h and cannot be hoisted")


def linear_input(dynamics: Dynamics, x: Tensor, constants: Constants | None = None) -> Tensor:
    """For a linear dynamics other than plain (momentum, input-form NAG; plain needs no filter,
    and the fused-rnn path feeds it x as it is): x (B, T, I) -> u (T, B, I + 1), time-major, such that
    `filter(x W^T + b) = (u @ [W | b]^T).transpose(0, 1)`: the filtered x and the filtered
    constant 1, both times s (its last column).

    With `constants` (a cell's `Constants`) and Python-valued dynamics, the (T, T) filter
    matrix (times s) and the filtered 1 are made once per (dynamics, T, dtype, device), so
    a call is one product and a concatenation; compiled code (tensor values) and
    torch.export rebuild them in the graph."""
    B, T, _ = x.shape
    if constants is None or _traced(dynamics):
        ones = x.new_ones(1, T, 1)
        return torch.cat([_filtered(dynamics, x), _filtered(dynamics, ones).expand(T, B, 1)], dim=2)
    key = (dynamics, T, x.dtype, x.device)
    if filters.full_is_cheaper(x):
        M = constants.get(("matrix", key), lambda: _unit_matrix(dynamics, T, x) * dynamics.s)  # (T, T)
        xf = filters.time_major_product(M, x)  # (T, B, I)
    else:
        xf = _filtered(dynamics, x)
    c = constants.get(("filtered 1", key), lambda: _filtered(dynamics, x.new_ones(1, T, 1)))  # (T, 1, 1)
    return torch.cat([xf, c.expand(T, B, 1)], dim=2)


def _filtered(dynamics: Dynamics, b: Tensor) -> Tensor:
    """The linear filter of b (B, T, F) with its scale s, time-major (T, B, F)."""
    return (_unit_filter(dynamics, b) * dynamics.s).transpose(0, 1)


def _unit_matrix(dynamics: Dynamics, T: int, like: Tensor) -> Tensor:
    """The (T, T) matrix of the filter with s = 1 (`_unit_filter` as one product)."""
    if isinstance(dynamics, NAGRestart):
        return filters.restart_matrix(T, dynamics.restart, like)
    return filters.decay_matrix(T, dynamics.mu, like)


def adam_from_input(dynamics: Adam, x: Tensor, W: Tensor, b: Tensor,
                    constants: Constants | None = None) -> tuple[Tensor, tuple]:
    """Adam / RMSProp over g = x W^T + b: x (B, T, I) -> (a (T, B, G), (v_T, r_T) (B, G)),
    a time-major for the fused RNN operators (batch_first=False), as `hoisted(dynamics, g)`.

    Where x has a few features and needs no gradient (a task's data), the kernel makes g
    itself (`triton_adam.adam_filter_x`); otherwise it filters a time-major g, projected
    from the transposed x. Without the kernel, the linear half (v) is filtered in the
    commuted form, v = s [x~, c~] [W | b]^T (`linear_input`, with `constants`), only
    r = filter(g^2) on the wide stream, batch-major (the layout of `filters`)."""
    if _fused(x) and not _traced(dynamics):
        from .triton_adam import X_INPUTS_MAX, adam_filter_x

        if x.shape[2] <= X_INPUTS_MAX and not x.requires_grad:  # g made in the kernel (no gradient for x)
            a, v, r = adam_filter_x(x, W, b, *_adam_constants(dynamics))
            return a, (v[-1], r[-1])
        return _adam_kernel(dynamics, _time_major_projection(x, W, b))
    g = torch.nn.functional.linear(x, W, b)  # (B, T, G)
    if _has_momentum(dynamics):
        u = linear_input(Momentum(mu=dynamics.mu, s=dynamics.s), x, constants)  # (T, B, I + 1)
        v = torch.nn.functional.linear(u, torch.cat([W, b[:, None]], dim=1))  # (T, B, G)
    else:
        v = dynamics.s * g.transpose(0, 1)
    r = filters.decay_filter(g * g, dynamics.beta) * (1.0 - dynamics.beta)  # (B, T, G)
    return v * torch.rsqrt(r.transpose(0, 1) + dynamics.eps), (v[-1], r[:, -1])


def _time_major_projection(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """g = x W^T + b, time-major: x (B, T, I) -> (T, B, G), as one GEMM with the bias added
    in it (`linear` of the 3-D transposed view is a product then a separate bias pass over
    the whole (T, B, G) stream, 205 MB at B = 128, T = 784, G = 512)."""
    B, T, I = x.shape
    return torch.addmm(b, x.transpose(0, 1).reshape(T * B, I), W.t()).view(T, B, -1)


def _has_momentum(dynamics: Adam) -> bool:
    """Whether v needs its filter: mu is a tensor (compiled: any value) or a nonzero float."""
    return isinstance(dynamics.mu, Tensor) or dynamics.mu != 0.0


def _traced(dynamics: Dynamics) -> bool:
    """Whether the dynamics holds tensor values (while compiling, `compiled.traced_dynamics`):
    the one-pass kernel takes them as Python floats, so the torch filters serve instead."""
    return any(isinstance(getattr(dynamics, f), Tensor) for f in ("mu", "s", "beta") if hasattr(dynamics, f))


def _fused(t: Tensor) -> bool:
    """Whether the one-pass Triton filter applies to a stream like t (float32 on CUDA, or
    TRITON_INTERPRET=1)."""
    from ._triton import available

    return t.dtype == torch.float32 and available(t.device)


def _adam_kernel(dynamics: Adam, g: Tensor) -> tuple[Tensor, tuple]:
    """g (T, B, G) -> (a (T, B, G), (v_T, r_T)) through the one-pass Triton filter."""
    from .triton_adam import adam_filter

    a, v, r = adam_filter(g, *_adam_constants(dynamics))
    return a, (v[-1], r[-1])


def _adam_constants(dynamics: Adam) -> tuple[float, float, float, float]:
    """(mu, s, beta, eps) as the kernels take them."""
    return float(dynamics.mu), float(dynamics.s), float(dynamics.beta), float(dynamics.eps)
