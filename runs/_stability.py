"""Stability measures: how the loss gradient travels back through the hidden states.

For a probe batch, `hidden_gradients` gives ‖∂L/∂h_t‖ for every step t, where ∂L/∂h_t is the
*total* derivative: everything h_t influences, through the readout and through every later
state. (A `retain_grad()` on the cell's returned output tensor would not give this: that
tensor is a copy stacked for the readout, so its gradient holds only the readout's direct
path, which is zero before the last step under a last-state readout.) See docs/stability.md.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable

import numpy as np
import torch

# Norms below this count as this (float32's smallest normal number, 2^-126 ≈ 1.2e-38), so a
# gradient that vanished to exactly 0 gives a finite log-ratio of about -38 + log10‖∂L/∂h_T‖.
EPS = float(np.finfo(np.float32).tiny)

# Autograd nodes that pass a gradient through unchanged in layout (or slice it), walked
# through to find where the per-step states are joined into the output sequence.
_PASS_THROUGH = ("TransposeBackward", "PermuteBackward", "ViewBackward", "ReshapeAliasBackward",
                 "UnsafeViewBackward", "CloneBackward", "ContiguousBackward", "AliasBackward",
                 "ToCopyBackward", "ExpandBackward")


def _step_nodes(outputs: torch.Tensor, T: int):
    """The autograd nodes (node, output index) that produced h_1 .. h_T, found where the
    cell joined its per-step states into `outputs` (a stack, or a cat of unsqueezed steps)."""
    node = outputs.grad_fn
    for _ in range(16):
        if node is None:
            return None
        name = type(node).__name__
        parents = [p for p in node.next_functions]
        if name.startswith(("StackBackward", "CatBackward")) and len(parents) == T:
            steps = []
            for parent, index in parents:
                # cat of h_t.unsqueeze(1): step through the unsqueeze to h_t itself
                while parent is not None and type(parent).__name__.startswith(("UnsqueezeBackward", "ViewBackward", "UnsafeViewBackward")):
                    parent, index = parent.next_functions[0]
                if parent is None:
                    return None
                steps.append((parent, index))
            return steps
        if name.startswith(_PASS_THROUGH) and parents:
            node = parents[0][0]
            continue
        return None
    return None


class ProbeUnavailable(RuntimeError):
    """The cell's forward does not expose its per-step states to autograd."""


def hidden_gradients(cell: torch.nn.Module, head: Callable, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor):
    """(loss, ‖∂L/∂h_t‖ for t = 1..T as a float64 numpy array) on one batch.

    `head(outputs) -> predictions` and `loss_fn(predictions, y) -> scalar`. Parameter
    gradients are computed too; the caller zeroes them.
    """
    outputs, _ = cell(x)  # (B, T, H)
    T = outputs.shape[1]
    steps = _step_nodes(outputs, T)
    if steps is None:
        raise ProbeUnavailable(f"{type(cell).__name__}: its output sequence is not a stack of per-step states")
    grads: list[torch.Tensor | None] = [None] * T
    handles = []
    for t, (node, index) in enumerate(steps):
        def keep(grad_outputs, t=t, index=index):
            grads[t] = grad_outputs[index].detach().clone() if grad_outputs[index] is not None else None
        handles.append(node.register_prehook(keep))
    try:
        loss = loss_fn(head(outputs), y)
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    norms = np.array([0.0 if g is None else float(g.double().norm()) for g in grads])
    return float(loss.detach()), norms


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
