"""`SpectralNormalize`: W / rho(W) once the spectral radius has exceeded 1 (ENRNN's W2)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Manifold

# On a GPU, eigvals of a W with at most this many rows runs on the host (LAPACK), its copies
# differentiated by autograd: the device path (MAGMA) waits for the host anyway and launches
# hundreds of tiny kernels per call, where a 64 x 64 eig on the host takes well under a millisecond.
HOST_EIG_MAX = 128


class SpectralNormalize(Manifold):
    """W / rho(W), rho the spectral radius, switched on the first time rho > 1 and kept on (ENRNN).

    The switch is the buffer `latched` (saved with the weights). Autograd runs through
    eigvals(W).abs().max(), which gives the published gradient.

    Eager runs branch on the host, as before the export work: until the switch is on, the
    value is W itself and autograd never reaches eigvals' backward (complex solves on the
    device, whose error check is a second host sync, at the end of the backward). Always
    running it made momentum-enrnn's H=128 training iteration 22% slower on an H200 (the
    benchmark's W2 starts at rho 0.96). The host reads (`latched`; rho > 1 while off) follow
    eigvals, which already waits for the GPU, so they wait only for two tiny kernels. On a
    GPU, a W of at most `HOST_EIG_MAX` rows has its eigvals taken on the host: the copy to the
    host is that wait, and rho > 1 is then read without another.
    torch.compile and torch.export trace the branch-free twin (no data-dependent guard):
    the same values, latch and gradients.
    """

    orthogonal_group = False  # W2 is free: the default learning rate

    def __init__(self):
        super().__init__()
        self.register_buffer("latched", torch.zeros((), dtype=torch.bool))

    def forward(self, W: Tensor) -> Tensor:
        if torch.compiler.is_compiling() or W.is_meta:  # torch.compile or torch.export tracing; shapes only
            rho = torch.linalg.eigvals(W).abs().max()
            latched = self.latched | (rho.detach() > 1.0)
            self.latched.copy_(latched)
            return W / torch.where(latched, rho, torch.ones_like(rho))
        on_host = W.is_cuda and W.shape[-1] <= HOST_EIG_MAX
        rho = torch.linalg.eigvals(W.cpu() if on_host else W).abs().max()
        if not bool(self.latched):
            if not bool(rho.detach() > 1.0):
                return W
            self.latched.fill_(True)
        return W / rho.to(W.device)
