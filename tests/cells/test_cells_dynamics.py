"""The five dynamics against hand-worked cases, and the properties every cell must keep under them."""

import math

import pytest
import torch

from cells import CellConfig, build_cell
from cells.config import CORES, DYNAMICS
from cells.dynamics import Adam, Momentum, NAGRestart, Plain, RMSProp
from cells_helpers import every_family, small_cell


def seq(*values):
    """A (B=1, T, G=1) sequence."""
    return torch.tensor(values, dtype=torch.float64).view(1, -1, 1)


def test_momentum_by_hand():
    a, (v,) = Momentum(mu=0.5, s=2.0).filter(seq(1.0, 0.0, -1.0))
    assert a.flatten().tolist() == [2.0, 1.0, -1.5]  # 2; 0.5*2; 0.5*1 - 2
    assert v.item() == -1.5


def test_adam_by_hand():
    a, (v, r) = Adam(mu=0.5, s=1.0, beta=0.5).filter(seq(2.0, 0.0))
    # v: 2, 1; r: 0.5*4 = 2, 0.5*2 = 1; a = v / sqrt(r + 1e-16)
    assert a.flatten().tolist() == pytest.approx([math.sqrt(2.0), 1.0], abs=1e-12)
    assert (v.item(), r.item()) == (1.0, 1.0)


def test_adam_eps_is_inside_the_square_root():
    # g = 1e-8, beta = 0: r = 1e-16, a = 1e-8 / sqrt(1e-16 + 1e-16) = 1 / sqrt(2) (eps outside: ~1); g = 0: a = 0
    a, _ = Adam(mu=0.0, s=1.0, beta=0.0).filter(seq(1e-8, 0.0))
    assert a.flatten().tolist() == pytest.approx([1 / math.sqrt(2.0), 0.0], rel=1e-12, abs=1e-12)


def test_rmsprop_is_adam_without_momentum():
    a, _ = RMSProp(s=1.0, beta=0.5).filter(seq(2.0, 1.0))
    assert a.flatten().tolist() == pytest.approx([math.sqrt(2.0), 1.0 / math.sqrt(1.5)], abs=1e-12)
    g = torch.randn(2, 5, 3, dtype=torch.float64)
    assert torch.equal(RMSProp(s=0.3, beta=0.2).filter(g)[0], Adam(mu=0.0, s=0.3, beta=0.2).filter(g)[0])
    with pytest.raises(ValueError, match="RMSProp is Adam with mu = 0"):
        RMSProp(mu=0.5)


@pytest.mark.parametrize("restart,expected", [
    (2, [0, 1 / 4, 0, 1 / 4, 0]),
    (3, [0, 1 / 4, 2 / 5, 0, 1 / 4]),
    (1, [0, 0, 0, 0, 0]),
    (0, [0, 1 / 4, 2 / 5, 3 / 6, 4 / 7]),  # never restarts
])
def test_nag_restart_schedule(restart, expected):
    nag = NAGRestart(s=1.0, restart=restart)
    assert [nag.coefficient(t) for t in range(5)] == pytest.approx(expected)


def test_nag_input_form_by_hand():
    a, _ = NAGRestart(s=1.0, restart=3).filter(seq(1.0, 1.0, 1.0, 1.0))
    assert a.flatten().tolist() == pytest.approx([1.0, 1.25, 1.5, 1.0])  # restart after the third step


def test_nag_paper_form_by_hand():
    cell = build_cell(CellConfig(core="rnn", dynamics="nag_restart", nag_form="paper", s=1.0, restart=0,
                                 input_size=1, hidden_size=1)).double()
    with torch.no_grad():
        cell.weight_ih_l0.fill_(2.0), cell.bias_ih_l0.fill_(0.5)
        cell.weight_hh_l0.fill_(0.5), cell.bias_hh_l0.fill_(0.1)
    out, _ = cell(seq(1.0, 1.0))
    u1 = 0.1 - 2.5                       # u = U h + b_h - s g, h0 = 0
    h1 = math.tanh(u1)                   # c_1 = 0
    u2 = 0.5 * h1 + 0.1 - 2.5
    h2 = math.tanh(u2 + 0.25 * (u2 - u1))  # c_2 = 1/4
    assert out.flatten().tolist() == pytest.approx([h1, h2], abs=1e-12)


def test_plain_passes_through():
    g = torch.randn(2, 4, 3)
    assert torch.equal(Plain().filter(g)[0], g)


@pytest.mark.parametrize("dynamics", [Momentum(0.3, 0.7), Adam(0.2, 0.5, 0.3), RMSProp(s=0.4, beta=0.6), NAGRestart(0.8, 3)])
def test_filter_equals_steps_and_carries_state(dynamics):
    g = torch.randn(2, 7, 3, dtype=torch.float64)
    whole, state = dynamics.filter(g)
    first, mid = dynamics.filter(g[:, :3])
    second, end = dynamics.filter(g[:, 3:], mid, t0=3)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    for a, b in zip(state, end):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("core", list(CORES))
def test_momentum_zero_one_is_plain(core):
    plain = small_cell(core, "plain", dtype=torch.float64)
    momentum = small_cell(core, "momentum", mu=0.0, s=1.0, dtype=torch.float64)
    momentum.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(momentum(x)[0], plain(x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("core", list(CORES))
def test_dynamics_add_no_parameters(core):
    counts = {d: sum(p.numel() for p in small_cell(core, d).parameters()) for d in DYNAMICS}
    assert len(set(counts.values())) == 1, counts
    names = {d: [n for n, _ in small_cell(core, d).named_parameters()] for d in DYNAMICS}
    assert all(n == names["plain"] for n in names.values())


def test_momentum_lstm_parameter_count_as_published():
    # MomentumRNN paper: 68,362 (n = 128) and 267,786 (n = 256) on sMNIST, readout Linear(n, 10) included
    for n, published in ((128, 68_362), (256, 267_786)):
        cell = build_cell(CellConfig(core="lstm", dynamics="momentum", input_size=1, hidden_size=n))
        assert sum(p.numel() for p in cell.parameters()) + n * 10 + 10 == published


@pytest.mark.parametrize("core,dynamics,extra", every_family())
def test_chunks_continue_the_sequence(core, dynamics, extra):
    """Calling the cell on two halves, passing the state, equals one call (state includes NAG's clock)."""
    cell = small_cell(core, dynamics, dtype=torch.float64, **extra)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    whole, _ = cell(x)
    first, state = cell(x[:, :4])
    second, end = cell(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    assert end.t == 6
