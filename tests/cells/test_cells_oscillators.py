"""coRNN and UnICORNN against their equations, worked by hand on one unit."""

import math

import pytest
import torch

from cells import CellConfig, build_cell
from cells.cell import scan


def test_cornn_by_hand():
    cell = build_cell(CellConfig(core="cornn", input_size=1, hidden_size=1, dt=0.1, gamma=2.0, eps=3.0)).double()
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "bias_ih", "weight_hy", "weight_hz"]
    with torch.no_grad():
        cell.weight_ih.fill_(1.0), cell.bias_ih.fill_(0.2), cell.weight_hy.fill_(0.5), cell.weight_hz.fill_(0.2)
    out, state = cell(torch.ones(1, 2, 1, dtype=torch.float64))
    z1 = 0.1 * math.tanh(1.2)             # y0 = z0 = 0
    y1 = 0.1 * z1                         # y uses the new z
    z2 = z1 + 0.1 * (math.tanh(0.5 * y1 + 0.2 * z1 + 1.2) - 2.0 * y1 - 3.0 * z1)
    y2 = y1 + 0.1 * z2
    assert out.flatten().tolist() == pytest.approx([y1, y2], abs=1e-12)
    assert state.core[1].item() == pytest.approx(z2, abs=1e-12)


def test_momentum_cornn_filters_the_input_projection_with_its_bias():
    cfg = CellConfig(core="cornn", dynamics="momentum", mu=0.5, s=1.0, input_size=1, hidden_size=1, dt=0.1,
                     gamma=0.0, eps=0.0)
    cell = build_cell(cfg).double()
    with torch.no_grad():
        cell.weight_ih.fill_(1.0), cell.bias_ih.fill_(0.2), cell.weight_hy.zero_(), cell.weight_hz.zero_()
    out, _ = cell(torch.ones(1, 2, 1, dtype=torch.float64))
    z1 = 0.1 * math.tanh(1.2)             # v1 = 1.2
    z2 = z1 + 0.1 * math.tanh(1.8)        # v2 = 0.5 * 1.2 + 1.2
    assert out.flatten().tolist() == pytest.approx([0.1 * z1, 0.1 * z1 + 0.1 * z2], abs=1e-12)


def test_unicornn_by_hand():
    cfg = CellConfig(core="unicornn", input_size=1, hidden_size=1, layers=1, dt=0.2, alpha=2.0)
    cell = build_cell(cfg).double()
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih_l0", "bias_ih_l0", "weight_hh_l0", "c_l0"]
    with torch.no_grad():
        cell.weight_ih_l0.fill_(1.0), cell.bias_ih_l0.fill_(0.1), cell.weight_hh_l0.fill_(0.5), cell.c_l0.zero_()
    out, _ = cell(torch.ones(1, 2, 1, dtype=torch.float64))
    delta = 0.2 * 0.5                     # dt * sigmoid(0)
    z1 = -delta * math.tanh(1.1)
    y1 = delta * z1
    z2 = z1 - delta * (math.tanh(0.5 * y1 + 1.1) + 2.0 * y1)
    y2 = y1 + delta * z2
    assert out.flatten().tolist() == pytest.approx([y1, y2], abs=1e-12)


def test_unicornn_stacks_layers():
    cell = build_cell(CellConfig(core="unicornn", input_size=2, hidden_size=3, layers=2)).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    out, state = cell(x)
    # layer 1 runs on layer 0's y sequence
    zero = x.new_zeros(2, 3)
    seq0, _, _ = scan(cell.layer(0), cell.dynamics, cell.layer(0).project(x), (zero, zero), (), 0)
    seq1, _, _ = scan(cell.layer(1), cell.dynamics, cell.layer(1).project(seq0), (zero, zero), (), 0)
    torch.testing.assert_close(out, seq1)
    assert len(state.core) == 2 and cell.weight_ih_l1.shape == (3, 3)


def test_unicornn_init_is_the_reference_code():
    """tk-rusch/unicornn: weight_ih kaiming_uniform_(a=8, fan_in) = U(+-sqrt(6 / (65 fan_in))), bias_ih 0,
    w ~ U(0, 1), c ~ U(-0.1, 0.1) (a kaiming-normal weight_ih is about 8 times wider)."""
    cell = build_cell(CellConfig(core="unicornn", input_size=16, hidden_size=32, layers=2), impl="reference")
    for k, fan_in in ((0, 16), (1, 32)):
        W = getattr(cell, f"weight_ih_l{k}")
        bound = math.sqrt(6.0 / (65 * fan_in))
        assert W.abs().max() <= bound and W.abs().max() > 0.9 * bound
        assert torch.count_nonzero(getattr(cell, f"bias_ih_l{k}")) == 0
        w, c = getattr(cell, f"weight_hh_l{k}"), getattr(cell, f"c_l{k}")
        assert w.min() >= 0 and w.max() <= 1 and w.max() > 0.9
        assert c.abs().max() <= 0.1 and c.abs().max() > 0.09


