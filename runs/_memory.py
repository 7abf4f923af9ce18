"""How much memory a run needs, from its config alone, and a one-line refusal of what cannot fit.

`estimate_memory(config)` allocates nothing and generates no data: the cell is built on the
meta device (shapes without storage) to count its weights, and the task declares its sizes
(`TaskSpec.sizes`: an npz file's array headers and labels are read, never its x). The
activation term is approximate: what autograd keeps per time step differs between the fast
paths, the reference loop and the GPU kernels; against the peak memory of one CPU training
step (the ten cores, H 128-256, T 400-784) it was within a factor of 1.6 either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import torch

import cells
from runs._config import RunConfig
from runs._environment import resolve_device
from runs._graph import may_graph
from runs._loop import PROBE_SIZE
from runs._tasks import task_spec

FLOAT = 4  # bytes of a float32
# Tensors of optimizer state per weight (Adam: two moments; RMSprop: the square average;
# SGD: the heavy-ball buffer); an optimizer not listed is counted as Adam.
_OPTIMIZER_STATE = {"adam": 2, "rmsprop": 1, "sgd": 1}


class MemoryEstimate(NamedTuple):
    """Bytes a run needs, by what holds them."""

    parameters: int   # weights and buffers, their gradients, the optimizer's state
    activations: int  # what one training batch keeps for the backward pass over all T steps
    data: int         # the task's arrays, every split (inputs float32, targets)

    @property
    def total(self) -> int:
        return self.parameters + self.activations + self.data


def estimate_memory(config: RunConfig) -> MemoryEstimate:
    """The memory `runs.train(config)` needs, estimated without allocating it.

    parameters: the cell's weights (counted on the meta device) and the readout's, each with
    its gradient and the optimizer's state tensors; the cell's buffers.
    activations: the larger of a training batch's and an evaluation pass's. A training batch (at
    least the probe's 64) keeps, per time step and sequence, for each layer: the projection g
    and the filtered term a (G floats each, G the gate width), the dynamics' state (one G per
    state tensor), the core's step (about 2 G for its gates and nonlinearities, 4 H_out for its
    states and output); and the readout's logits and their gradient at every step when it reads
    every step. An evaluation pass (`train.eval_rows` sequences, no gradients) holds one layer's
    at a time: its input and output, g, a and the dynamics' state, and the logits. Where
    `train.graph` may graph the run, a training batch's and the probe's more (the graphs' pools
    hold theirs beside what eager steps and evaluations allocate).
    data: N x T x D float32 inputs and the targets of the train, validation and test splits.

    Example (sMNIST through an LSTM of 128 units, batches of 128, 784 steps; in MiB):
        >>> from runs import build_run_config
        >>> config = build_run_config(cell={"core": "lstm", "hidden_size": 128}, task={"name": "smnist"})
        >>> [round(part / 2**20) for part in estimate_memory(config)]  # parameters, activations, data
        [1, 1960, 210]
    """
    spec, argument = task_spec(config.task.name)
    sizes = spec.sizes(config.task, argument)
    with torch.device("meta"):  # shapes only: a cell of 10^8 units costs nothing here
        cell = cells.build_cell(config.cell, impl="reference")
    weights = sum(p.numel() for p in cell.parameters()) + sizes.outputs * (cell.output_size + 1)  # + the readout
    buffers = sum(b.numel() for b in cell.buffers())
    parameters = FLOAT * (weights * (2 + _OPTIMIZER_STATE.get(config.train.optimizer, 2)) + buffers)

    G, H = cell.gate_size, cell.output_size
    logits = sizes.outputs if spec.readout == "all" else 0
    per_step = cell.layer_count * ((4 + cell.dynamics.n_state) * G + 4 * H + 2 * logits)
    batch = max(min(config.train.batch_size, sizes.n_train), PROBE_SIZE)  # the probe recurs with grad too
    # a validation / test pass (no grad) holds one layer's input, projection g, filtered a, the
    # dynamics' state (the filters return it for a backward either way) and output
    eval_step = (2 + cell.dynamics.n_state) * G + 2 * H + logits
    eval_rows = min(config.train.eval_rows, max(sizes.n_val, sizes.n_test))
    steps = max(batch * per_step, eval_rows * eval_step)
    if may_graph(config.train.graph, config.cell.family, compile=config.train.compile):
        steps += (batch + PROBE_SIZE) * per_step  # the graphs' own pools keep a training batch's and the probe's
    activations = FLOAT * sizes.T * steps

    examples = sizes.n_train + sizes.n_val + sizes.n_test
    data = examples * (FLOAT * sizes.T * sizes.D + 8 * sizes.targets_per_example)
    return MemoryEstimate(int(parameters), int(activations), int(data))


def check_fits_memory(config: RunConfig, device: str | torch.device | None = None) -> MemoryEstimate:
    """`estimate_memory(config)`, or a one-line ValueError when it exceeds what `device`
    (default: the run's `train.device`) has: a GPU's total memory, or for the CPU the
    machine's available RAM."""
    device = resolve_device(config.train.device if device is None else str(device))
    estimate = estimate_memory(config)
    where, has = device_memory(device)
    if estimate.total > has:
        raise ValueError(
            f"run needs about {_size(estimate.total)} (parameters {_size(estimate.parameters)}, activations "
            f"{_size(estimate.activations)}, data {_size(estimate.data)}) but {where} has {_size(has)}; "
            "lower --hidden / --T / --batch-size / --n-train")
    return estimate


def device_memory(device: torch.device) -> tuple[str, int]:
    """(what the device is called, its bytes): a CUDA device's total memory, else the RAM
    this machine has available now (MemAvailable; the CPU and Apple's MPS share it)."""
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return f"{device} ({properties.name})", properties.total_memory
    return "this machine (available RAM)", _available_ram()


def _available_ram() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # no /proc/meminfo (macOS): the total RAM


def _size(n: float) -> str:
    """Bytes in binary units: "512 MiB", "2.22 GiB", "2 PiB"."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{n:.3g} {units[i]}" if n < 1000 else f"{n:.0f} {units[i]}"
