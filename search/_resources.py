"""GPUs per trial: `--gpus-per-trial auto` (the default) packs trials on a GPU per family.

A trial's family decides how many of its kind one GPU runs at once, by the path `cells.fast`
takes on the GPU. Training iterations per second of one H200 in all (`benchmarks/gpu_share.sh`,
B=128, T=784, H=128; NOTES.md runs 14-15 and issue 10):

    family                        alone   8 at once (MPS)   16 at once (MPS)
    momentum-orthogonal (Triton)    102        590               812
    momentum-lstm (cuDNN)           151        247               239

The cuDNN LSTM gains little from company, but loses nothing either, and a search's stream mixes
families: 64 trials of the `paper` space on one H200 (`benchmarks/search_scale.py --gpus 1`,
NOTES.md run 26) took 84 s from first draw to last with cuDNN trials at 1/2 of a GPU, and 47 s
at 1/8: at 1/2 the Triton trials held most of the GPU and the cuDNN trials, 40 % of the stream,
queued for it one at a time. So every path gets 1/8 (and trials of every family can reuse each
other's Ray workers, which Tune gives only to trials that ask for the same resources).

`auto` is 0 GPUs where the machine (or, with --address, the joined cluster) has none, and
the family's share from GPU_SHARE otherwise; Tune asks for it per trial (`tune.with_resources`
with a function of the trial's config). A number gives every trial that share instead.
"""

from __future__ import annotations

import dataclasses
import math
import os
from fractions import Fraction
from typing import Any

AUTO = "auto"

# GPU share per fast path (`cells.fast.PATHS` names them; see above), and the path's name in
# the line a search prints. Cores without a fast path on the GPU run the hoisted Python loop
# (or, for the paper-form NAG, the reference loop): launch-bound like the Triton kernels.
GPU_SHARE = {"fused-rnn": 0.125, "triton": 0.125, "hoisted": 0.125, "reference": 0.125}
LABEL = {"fused-rnn": "cuDNN", "triton": "Triton", "hoisted": "other", "reference": "other"}


def fast_path(cell: dict[str, Any]) -> str:
    """The path `cells.fast` takes on a GPU for a run config's cell dict: its core's first
    declared path for its dynamics (the paper-form NAG has paths of its own)."""
    from cells.fast import PATHS  # the cores' declared paths (torch: imported only here)

    paper = cell.get("nag_form") == "paper"
    for path in PATHS.get(cell.get("core", ""), ()):
        if path.paper == paper:
            return path.name
    return "reference" if paper else "hoisted"


def gpu_share(cell: dict[str, Any]) -> float:
    """The GPU share `auto` gives a trial training this cell (on a machine with GPUs)."""
    return GPU_SHARE[fast_path(cell)]


def check_gpus_per_trial(value: Any) -> float | str:
    """`auto`, or a number of GPUs per trial (a numeric string is read as one); ValueError otherwise."""
    if value == AUTO:
        return AUTO
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"search: `gpus_per_trial` must be auto or a number >= 0 (fractions share a GPU), got {value!r}")
    if value > 1 and not float(value).is_integer():
        raise ValueError(f"search: `gpus_per_trial` above 1 must be whole, got {value!r}")
    return value


def packs_several(gpus_per_trial: float | str) -> bool:
    """Whether trials share a GPU: `auto` (every share in GPU_SHARE is below 1) or a fraction."""
    return gpus_per_trial == AUTO or 0 < gpus_per_trial < 1


@dataclasses.dataclass(frozen=True)
class TrialResources:
    """Tune's per-trial resource function (`tune.with_resources(trainable, TrialResources(...))`):
    the trial's CPUs, and its GPUs, fixed (`gpus`) or per family (`gpus=None`)."""

    cpus: float
    gpus: float | None

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        from search._record import RUN_KEY

        gpus = self.gpus if self.gpus is not None else gpu_share(config[RUN_KEY]["cell"])
        return {"cpu": self.cpus, "gpu": gpus}

    def most_at_once(self, nodes: list[dict[str, float]]) -> int:
        """How many trials `nodes` (each node's Ray resources) could run at once, packed as
        tightly as any family packs (at least 1)."""
        gpus = self.gpus if self.gpus is not None else min(GPU_SHARE.values())
        fits = 0
        for node in nodes:
            here = math.floor(round(node.get("CPU", 0) / self.cpus, 6))  # rounded: no float dust below a whole trial
            if gpus > 0:
                here = min(here, math.floor(round(node.get("GPU", 0) / gpus, 6)))
            fits += here
        return max(1, fits)

    @property
    def largest_gpus(self) -> float:
        """The most GPUs one trial may ask for (a node must have them for it to start)."""
        return self.gpus if self.gpus is not None else max(GPU_SHARE.values())

    def describe(self, asked: float | str, gpus_available: float, mps: str) -> str:
        """The one line a search prints about where its trials train."""
        have = f"{gpus_available:g} GPU(s)"
        if self.gpus is None:
            by_share: dict[float, list[str]] = {}
            for path, share in sorted(GPU_SHARE.items(), key=lambda kv: kv[1]):
                by_share.setdefault(share, []).append(path)
            if len(by_share) == 1:
                shares = f"{Fraction(next(iter(by_share))).limit_denominator()} per trial of any family"
            else:
                shares = ", ".join(f"{Fraction(share).limit_denominator()} per {' or '.join(dict.fromkeys(LABEL[p] for p in paths))} trial"
                                   for share, paths in by_share.items())
            chosen = f"{have}, {shares}"
        elif self.gpus == 0:
            chosen = "no GPU, trials train on the CPU" if gpus_available == 0 else f"0 of {have}, trials train on the CPU"
        else:
            chosen = f"{self.gpus:g} per trial of {have}"
        line = f"gpus: {asked} → {chosen}"
        if packs_several(self.gpus if self.gpus is not None else AUTO) and gpus_available > 0:
            line += f", MPS {mps}" + (" (trials sharing a GPU take turns on it; --mps runs them at once)" if mps == "off" else "")
        return line


def trial_resources(gpus_per_trial: float | str, cpus_per_trial: float, gpus_available: float) -> TrialResources:
    """What each trial asks Ray for, `auto` resolved against the GPUs Ray sees."""
    if gpus_per_trial == AUTO:
        return TrialResources(cpus_per_trial, None if gpus_available > 0 else 0.0)
    return TrialResources(cpus_per_trial, float(gpus_per_trial))


def ray_gpus() -> float:
    """GPUs of the Ray this process joined or started (all nodes of a cluster)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0))


def trial_device(run_config: dict[str, Any]) -> dict[str, Any]:
    """The run config with `device: auto` pinned to the CPU when Ray gave this trial no GPU
    (it must not take a GPU that Ray gave another trial). Call inside the trial.

    A trial that Ray gave a GPU which torch cannot see fails here, in one line, instead of
    training on the CPU unnoticed (seen on an H200: an MPS daemon started with
    CUDA_VISIBLE_DEVICES=1 renumbers that GPU to 0 for its clients, and Ray's "1" then names
    no device; benchmarks/NOTES.md run 21)."""
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
