"""`SpectralNormalize`: W / rho(W) once the spectral radius has exceeded 1 (ENRNN's W2)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Manifold


class SpectralNormalize(Manifold):
    """W / rho(W), rho the spectral radius, switched on the first time rho > 1 and kept on (ENRNN).

    The switch is the buffer `latched` (saved with the weights). Autograd runs through
    eigvals(W).abs().max(), which gives the published gradient.
    """

    orthogonal_group = False  # W2 is free: the default learning rate

    def __init__(self):
        super().__init__()
        self.register_buffer("latched", torch.zeros((), dtype=torch.bool))

    def forward(self, W: Tensor) -> Tensor:
        rho = torch.linalg.eigvals(W).abs().max()
        # Branch-free (no host read of rho), so torch.export and torch.compile trace it as ops.
        latched = self.latched | (rho.detach() > 1.0)
        self.latched.copy_(latched)
        return W / torch.where(latched, rho, torch.ones_like(rho))
