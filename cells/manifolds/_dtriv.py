"""DTRIV's schedule (Casado 2019): re-base a trivialization every K optimizer steps."""

from __future__ import annotations

import torch

from ._base import Manifold


def due(steps: int, K: int) -> bool:
    """DTRIV schedule after the first re-base (made at initialisation, before any gradient, as the
    reference code does on its first forward): again after optimizer steps K, 2K, ...;
    K = 0 stands for K = infinity (the first re-base only)."""
    return K > 0 and steps % K == 0


class Rebased(Manifold):
    """DTRIV's schedule, shared by `Exp` and `SVD`: re-base after optimizer steps K, 2K, ...

    The step count is the buffer `steps` (saved with the weights) and a host-side mirror, so
    that checking the schedule never waits for the device; the mirror is read from the buffer
    the first time and again after `load_state_dict`."""

    def __init__(self, K: int):
        super().__init__()
        self.K = K
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self._host_steps: int | None = None

    def _count_step(self) -> bool:
        """Count one optimizer step; True when a re-base is due."""
        if self._host_steps is None:
            self._host_steps = int(self.steps)
        self._host_steps += 1
        self.steps.fill_(self._host_steps)
        return due(self._host_steps, self.K)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._host_steps = None
