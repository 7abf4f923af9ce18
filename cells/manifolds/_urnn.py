"""`URNN`: Arjovsky et al.'s product of diagonal, reflection, permutation and Fourier matrices."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._base import Manifold


class URNN(Manifold):
    """Arjovsky's unitary product W = D3 R2 F^-1 D2 Pi R1 F D1, returned transposed for `h @ W`.

    D_k = diag(e^{i theta_k}), R_k = I - 2 v_k v_k^H / |v_k|^2 (complex v_k), F the unitary DFT,
    Pi a fixed permutation (a buffer). One packed real original of size 7n:
    [theta_1, theta_2, theta_3, Re v_1, Im v_1, Re v_2, Im v_2]. The value is complex (n, n).
    """

    def __init__(self, n: int):
        super().__init__()
        self.n = n
        self.register_buffer("perm", torch.randperm(n))

    def forward(self, packed: Tensor) -> Tensor:
        n = self.n
        theta = packed[:3 * n].view(3, n)
        v = packed[3 * n:].view(2, 2, n)
        phases = torch.polar(torch.ones_like(theta), theta)  # (3, n), unit modulus
        X = torch.diag(phases[0])                            # D1; columns = images of the basis vectors
        X = torch.fft.fft(X, dim=0, norm="ortho")
        X = _reflect(torch.complex(v[0, 0], v[0, 1]), X)
        X = phases[1, :, None] * X[self.perm]
        X = torch.fft.ifft(X, dim=0, norm="ortho")
        X = _reflect(torch.complex(v[1, 0], v[1, 1]), X)
        X = phases[2, :, None] * X
        return X.mT  # the operator acts on columns; cells multiply rows: h @ W^T

    @torch.no_grad()
    def initialize_(self, originals: list[Tensor], A: Tensor | None = None):
        """theta ~ U(-pi, pi), reflection vectors ~ U(-1, 1)."""
        n = self.n
        originals[0][:3 * n].uniform_(-math.pi, math.pi)
        originals[0][3 * n:].uniform_(-1.0, 1.0)


def _reflect(v: Tensor, X: Tensor) -> Tensor:
    """(I - 2 v v^H / |v|^2) X for v (n,), X (n, k)."""
    return X - (2.0 / (v.abs() ** 2).sum()) * v[:, None] * (v.conj() @ X)[None, :]