def test_cornn_init_is_one_linear_over_x_z_y():
    """coRNN's reference: one nn.Linear(I + 2H, H) over cat(x, z, y), torch's default init:
    every weight and the bias ~ U(+-1 / sqrt(I + 2H))."""
    cell = build_cell(CellConfig(core="cornn", input_size=4, hidden_size=30), impl="reference")
    bound = 1.0 / math.sqrt(4 + 2 * 30)
    for p in cell.parameters():
        assert p.abs().max() <= bound and p.abs().max() > 0.8 * bound


# ---- UnICORNN dropout between layers (tk-rusch/unicornn's Dropout_overtime) ----------------

def _stack_by_hand(cell, x, masks):
    """The layers run one by one through `scan`, layer k's y sequence times masks[k] (B, H) or as is (None)."""
    zero = x.new_zeros(x.shape[0], cell.hidden_size)
    inp, seqs = x, []
    for k in range(cell.config.layers):
        layer = cell.layer(k)
        seq, _, _ = scan(layer, cell.dynamics, layer.project(inp), (zero, zero), (), 0)
        seqs.append(seq)
        inp = seq if masks[k] is None else seq * masks[k][:, None, :]
    return inp, seqs


def test_unicornn_dropout_is_one_bernoulli_mask_per_sequence_between_layers():
    p, B, H = 0.5, 3, 16
    cell = build_cell(CellConfig(core="unicornn", input_size=2, hidden_size=H, layers=3, dropout=p)).double()
    assert cell.training
    x = torch.randn(B, 6, 2, dtype=torch.float64)
    seen = []
    between = cell.between_layers
    cell.between_layers = lambda k, y: seen.append((k, y, between(k, y))) or seen[-1][2]
    torch.manual_seed(7)
    out, state = cell(x)
    # the masks of tk-rusch/unicornn, drawn in layer order from the same seed: (B, H), 0 or 1 / (1 - p)
    torch.manual_seed(7)
    m0 = torch.empty(B, H).bernoulli_(1 - p).double() / (1 - p)
    m1 = torch.empty(B, H).bernoulli_(1 - p).double() / (1 - p)
    assert 0 < int((m0 == 0).sum()) < B * H and 0 < int((m1 == 0).sum()) < B * H
    expected, seqs = _stack_by_hand(cell, x, [m0, m1, None])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)  # the last layer's y is not masked
    # layer 0's output as layer 1 receives it: zero on the same units at every step, the others scaled
    k, y, dropped = seen[0]
    assert k == 0 and [s[0] for s in seen] == [0, 1, 2]
    zero_units = (dropped == 0).all(dim=1)  # (B, H): zero over all T steps
    assert torch.equal(zero_units, m0 == 0)
    assert (y != 0).all() and torch.equal(dropped == 0, (m0 == 0)[:, None, :].expand_as(y))
    torch.testing.assert_close(dropped[~(dropped == 0)], (y * 2.0)[~(dropped == 0)], rtol=0, atol=0)
    assert seen[2][2] is seen[2][1]
    # the layers' final states are the unmasked ones
    torch.testing.assert_close(state.core[0][0], seqs[0][:, -1], rtol=0, atol=1e-14)


def test_unicornn_dropout_draws_a_new_mask_each_call_in_training():
    cell = build_cell(CellConfig(core="unicornn", input_size=2, hidden_size=16, layers=2, dropout=0.3)).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    first, second = cell(x)[0], cell(x)[0]
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, cell.eval()(x)[0])


def test_unicornn_eval_mode_has_no_dropout():
    cfg = CellConfig(core="unicornn", dynamics="momentum", input_size=2, hidden_size=8, layers=3, dropout=0.5)
    cell = build_cell(cfg).double().eval()
    plain = build_cell(CellConfig(**{**cfg.to_dict(), "dropout": 0.0})).double()
    plain.load_state_dict(cell.state_dict())
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    rng = torch.get_rng_state()
    out, state = cell(x)
    assert torch.equal(torch.get_rng_state(), rng)  # nothing drawn
    out0, state0 = plain(x)
    assert torch.equal(out, out0) and torch.equal(state.core[0][0], state0.core[0][0])


@pytest.mark.parametrize("layers", [1, 3])
def test_unicornn_p0_and_one_layer_are_the_undropped_stack(layers):
    """p = 0 (the default) in training mode, or a single layer with p > 0 (no layer follows it):
    exactly the stack without masks, and torch's RNG untouched."""
    p = 0.0 if layers == 3 else 0.9
    cell = build_cell(CellConfig(core="unicornn", input_size=2, hidden_size=5, layers=layers, dropout=p)).double()
    assert cell.training
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    rng = torch.get_rng_state()
    out, _ = cell(x)
    assert torch.equal(torch.get_rng_state(), rng)
    expected, _ = _stack_by_hand(cell, x, [None] * layers)
    assert torch.equal(out, expected)
