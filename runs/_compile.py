"""`train.compile`: whether a run trains a `torch.compile`d model, and for `auto`, where it pays.

off: eager (the default until the GPU benchmark has shown where compiling pays); on: always;
auto: on a CUDA device for the families of `PAYS_ON_GPU`, eager elsewhere. The compiled model
serves the training steps; evaluation and the gradient probe run the eager model (the same
parameters). cells compiles without unrolling its time loops and without recompiling for a new
mu, s, beta or restart period (cells/fast/compiled.py), so the trials of a family share code.
"""

from __future__ import annotations

import torch
from torch import nn

CHOICES = ("off", "on", "auto")

# Families (e.g. "momentum-cornn") whose compiled training step beat the eager one on an H200
# at H = 128 and 256 (benchmarks/gpu_compile.py, README "Compiled cells"). Empty until measured.
PAYS_ON_GPU: frozenset[str] = frozenset()


def use_compile(choice: str, family: str, device: torch.device) -> bool:
    """Whether `choice` compiles the model of `family` on `device`."""
    if choice == "auto":
        return device.type == "cuda" and family in PAYS_ON_GPU
    return choice == "on"


def training_forward(model: nn.Module, choice: str, device: torch.device) -> nn.Module:
    """The module the training steps call: `torch.compile(model)` or the model itself."""
    return torch.compile(model) if use_compile(choice, model.cell.config.family, device) else model
