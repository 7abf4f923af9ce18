"""torch.compile of the model `runs` builds (impl="auto"): equal to eager, and the trials of a
family (other mu, s, beta, restart period) reuse the compiled code instead of compiling again."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cells import CellConfig
from runs._model import build_model

torch.set_num_threads(1)

# One family per fast path that runs on the CPU, with a second trial's values.
CASES = {
    "fused-rnn": (CellConfig(core="lstm", dynamics="momentum", input_size=2, hidden_size=8), {"mu": 0.2, "s": 0.9}),
    "hoisted": (CellConfig(core="orthogonal", dynamics="adam", input_size=2, hidden_size=8),
                {"mu": 0.3, "s": 0.5, "beta": 0.7}),
    "reference": (CellConfig(core="rnn", dynamics="nag_restart", nag_form="paper", input_size=2, hidden_size=8),
                  {"s": 0.4, "restart": 5}),
}


def _loss_and_grads(model, x, y):
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


@pytest.mark.slow
@pytest.mark.parametrize("path", list(CASES))
def test_compiled_model_equals_eager_and_a_new_trial_does_not_recompile(path):
    # dynamo imports triton: not at collection, where tests/fast/test_triton_interpret.py
    # must be the first to import it (under TRITON_INTERPRET=1)
    from torch._dynamo.utils import counters

    cfg, other = CASES[path]
    torch._dynamo.reset()
    x, y = torch.randn(4, 12, 2), torch.randint(0, 3, (4,))

    torch.manual_seed(0)
    model = build_model(cfg, 3, "last")
    eager_loss, eager_grads = _loss_and_grads(model, x, y)
    compiled_loss, compiled_grads = _loss_and_grads(torch.compile(model), x, y)
    assert model.cell.fast_path == path
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for got, expected in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)

    graphs = counters["stats"]["unique_graphs"]
    torch.manual_seed(1)
    trial = build_model(dataclasses.replace(cfg, **other), 3, "last")  # the next trial of the family
    with torch._dynamo.config.patch(error_on_recompile=True):
        trial_loss, _ = _loss_and_grads(torch.compile(trial), x, y)
    assert counters["stats"]["unique_graphs"] == graphs  # no new graph either
    torch.testing.assert_close(trial_loss, _loss_and_grads(trial, x, y)[0], rtol=1e-5, atol=1e-6)


def test_compiling_is_true_under_torch_compile_only():
    """The twin dynamics and the cached-parametrization switch key on `compiling()`: it must be
    True while torch.compile traces (torch 2.11's dynamo folds `is_exporting()` to True there)
    and False in eager runs and under torch.export, which runs the eager code as it finds it."""
    from cells.fast.compiled import compiling

    seen = {}

    class Probe(torch.nn.Module):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def forward(self, x):
            seen[self.tag] = compiling()
            return x + 1

    x = torch.ones(2)
    Probe("eager")(x)
    torch.compile(Probe("compile"), backend="eager")(x)
    torch.export.export(Probe("export"), (x,))
    assert seen == {"eager": False, "compile": True, "export": False}
