"""`train.compile`: whether a run trains a `torch.compile`d model, and for `auto`, where it pays.

off: eager; on: always; auto (the default): on a CUDA device, for the families of
`PAYS_ON_GPU`, when the run trains at least that family's break-even number of steps.
Compiling costs its first step a few seconds (1-6 s on a datacenter GPU) and then saves a fixed time
per step, so it pays only past the step count where the savings repay it. The compiled model
serves the training steps; evaluation and the gradient probe run the eager model (the same
parameters). cells compiles without unrolling its time loops and without recompiling for a new
mu, s, beta or restart period (cells/fast/compiled.py), so the trials of a family share code,
and a worker's later trials of a family compile in ~0.01 s.

The table comes from `benchmarks/gpu_compile.py` (docs/benchmarks.md, "Speed of the cells"),
H = 128, B = 128, T = 784: break-even = first compiled step's
seconds / (eager - compiled ms per step), for the families whose compiled step was faster at
H = 128 and not slower at H = 256. The cuDNN families are not in it: their fused RNN call
stays outside the graph, and the graph break costs the host more than the compiled rest saves
(compiled / eager 1.06-1.30 at H = 128).
"""

from __future__ import annotations

import torch
from torch import nn

CHOICES = ("off", "on", "auto")

# family -> training steps from which compiling pays on a CUDA device (docs/benchmarks.md).
PAYS_ON_GPU: dict[str, int] = {
    "momentum-unicornn": 900,     # 8.60 -> 5.09 ms, first step 3.2 s
    "momentum-enrnn": 2200,       # 16.02 -> 14.60 ms, 3.1 s
    "plain-cornn": 3200,          # 7.90 -> 7.62 ms, 0.9 s
    "momentum-unitary": 3500,     # 27.75 -> 26.60 ms, 4.0 s
    "momentum-orthogonal": 4000,  # 10.46 -> 9.01 ms, 5.8 s
    "momentum-cornn": 4700,       # 8.65 -> 8.16 ms, 2.3 s
    "plain-orthogonal": 4800,     # 9.04 -> 8.21 ms, 4.0 s
}

# Every family a worker compiles adds guarded entries to the same code objects (the model's
# forward); dynamo's default limit (8) would send the ninth back to eager with a warning.
RECOMPILE_LIMIT = 64


def use_compile(choice: str, family: str, device: torch.device, steps: int) -> bool:
    """Whether `choice` compiles the model of `family` for a run of `steps` training steps on `device`."""
    if choice == "auto":
        return device.type == "cuda" and steps >= PAYS_ON_GPU.get(family, float("inf"))
    return choice == "on"


def training_forward(model: nn.Module, choice: str, device: torch.device, steps: int) -> nn.Module:
    """The module the training steps call: `torch.compile(model)` or the model itself."""
    if not use_compile(choice, model.cell.config.family, device, steps):
        return model
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    return torch.compile(model)
