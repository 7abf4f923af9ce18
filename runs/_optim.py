"""Registries of optimizers and learning-rate schedules: a new one is one entry."""

from __future__ import annotations

import math
from typing import Callable

import torch

# name -> (parameter groups, lr, weight_decay) -> optimizer. RMSprop's alpha 0.9 is the
# MomentumRNN recipe's (REFERENCE.md §3); SGD gets the usual heavy-ball 0.9.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda groups, lr, wd: torch.optim.Adam(groups, lr=lr, weight_decay=wd),
    "rmsprop": lambda groups, lr, wd: torch.optim.RMSprop(groups, lr=lr, alpha=0.9, weight_decay=wd),
    "sgd": lambda groups, lr, wd: torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=wd),
}

# name -> (total steps, decay_at) -> (step -> factor on every group's lr)
SCHEDULES: dict[str, Callable[[int, float], Callable[[int], float]]] = {
    "constant": lambda total, at: lambda step: 1.0,
    "cosine": lambda total, at: lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)),
    "step": lambda total, at: lambda step: 1.0 if step < at * total else 0.1,  # coRNN: lr / 10 late in training
}


def optimizers() -> tuple[str, ...]:
    return tuple(OPTIMIZERS)


def schedules() -> tuple[str, ...]:
    return tuple(SCHEDULES)
