"""`Exp`: the orthogonal group through B = base @ expm(skew(A)) (expRNN, re-based as DTRIV)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._dtriv import Rebased
from ._linalg import polar, reorthogonalize, rotate


class Exp(Rebased):
    """B = base @ expm(skew(A)), orthogonal (expRNN); re-based every K optimizer steps (DTRIV).

    Re-basing sets base <- B (projected back onto the orthogonal group in float64, so rounding
    errors do not accumulate) and A <- 0: B is unchanged, the next steps move around the new base.
    The first re-base comes before the first gradient (DTRIV's reference code re-bases on its first
    forward): `initialize_` leaves base = expm(A_init), A = 0; then after steps K, 2K, ...
    (K = 0: K = infinity, no further re-base).
    """

    def __init__(self, n: int, K: int = 1):
        super().__init__(K)
        self.register_buffer("base", torch.eye(n))

    def forward(self, A: Tensor) -> Tensor:
        return rotate(self.base, A)

    @torch.no_grad()
    def right_inverse(self, B: Tensor) -> Tensor:
        self.base.copy_(polar(B))
        return torch.zeros_like(B)

    @torch.no_grad()
    def initialize_(self, originals: list[Tensor], A: Tensor):
        """Start from B = expm(A), already re-based: base = expm(A), generator 0 (DTRIV's first re-base)."""
        self.base.copy_(polar(rotate(torch.eye(A.shape[0], dtype=A.dtype, device=A.device), A)))
        originals[0].zero_()

    @torch.no_grad()
    def after_optimizer_step(self, originals: list[Tensor]):
        if self._count_step():
            (A,) = originals
            self.base.copy_(reorthogonalize(rotate(self.base, A, wide=True)))
            A.zero_()

    def extra_repr(self) -> str:
        return f"K={self.K}"
