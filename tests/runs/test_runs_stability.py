"""Stability measures on cases whose answer is known."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cells
import runs
from runs._stability import EPS, SpikeCounter, grad_ratio_log10, hidden_gradient_norms, hidden_gradients


def rnn(hidden=6, inputs=2, seed=0):
    torch.manual_seed(seed)
    cell = cells.build_cell(cells.CellConfig(core="rnn", input_size=inputs, hidden_size=hidden), impl="reference")
    head = torch.nn.Linear(hidden, 1)
    return cell, head


def last_state_mse(head):
    return (lambda outputs: head(outputs[:, -1])), (lambda pred, y: F.mse_loss(pred.squeeze(-1), y))


def test_zero_recurrent_weight_means_no_gradient_reaches_earlier_states():
    cell, head = rnn()
    with torch.no_grad():
        cell.weight_hh_l0.zero_()
    x, y = torch.randn(5, 12, 2), torch.randn(5)
    _, profile = hidden_gradients(cell, *last_state_mse(head), x, y)
    assert len(profile) == 12
    assert np.all(profile[:-1] == 0.0) and profile[-1] > 0
    ratio = grad_ratio_log10(profile)
    assert ratio == pytest.approx(math.log10(EPS) - math.log10(profile[-1]))
    assert ratio < -30  # fully vanished, yet a finite number a search can minimise


def test_profile_is_the_total_derivative_through_the_recurrence():
    """Against the recursion dL/dh_t = W_hh^T [(1 - h_{t+1}^2) * dL/dh_{t+1}] of a tanh RNN."""
    cell, head = rnn(seed=1)
    with torch.no_grad():
        cell.weight_hh_l0.mul_(3.0)  # strong recurrence: the gradient stays visible for a while
    x, y = torch.randn(4, 9, 2), torch.randn(4)
    loss, profile = hidden_gradients(cell, *last_state_mse(head), x, y)

    with torch.no_grad():
        h, _ = cell(x)  # (B, T, H)
        pred = head(h[:, -1]).squeeze(-1)
        grad = (2.0 / len(y)) * (pred - y)[:, None] * head.weight  # dL/dh_T, (B, H)
        expected = [grad.norm().item()]
        for t in range(h.shape[1] - 1, 0, -1):
            grad = ((1 - h[:, t] ** 2) * grad) @ cell.weight_hh_l0  # dL/dh_{t-1}
            expected.append(grad.norm().item())
    assert profile == pytest.approx(expected[::-1], rel=1e-4)
    assert profile[0] > 0
    assert loss == pytest.approx(F.mse_loss(pred, y).item())


def test_fused_implementation_is_probed_through_its_reference_recurrence():
    cfg = runs.build_run_config(cell={"core": "lstm", "dynamics": "momentum", "hidden_size": 8},
                                task={"name": "adding", "T": 15, "n_train": 32, "n_val": 16, "n_test": 16},
                                train={"device": "cpu"})
    task = runs.load_task(cfg.task)
    torch.manual_seed(0)
    model = runs.build_model(cfg.cell, 1, "last", impl="auto")
    reference = runs.build_model(cfg.cell, 1, "last", impl="reference")
    reference.load_state_dict(model.state_dict())
    x, y = task.val.x, task.val.y
    mse = lambda p, t: F.mse_loss(p.squeeze(-1), t)  # noqa: E731  (the adding task's loss)
    fast = hidden_gradient_norms(model.cell, model.head, mse, x, y)[1].numpy()  # what the loop's probe computes
    _, oracle = hidden_gradients(reference.cell, reference.head, mse, x, y)
    assert fast == pytest.approx(oracle, rel=1e-4)
    assert all(p.grad is None for p in model.parameters())  # the probe leaves training's gradients alone


def test_grad_ratio_signs_and_zero_guard():
    assert grad_ratio_log10(np.array([1e-3, 1.0, 1e-1])) == pytest.approx(-2.0)   # vanishing
    assert grad_ratio_log10(np.array([10.0, 1.0, 0.1])) == pytest.approx(2.0)     # exploding
    assert grad_ratio_log10(np.array([0.0, 0.0])) == 0.0                          # both floored, no NaN
    assert math.isnan(grad_ratio_log10(np.array([np.inf, 1.0])))


def test_spikes_are_counted_against_the_running_median():
    counter = SpikeCounter(factor=3.0, window=100, warmup=20)
    for _ in range(30):
        counter.add(1.0)
    assert counter.add(3.5) and not counter.add(2.9)
    assert counter.count == 1
    early = SpikeCounter()
    assert not early.add(1.0) and not early.add(100.0)  # no median to compare with yet


def test_grad_norm_max_is_measured_before_clipping():
    cfg = runs.build_run_config(cell={"core": "lstm", "hidden_size": 8},
                                task={"name": "adding", "T": 10, "n_train": 64, "n_val": 16, "n_test": 16},
                                train={"device": "cpu", "clip": 1e-3, "batch_size": 16})
    result = runs.train(cfg)
    assert result.stability["grad_norm_max"] > 1e-3
