"""rnn / lstm / gru: torch.nn names, reproduction of torch.nn, the reference LSTM init."""

import math

import pytest
import torch
from torch import nn

from cells import CellConfig, build_cell

TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@pytest.mark.parametrize("core", list(TORCH))
def test_plain_reproduces_torch(core):
    ref = TORCH[core](3, 5, batch_first=True)
    cell = build_cell(CellConfig(core=core, input_size=3, hidden_size=5))
    assert [n for n, _ in cell.named_parameters()] == [n for n, _ in ref.named_parameters()]
    cell.load_state_dict(ref.state_dict())
    x = torch.randn(4, 9, 3, requires_grad=True)
    out, state = cell(x)
    expected, _ = ref(x)
    torch.testing.assert_close(out, expected)
    # gradients too
    (g_cell,) = torch.autograd.grad(out.square().sum(), x)
    (g_ref,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(g_cell, g_ref)
    final_h = state.core[0] if core == "lstm" else state.core
    torch.testing.assert_close(final_h, out[:, -1])


def test_rnn_step_by_hand():
    cell = build_cell(CellConfig(core="rnn", input_size=1, hidden_size=1)).double()
    with torch.no_grad():
        cell.weight_ih_l0.fill_(0.5), cell.bias_ih_l0.fill_(0.1)
        cell.weight_hh_l0.fill_(-1.0), cell.bias_hh_l0.fill_(0.2)
    out, _ = cell(torch.tensor([[[1.0], [2.0]]], dtype=torch.float64))
    h1 = math.tanh(0.5 + 0.1 + 0.2)
    h2 = math.tanh(1.0 + 0.1 - h1 + 0.2)
    assert out.flatten().tolist() == pytest.approx([h1, h2], abs=1e-12)


def test_momentum_lstm_by_hand():
    """v_t = mu v + s (W x + b_ih), gates = v + U h + b_hh, on a 1-unit LSTM."""
    cfg = CellConfig(core="lstm", dynamics="momentum", mu=0.5, s=2.0, input_size=1, hidden_size=1)
    cell = build_cell(cfg).double()
    with torch.no_grad():
        cell.weight_ih_l0.copy_(torch.tensor([[0.1], [0.2], [0.3], [0.4]], dtype=torch.float64))
        cell.bias_ih_l0.zero_(), cell.bias_hh_l0.zero_(), cell.weight_hh_l0.zero_()
    out, _ = cell(torch.ones(1, 2, 1, dtype=torch.float64))
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    h, c, v = [], 0.0, [0.0] * 4
    for _ in range(2):
        v = [0.5 * vi + 2.0 * w for vi, w in zip(v, (0.1, 0.2, 0.3, 0.4))]
        c = sig(v[1]) * c + sig(v[0]) * math.tanh(v[2])
        h.append(sig(v[3]) * math.tanh(c))
    assert out.flatten().tolist() == pytest.approx(h, abs=1e-12)


def test_lstm_reference_init():
    H = 6
    cell = build_cell(CellConfig(core="lstm", input_size=3, hidden_size=H, fg_init=-4.0))
    torch.testing.assert_close(cell.weight_hh_l0, torch.eye(4 * H, H))
    W = cell.weight_ih_l0  # (4H, 3): orthonormal columns
    torch.testing.assert_close(W.T @ W, torch.eye(3), atol=1e-5, rtol=0)
    for bias in (cell.bias_ih_l0, cell.bias_hh_l0):
        assert torch.all(bias[H:2 * H] == -4.0)
        assert torch.all(bias[:H] == 0) and torch.all(bias[2 * H:] == 0)


def test_gru_refuses_paper_nag_with_the_reason():
    with pytest.raises(ValueError, match="not additive"):
        CellConfig(core="gru", dynamics="nag_restart", nag_form="paper")


def test_cell_interface():
    cell = build_cell(CellConfig(core="lstm", dynamics="adam", input_size=2, hidden_size=3, mu=0.9))
    assert cell.output_size == 3 and cell.config.mu == 0.9
    assert repr(cell) == "LSTMCell(2, 3, dynamics=adam, mu=0.9)"
    with pytest.raises(ValueError, match=r"LSTMCell: expected input \(B, T, input_size\) batch-first 3D, got 2D"):
        cell(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="LSTMCell: expected input_size 2, got 4"):
        cell(torch.zeros(1, 5, 4))
    with pytest.raises(ValueError, match="at least one time step"):
        cell(torch.zeros(1, 0, 2))
    with pytest.raises(TypeError, match="expected a CellConfig, got dict"):
        build_cell({"core": "lstm"})
    with pytest.raises(ValueError, match="impl='turbo' is unknown; impl must be one of reference"):
        build_cell(CellConfig(core="lstm"), impl="turbo")


def test_registered_impls_are_built_by_name(monkeypatch):
    from cells import build as build_module

    built = []

    def factory(cfg):
        built.append(cfg)
        return build_module.IMPLS["reference"](cfg)

    monkeypatch.setitem(build_module.IMPLS, "mine", factory)
    cfg = CellConfig(core="gru", input_size=1, hidden_size=2)
    assert build_cell(cfg, impl="mine").config == cfg and built == [cfg]


def test_state_must_be_a_cell_state():
    cell = build_cell(CellConfig(core="lstm", input_size=1, hidden_size=2))
    with pytest.raises(TypeError, match="expected state=None or the CellState a previous call returned, got tuple"):
        cell(torch.zeros(1, 3, 1), (torch.zeros(1, 2), torch.zeros(1, 2)))
