"""The dynamics of cells.dynamics, for a whole sequence at once (from the zero state).

`hoisted(dynamics, g)` returns what `dynamics.filter(g)` returns (the term a (B, T, G) and
the final filter state), through the chunked scans of `filters`, or for adam / rmsprop in
float32 on CUDA (or TRITON_INTERPRET=1) the one-pass kernel of `triton_adam`, which reads
g through its time-major view. `linear_input(dynamics, x)` serves the linear filters
(momentum, input-form NAG, plain) in the commuted form of REFERENCE §6: filter the input x
and a constant 1 instead of g = x W^T + b, which is exact because the filter commutes with
the projection, and is (I + 1) / G times the work. `adam_from_input` serves `auto`'s fused
RNN operators, its stream time-major (T, B, G) as they take it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cells.dynamics import Adam, Dynamics, Momentum, NAGRestart, Plain

from . import filters


def linear(dynamics: Dynamics) -> bool:
    """Whether the dynamics is a linear filter of g (so it commutes with the projection)."""
    if isinstance(dynamics, NAGRestart):
        return dynamics.nag_form == "input"
    return isinstance(dynamics, (Plain, Momentum)) and not isinstance(dynamics, Adam)


def hoistable(dynamics: Dynamics) -> bool:
    """Whether `hoisted` handles this dynamics (everything but the paper-form NAG)."""
    return linear(dynamics) or isinstance(dynamics, Adam)


def _unit_filter(dynamics: Dynamics, b: Tensor) -> Tensor:
    """The filter with s = 1 (the linear part), along dim 1 of b (B, T, F)."""
    if isinstance(dynamics, Plain):
        return b
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


def linear_input(dynamics: Dynamics, x: Tensor) -> tuple[Tensor, float | Tensor]:
    """For a linear dynamics: x (B, T, I) -> (xf (B, T, I + 1), scale) such that
    `filter(x W^T + b) = scale * xf @ [W | b]^T` (the last column of xf is the filtered 1)."""
    ones = x.new_ones(1, x.shape[1], 1)
    xf = _unit_filter(dynamics, x)
    cf = _unit_filter(dynamics, ones).expand(x.shape[0], -1, -1)
    scale = 1.0 if isinstance(dynamics, Plain) else dynamics.s
    return torch.cat([xf, cf], dim=2), scale


def adam_from_input(dynamics: Adam, x: Tensor, W: Tensor, b: Tensor) -> tuple[Tensor, tuple]:
    """Adam / RMSProp over g = x W^T + b: x (B, T, I) -> (a (T, B, G), (v_T, r_T) (B, G)),
    a time-major for the fused RNN operators (batch_first=False), as `hoisted(dynamics, g)`.

    The kernel filters a time-major g, projected from the (tiny) transposed x. Without it,
    the linear half (v) is filtered in the commuted form, v = s [x~, c~] [W | b]^T, only
    r = filter(g^2) on the wide stream, batch-major (the layout of `filters`), and a is
    returned as its time-major view."""
    if _fused(x) and not _traced(dynamics):
        return _adam_kernel(dynamics, torch.nn.functional.linear(x.transpose(0, 1), W, b))
    g = torch.nn.functional.linear(x, W, b)  # (B, T, G)
    if _has_momentum(dynamics):
        xf, _ = linear_input(Momentum(mu=dynamics.mu, s=1.0), x)  # (B, T, I + 1)
        v = torch.nn.functional.linear(xf, torch.cat([W, b[:, None]], dim=1)) * dynamics.s
    else:
        v = dynamics.s * g
    r = filters.decay_filter(g * g, dynamics.beta) * (1.0 - dynamics.beta)
    return (v * torch.rsqrt(r + dynamics.eps)).transpose(0, 1), (v[:, -1], r[:, -1])


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

    a, v, r = adam_filter(g, float(dynamics.mu), float(dynamics.s), float(dynamics.beta), float(dynamics.eps))
    return a, (v[-1], r[-1])
