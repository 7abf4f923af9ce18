"""torch.autograd.gradcheck in float64 on tiny sizes: every core under every dynamics."""

import pytest
import torch
from torch.func import functional_call

from cells_helpers import every_family, small_cell


@pytest.mark.parametrize("core,dynamics,extra", every_family())
def test_gradcheck(core, dynamics, extra):
    cell = small_cell(core, dynamics, input_size=2, hidden_size=2, dtype=torch.float64, **extra)
    if core == "enrnn":  # keep the spectral radius away from the latch threshold (rho = 2, latched)
        with torch.no_grad():
            cell.parametrizations.weight_hh2.original.copy_(torch.tensor([[2.0]], dtype=torch.float64))
    names, params = zip(*[(n, p.detach().clone().requires_grad_()) for n, p in cell.named_parameters()])
    x = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)

    def f(x, *values):
        return functional_call(cell, dict(zip(names, values)), (x,))[0]

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-fixed-mask"])
def test_gradcheck_unicornn_with_dropout(training):
    """eval mode: no dropout; training mode: each call reseeded, so every evaluation draws the
    same time-shared mask and the function is the fixed-mask one that gradcheck can check."""
    cell = small_cell("unicornn", "momentum", input_size=2, hidden_size=3, dtype=torch.float64,
                      layers=3, dropout=0.4).train(training)
    names, params = zip(*[(n, p.detach().clone().requires_grad_()) for n, p in cell.named_parameters()])
    x = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)

    def f(x, *values):
        torch.manual_seed(3)
        return functional_call(cell, dict(zip(names, values)), (x,))[0]

    torch.manual_seed(3)
    dropped = cell(x)[0]
    undropped = cell.eval()(x)[0]
    cell.train(training)
    assert torch.equal(dropped, undropped) != training  # the training case does drop something
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5)
