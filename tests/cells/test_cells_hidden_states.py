"""`cells.hidden_states`: the per-step states of the reference recurrence, on the cell's own
parameters, as the stability probe differentiates them."""

import pytest
import torch

from cells import CellConfig, build_cell, hidden_states
from cells.registry import CORE_CLASSES

EXTRA = {"unicornn": {"layers": 2}}


@pytest.mark.parametrize("core", list(CORE_CLASSES))
def test_states_are_the_outputs_and_carry_the_total_derivative(core):
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics="momentum", input_size=2, hidden_size=5, **EXTRA.get(core, {}))
    fast = build_cell(cfg, impl="auto").double().eval()
    reference = build_cell(cfg, impl="reference").double().eval()
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    hs = hidden_states(fast, x)
    outputs = torch.stack(hs, dim=1)
    assert torch.allclose(outputs, reference(x)[0], rtol=1e-10, atol=1e-12)
    w = torch.randn_like(outputs)
    grads = torch.autograd.grad((outputs * w).sum(), hs)
    # h_T reaches the loss only through the readout; h_1 also through every later state
    assert torch.equal(grads[-1], w[:, -1])
    assert not torch.allclose(grads[0], w[:, 0])
    assert all(p.grad is None for p in fast.parameters())


def test_refuses_a_module_that_is_not_a_cell():
    with pytest.raises(TypeError, match="expected a cells Cell"):
        hidden_states(torch.nn.LSTM(2, 3), torch.zeros(1, 2, 2))
