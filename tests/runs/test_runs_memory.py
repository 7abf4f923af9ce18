"""runs.estimate_memory / check_fits_memory: sizes that cannot fit are refused from the config alone."""

import time

import numpy as np
import pytest
import torch

import runs
from runs._memory import device_memory

TASK = {"name": "adding", "T": 100}


def config(cell=None, task=None, **train):
    return runs.build_run_config(cell={"core": "lstm", "hidden_size": 128, **(cell or {})}, task=task or TASK,
                                 train={"device": "cpu", **train})


@pytest.fixture(scope="module", autouse=True)
def _meta_kernels_loaded():
    """The first cell a process builds on the meta device loads torch's meta kernels (about a
    second, once); the timings below are the check's own."""
    runs.estimate_memory(config())


@pytest.mark.parametrize("cell,task", [
    ({"hidden_size": 100_000_000}, TASK),
    ({}, {"name": "adding", "T": 1_000_000_000}),  # generating it would take hours and 80 TB
    ({"core": "unicornn", "hidden_size": 100_000_000}, {"name": "copying", "T": 100}),
])
def test_sizes_that_cannot_fit_are_refused_at_once(cell, task):
    started = time.perf_counter()
    with pytest.raises(ValueError) as refused:
        runs.check_fits_memory(config(cell, task))
    assert time.perf_counter() - started < 0.5
    message = str(refused.value)
    assert "\n" not in message and message.startswith("run needs about ")
    assert "parameters" in message and "activations" in message and "data" in message
    assert "but this machine (available RAM) has" in message and "lower --hidden / --T / --batch-size / --n-train" in message


def test_an_npz_whose_labels_would_size_the_readout_is_refused_at_once(tmp_path):
    np.savez(tmp_path / "big.npz", x=np.zeros((10, 5, 1), np.float32), y=np.array([0] * 9 + [2**40]))
    started = time.perf_counter()
    with pytest.raises(ValueError, match="class label 1099511627776") as refused:
        runs.check_fits_memory(config(task={"name": f"npz:{tmp_path / 'big.npz'}"}))
    assert time.perf_counter() - started < 0.5 and "\n" not in str(refused.value)


def test_ordinary_runs_fit_and_their_estimate_is_what_they_hold():
    for task in (TASK, {"name": "digits"}, {"name": "copying", "T": 50}, {"name": "smnist"}):
        assert runs.check_fits_memory(config(task=task)).total < device_memory(torch.device("cpu"))[1]
    cfg = config(task={"name": "digits"}, optimizer="adam")
    estimate = runs.estimate_memory(cfg)
    model = runs.build_model(cfg.cell, 10, "last")
    weights = sum(p.numel() for p in model.parameters())
    assert estimate.parameters == 4 * weights * 4  # weights, gradients, Adam's two moments: float32
    assert estimate.data == 1797 * (64 * 4 + 8)  # every digit, float32 pixels and an int64 label
    sgd = runs.estimate_memory(config(task={"name": "digits"}, optimizer="sgd"))
    assert sgd.parameters == 3 * weights * 4


def test_the_estimate_follows_length_batch_and_width():
    base = runs.estimate_memory(config())
    longer = runs.estimate_memory(config(task={**TASK, "T": 200}))
    assert longer.activations == 2 * base.activations and longer.data == pytest.approx(2 * base.data, rel=0.01)
    assert runs.estimate_memory(config(batch_size=64)).activations == base.activations / 2  # its evaluation passes too
    wider = runs.estimate_memory(config({"hidden_size": 256}))
    assert wider.activations == 2 * base.activations and 3.9 < wider.parameters / base.parameters < 4.0
    assert runs.estimate_memory(config(task={**TASK, "n_train": 5_000})).data == pytest.approx(base.data * 7 / 12, rel=0.01)


def test_the_estimate_holds_the_larger_of_a_training_batch_and_an_evaluation_pass():
    """An evaluation pass keeps no activations for a backward, so it takes 4 training batches by
    default; the estimate counts whichever holds more, and a pass never holds more than a split."""
    small_passes = runs.estimate_memory(config(eval_batch_size=32))
    assert runs.estimate_memory(config(eval_batch_size=64)) == small_passes  # the training batch holds more
    assert runs.estimate_memory(config(batch_size=256, eval_batch_size=32)).activations == 2 * small_passes.activations
    default = runs.estimate_memory(config())
    assert default == runs.estimate_memory(config(eval_batch_size=4 * 128)) and default.activations > small_passes.activations
    assert runs.estimate_memory(config(eval_batch_size=1000)).activations == 2 * \
        runs.estimate_memory(config(eval_batch_size=500)).activations
    assert runs.estimate_memory(config(eval_batch_size=10_000)) == runs.estimate_memory(config(eval_batch_size=1000))  # adding's 1,000


def test_a_run_that_may_be_graphed_counts_the_graphs_pools_too():
    """A graphed run keeps a training batch's activations (128) and the probe's (64) in the
    graphs' pools beside the eager batch's: 2.5 times (evaluation passes here smaller than a batch)."""
    momentum_orthogonal = {"core": "orthogonal", "dynamics": "momentum"}
    eager = runs.estimate_memory(config(cell=momentum_orthogonal, eval_batch_size=64))
    graphed = runs.estimate_memory(config(cell=momentum_orthogonal, eval_batch_size=64, graph="on"))
    assert graphed.activations == 2.5 * eager.activations and graphed.parameters == eager.parameters
    assert runs.estimate_memory(config(cell=momentum_orthogonal, eval_batch_size=64, graph="auto")) == graphed  # a measured family
    assert runs.estimate_memory(config(cell={"core": "gru"}, graph="auto")).activations == \
        runs.estimate_memory(config(cell={"core": "gru"})).activations                       # auto leaves it eager
    assert runs.estimate_memory(config(cell=momentum_orthogonal, eval_batch_size=64, graph="auto",
                                       compile="on")).activations == eager.activations  # compile='on' outranks auto
    # the pools stay beside the larger evaluation passes too
    passes = runs.estimate_memory(config(cell=momentum_orthogonal))
    assert runs.estimate_memory(config(cell=momentum_orthogonal, graph="on")).activations - passes.activations == \
        graphed.activations - eager.activations


def test_an_npz_estimate_comes_from_its_headers_and_labels(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((40, 7, 3), np.float32), y=np.arange(40) % 5)
    cfg = config(task={"name": f"npz:{tmp_path / 'd.npz'}"})
    estimate = runs.estimate_memory(cfg)
    weights = sum(p.numel() for p in runs.build_model(cfg.cell, 5, "last").parameters())  # 3 inputs, 5 classes
    assert cfg.cell.input_size == 3 and estimate.parameters == 4 * weights * 4
    assert estimate.data == 40 * (7 * 3 * 4 + 8)
