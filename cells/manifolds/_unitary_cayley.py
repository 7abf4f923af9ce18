"""`UnitaryCayley`: the unitary group through the Cayley map of a skew-Hermitian matrix (scuRNN)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._base import Manifold
from ._linalg import skew


class UnitaryCayley(Manifold):
    """W = (I + A)^-1 (I - A) diag(e^{i theta}), complex unitary (scuRNN).

    A is skew-Hermitian, packed in one real (n, n) matrix M: Re A = skew(M) (strict upper
    triangle), Im A = the symmetric matrix built from M's lower triangle and diagonal.
    The phases theta (n,) are trained. Originals: M, theta; the value is complex (n, n).
    """

    def forward(self, M: Tensor, theta: Tensor) -> Tensor:
        lower = M.tril()
        A = torch.complex(skew(M), lower + lower.tril(-1).mT)
        eye = torch.eye(M.shape[0], dtype=A.dtype, device=M.device)
        # solve_ex: I + A is never singular (A skew-Hermitian); no error flag read on the host
        return torch.linalg.solve_ex(eye + A, eye - A).result * torch.polar(torch.ones_like(theta), theta)

    @torch.no_grad()
    def right_inverse(self, W: Tensor) -> tuple[Tensor, Tensor]:
        """The preimage with theta = 0 (valid when W has no eigenvalue -1)."""
        if not W.is_complex():
            W = torch.complex(W, torch.zeros_like(W))
        eye = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
        A = torch.linalg.solve(eye + W, eye - W)
        M = A.real.triu(1) + A.imag.tril()
        return M, torch.zeros(W.shape[0], dtype=M.dtype, device=M.device)

    @torch.no_grad()
    def initialize_(self, originals: list[Tensor], A: Tensor):
        """Re A from a real skew init A, Im A = 0, theta ~ U(0, 2 pi)."""
        originals[0].copy_(A.triu(1))
        originals[1].uniform_(0.0, 2 * math.pi)
