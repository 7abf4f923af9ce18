"""GPUs per trial: `--gpus-per-trial auto` (the default) packs GPU_SHARE of a GPU per trial.

Trials of every family share a GPU: the recurrence kernels fill a few of its SMs at one
trial's batch, and under CUDA MPS (search._mps) the kernels of several processes run at once.
cuDNN's LSTM gains less from company than the Triton families but loses nothing, and a
search's stream mixes families; giving every family the same share also lets any trial reuse
any finished trial's Ray worker (Tune hands a worker on only to a trial that asks for the
same resources). The measurements behind the share: docs/benchmarks.md, "Packing trials".

`auto` is 0 GPUs where the machine (or, with --address, the joined cluster) has none, and
GPU_SHARE otherwise. A number gives every trial that share instead.
"""

from __future__ import annotations

import dataclasses
import math
import os
from fractions import Fraction
from typing import Any

AUTO = "auto"
GPU_SHARE = 0.125  # of one GPU, per trial, with --gpus-per-trial auto


def check_gpus_per_trial(value: Any) -> float | str:
    """`auto`, or a number of GPUs per trial (a numeric string is read as one); ValueError otherwise."""
    if value == AUTO:
        return AUTO
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"search: `gpus_per_trial` must be auto or a number >= 0 (fractions share a GPU), got {value!r}")
    if value > 1 and not float(value).is_integer():
        raise ValueError(f"search: `gpus_per_trial` above 1 must be whole, got {value!r}")
    return value


def packs_several(gpus_per_trial: float | str) -> bool:
    """Whether trials share a GPU: `auto` or a fraction."""
    return gpus_per_trial == AUTO or 0 < gpus_per_trial < 1


@dataclasses.dataclass(frozen=True)
class TrialResources:
    """What one trial asks Ray for: CPUs (also its torch threads) and a share of a GPU."""

    cpus: float
    gpus: float

    def as_tune(self) -> dict[str, float]:
        return {"cpu": self.cpus, "gpu": self.gpus}

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))

    @property
    def largest_gpus(self) -> float:
        return self.gpus

    def most_at_once(self, nodes: list[dict[str, float]]) -> int:
        """How many trials `nodes` (each node's Ray resources) can run at once (at least 1)."""
        fits = 0
        for node in nodes:
            here = math.floor(round(node.get("CPU", 0) / self.cpus, 6))  # rounded: no float dust below a whole trial
            if self.gpus > 0:
                here = min(here, math.floor(round(node.get("GPU", 0) / self.gpus, 6)))
            fits += here
        return max(1, fits)

    def describe(self, asked: float | str, gpus_available: float, mps: str) -> str:
        """The one line a search prints about where its trials train."""
        have = f"{gpus_available:g} GPU(s)"
        if self.gpus == 0:
            chosen = "no GPU, trials train on the CPU" if gpus_available == 0 else f"0 of {have}, trials train on the CPU"
        elif asked == AUTO:
            chosen = f"{have}, {Fraction(self.gpus).limit_denominator()} per trial of any family"
        else:
            chosen = f"{self.gpus:g} per trial of {have}"
        line = f"gpus: {asked} → {chosen}"
        if 0 < self.gpus < 1 and gpus_available > 0:
            line += f", MPS {mps}" + (" (trials sharing a GPU take turns on it; --mps runs them at once)" if mps == "off" else "")
        return line


def trial_resources(gpus_per_trial: float | str, cpus_per_trial: float, gpus_available: float) -> TrialResources:
    """What each trial asks Ray for, `auto` resolved against the GPUs Ray sees."""
    if gpus_per_trial == AUTO:
        return TrialResources(cpus_per_trial, GPU_SHARE if gpus_available > 0 else 0.0)
    return TrialResources(cpus_per_trial, float(gpus_per_trial))


def ray_gpus() -> float:
    """GPUs of the Ray this process joined or started (all nodes of a cluster)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0))


def trial_device(run_config: dict[str, Any]) -> dict[str, Any]:
    """The run config with `device: auto` pinned to the CPU when Ray gave this trial no GPU
    (it must not take a GPU that Ray gave another trial). Call inside the trial.

    A trial that Ray gave a GPU which torch cannot see fails here, in one line, instead of
    training on the CPU unnoticed: an MPS daemon started with CUDA_VISIBLE_DEVICES=1
    renumbers that GPU to 0 for its clients, and Ray's "1" then names no device."""
    import ray
    import torch

    return pinned_device(run_config, ray.get_gpu_ids(), torch.cuda.is_available())


def pinned_device(run_config: dict[str, Any], gpu_ids: list, cuda_available: bool) -> dict[str, Any]:
    """`trial_device`'s rule, given the GPU ids Ray gave the trial and whether torch sees CUDA."""
    train = run_config.get("train", {})
    if gpu_ids and not cuda_available:
        raise RuntimeError(f"Ray gave this trial GPU {','.join(map(str, gpu_ids))} but torch sees no CUDA device "
                           f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}); if an MPS daemon runs, "
                           "start it without CUDA_VISIBLE_DEVICES (it renumbers the GPUs it sees), or search with --no-mps")
    if train.get("device", "auto") != "auto" or gpu_ids:
        return run_config
    return {**run_config, "train": {**train, "device": "cpu"}}
