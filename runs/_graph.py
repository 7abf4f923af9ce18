"""`train.graph`: whether a run's forward and backward replay as CUDA graphs, and for `auto`, where it pays.

On a GPU the host launches every op of a training step, and where a step is many small ops
around one recurrence kernel (the parametrizations' maps and their backward, the hoisted
filters) the GPU waits on the host. `torch.cuda.make_graphed_callables` runs the model's
forward and backward a few times, captures them once, and from then on replays each as one
CUDA graph; the loss, the clip and the optimizer step stay eager. The numbers are the eager
ones (same kernels, same inputs). A graphed run replays its stability probe too
(`graphed_call`): the reference recurrence on 64 sequences and its backward, tens of thousands
of small launches at T = 784, captured at the first evaluation. A captured forward must never
wait for the host (ENRNN's eigvals do, so it is never graphed) and takes one batch shape: an
epoch's last, smaller batch runs eager. The graphs keep their activations in a memory pool of
their own.

The table comes from `benchmarks/graph_step.py` (docs/benchmarks.md, "Speed of the cells"):
ms per training iteration eager -> graphed at H = 128, B = 128, T = 784 on an H100; a family
enters where graphing saved at least a tenth.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

CHOICES = ("off", "on", "auto")

# family -> (eager, graphed) ms per training iteration on the GPU, where graphing pays.
PAYS_ON_GPU: dict[str, tuple[float, float]] = {
    "momentum-orthogonal": (13.19, 6.29),
    "momentum-urnn": (12.58, 10.08),
    "momentum-cornn": (7.36, 6.02),
    "momentum-lstm": (6.21, 5.31),
    "adam-lstm": (7.62, 6.76),
    "momentum-unitary": (11.70, 10.43),
}
NEVER = ("enrnn",)  # cores whose forward waits for the host (eigvals): capture would fail


def use_graph(choice: str, family: str, device: torch.device, *, compile: str) -> bool:
    """Whether `choice` graphs the training forward and backward of `family` on `device`
    (`compile`: the run's `train.compile`). `on` where it cannot be done is a ValueError that says why."""
    if choice == "on":
        if device.type != "cuda":
            raise ValueError(f"train: graph='on' needs a CUDA device, and this run trains on {device.type}; "
                             "use graph='auto' (graphs where they pay on a GPU) or 'off'")
        if family.split("-", 1)[1] in NEVER:
            raise ValueError(f"train: graph='on' cannot capture {family}: its forward waits for the host "
                             "(the spectral radius' eigvals); use graph='auto' or 'off'")
        return True
    return device.type == "cuda" and may_graph(choice, family, compile=compile)


def may_graph(choice: str, family: str, *, compile: str) -> bool:
    """Whether `choice` graphs `family` on some device (a GPU): what a memory estimate must allow
    for. A graphed run does not compile, and an explicit compile='on' outranks graph='auto'."""
    return choice == "on" or (choice == "auto" and compile != "on" and family in PAYS_ON_GPU)


class _Forward(nn.Module):
    """The model behind a module of its own: graphing replaces this forward, so the model's own
    forward (evaluation, the stability probe, other batch shapes) stays eager."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def graphed_forward(model: nn.Module, sample: torch.Tensor) -> nn.Module:
    """A module whose calls on inputs shaped like `sample` run `model`'s forward, and the
    backward autograd then takes through it, as two CUDA graphs (PyTorch's partial-network
    capture); gradients reach `model`'s parameters as from the eager forward."""
    with torch.cuda.device(sample.device):  # captured on the run's GPU, whichever is current
        return torch.cuda.make_graphed_callables(_Forward(model), (sample,), allow_unused_input=True)


def graphed_call(fn: Callable[[], Any], device: torch.device, warmup: int = 2) -> Callable[[], Any]:
    """`fn` (no arguments, no host reads, the same shapes every call) captured once as a CUDA
    graph on `device` after `warmup` calls on a side stream, as PyTorch's whole-network capture
    does; the returned callable replays it and returns the tensors the capture returned, which
    each replay overwrites (read them before the next). Used for the stability probe, a
    reference recurrence of thousands of small launches on a fixed batch."""
    with torch.cuda.device(device):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = fn()

    def replay() -> Any:
        graph.replay()
        return outputs

    return replay
