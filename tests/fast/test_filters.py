"""The hoisted filters against step-by-step loops, and their gradients in every input."""

from __future__ import annotations

import pytest
import torch

from cells.dynamics import NAGRestart
from cells.fast import filters


def _loop(b, decays):
    v, out = torch.zeros_like(b[:, 0]), []
    for t in range(b.shape[1]):
        v = decays[t] * v + b[:, t]
        out.append(v)
    return torch.stack(out, 1)


@pytest.fixture(params=["full", "chunked"])
def mode(request, monkeypatch):
    """Both ways of computing a scan: one (T, T) product, or chunks with carried states."""
    monkeypatch.setattr(filters, "FULL_LIMIT", 1 << 40 if request.param == "full" else 0)
    return request.param


@pytest.mark.parametrize("T,chunk", [(1, 64), (63, 64), (64, 64), (65, 64), (200, 16), (784, 64)])
@pytest.mark.parametrize("mu", [0.0, 0.6, 0.99, -0.5])
def test_decay_filter_matches_the_loop(T, chunk, mu, mode):
    b = torch.randn(3, T, 4, dtype=torch.float64)
    out = filters.decay_filter(b, mu, chunk=chunk)
    ref = _loop(b, [mu] * T)
    assert torch.allclose(out, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("restart", [0, 1, 2, 5, 40])
def test_nag_filter_uses_the_dynamics_coefficients(restart, mode):
    T = 150
    dyn = NAGRestart(s=0.7, restart=restart)
    assert filters.nag_coefficients(T, restart).tolist() == pytest.approx([dyn.coefficient(t) for t in range(T)])
    g = torch.randn(2, T, 3, dtype=torch.float64)
    ref, _ = dyn.filter(g)
    assert torch.allclose(filters.nag_filter(g, 0.7, restart, chunk=32), ref, rtol=1e-10, atol=1e-12)


def test_filters_are_differentiable_in_every_input(mode):
    g = torch.randn(2, 37, 3, dtype=torch.float64, requires_grad=True)
    for mu in (0.0, 0.6):
        m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
        s = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda g, m, s: filters.momentum_filter(g, m, s, chunk=8), (g, m, s))
    beta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    m = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda g, m, b: filters.adam_term(g, m, 0.9, b, chunk=8), (g, m, beta))
    assert torch.autograd.gradcheck(lambda g: filters.nag_filter(g, 0.9, 4, chunk=8), (g,))
