"""`Cayley`: the orthogonal group through the Cayley map, with a fixed diag(+-1) (scoRNN)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Manifold
from ._linalg import signs, skew


class Cayley(Manifold):
    """B = (I + S)^-1 (I - S) D with S = skew(A), D = diag(+-1) holding `n_neg` entries -1 (scoRNN).

    The Cayley map never reaches eigenvalue -1; D puts some there (fixed, not trained).
    """

    def __init__(self, n: int, n_neg: int = 0):
        super().__init__()
        if not 0 <= n_neg <= n:
            raise ValueError(f"Cayley: n_neg={n_neg} is out of range; n_neg must be in [0, {n}]")
        self.register_buffer("D", signs(n, n_neg))

    def forward(self, A: Tensor) -> Tensor:
        S = skew(A)
        eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
        # solve_ex: I + S is never singular (S skew), and unlike solve it does not read an error flag on the host
        return torch.linalg.solve_ex(eye + S, eye - S).result * self.D  # column scaling = right product with D

    @torch.no_grad()
    def right_inverse(self, B: Tensor) -> Tensor:
        """The generator of B (valid when B D has no eigenvalue -1)."""
        M = B * self.D  # B D^-1, and D^-1 = D
        eye = torch.eye(B.shape[0], dtype=B.dtype, device=B.device)
        try:
            return torch.linalg.solve(eye + M, eye - M)
        except RuntimeError:  # torch.linalg.LinAlgError
            raise ValueError("Cayley: the matrix times D has eigenvalue -1, which the Cayley map cannot reach; "
                             "start from diag(signs(n, n_neg)) or change n_neg") from None

    @torch.no_grad()
    def initialize_(self, originals: list[Tensor], A: Tensor):
        originals[0].copy_(A)

    def extra_repr(self) -> str:
        return f"n_neg={int((self.D < 0).sum())}"
