"""Stability measures: how the loss gradient travels back through the hidden states.

For a probe batch, `hidden_gradients` gives ‖∂L/∂h_t‖ for every step t, where ∂L/∂h_t is the
*total* derivative: everything h_t influences, through the readout and through every later
state. (A `retain_grad()` on the cell's returned output tensor would not give this: that
tensor is a copy stacked for the readout, so its gradient holds only the readout's direct
path, which is zero before the last step under a last-state readout.) `cells.hidden_states`
hands out the per-step states themselves, and `torch.autograd.grad` differentiates the loss
with respect to them. See docs/stability.md.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable

import numpy as np
import torch

import cells

# Norms below this count as this (float32's smallest normal number, 2^-126 ≈ 1.2e-38), so a
# gradient that vanished to exactly 0 gives a finite log-ratio of about -38 + log10‖∂L/∂h_T‖.
EPS = float(np.finfo(np.float32).tiny)

def hidden_gradients(cell: torch.nn.Module, head: Callable, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor):
    """(loss, ‖∂L/∂h_t‖ for t = 1..T as a float64 numpy array) on one batch.

    `head(outputs) -> predictions` and `loss_fn(predictions, y) -> scalar`. The states come
    from `cells.hidden_states`: the reference recurrence on the cell's own parameters, so a
    cell whose forward runs in cuDNN or a Triton kernel is probed as it is. Only the states
    are differentiated: the parameters' `.grad` stay as they were.
    """
    loss, norms = hidden_gradient_norms(cell, head, loss_fn, x, y)
    return float(loss.detach()), norms.cpu().numpy()


def hidden_gradient_norms(cell: torch.nn.Module, head: Callable, loss_fn: Callable, x: torch.Tensor,
                          y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`hidden_gradients` left on x's device: (loss, the T norms as one float64 tensor), with
    nothing read by the host, so that it can be captured as a CUDA graph."""
    states = cells.hidden_states(cell, x)  # h_1 .. h_T, each (B, H)
    loss = loss_fn(head(torch.stack(states, dim=1)), y)
    grads = torch.autograd.grad(loss, states, allow_unused=True)
    zero = torch.zeros((), dtype=torch.float64, device=x.device)
    # One tensor for all T norms (a float() per step made the host wait for the GPU T times).
    return loss, torch.stack([zero if g is None else g.double().norm() for g in grads])


def grad_ratio_log10(profile: np.ndarray) -> float:
    """log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖), each norm floored at EPS: < 0 vanishing, > 0 exploding."""
    first, last = (max(float(v), EPS) for v in (profile[0], profile[-1]))
    if not (math.isfinite(first) and math.isfinite(last)):
        return math.nan
    return math.log10(first) - math.log10(last)


class SpikeCounter:
    """Counts steps whose loss exceeds `factor` × the median of the previous `window` losses
    (once `warmup` losses are known: a median of three is no reference)."""

    def __init__(self, factor: float = 3.0, window: int = 100, warmup: int = 20):
        self.factor, self.warmup = factor, warmup
        self.history: deque[float] = deque(maxlen=window)
        self.count = 0

    def add(self, loss: float) -> bool:
        spike = len(self.history) >= self.warmup and loss > self.factor * float(np.median(self.history))
        self.count += spike
        self.history.append(loss)
        return spike
