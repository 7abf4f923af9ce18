"""`SVD`: matrices with singular values in [1 - m, 1 + m], W = P diag(sigma) Q^T (Vorontsov et al. 2017)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._dtriv import Rebased
from ._linalg import polar, reorthogonalize, rotate


class SVD(Rebased):
    """W = P diag(sigma) Q^T, P and Q orthogonal as in `Exp`, sigma = 1 + m (2 sigmoid(p) - 1).

    Singular values stay in [1 - m, 1 + m]: m = 0 is exactly orthogonal, a small m a soft
    constraint (Vorontsov et al. 2017). Originals: A_p, A_q (n, n) and p (n,).
    """

    def __init__(self, n: int, m: float = 0.1, K: int = 1):
        if not 0.0 <= m < 1.0:
            raise ValueError(f"SVD: m={m} is out of range; m must be in [0, 1)")
        super().__init__(K)
        self.m = m
        self.register_buffer("base_p", torch.eye(n))
        self.register_buffer("base_q", torch.eye(n))

    def sigma(self, p: Tensor) -> Tensor:
        """The singular values, each in [1 - m, 1 + m]."""
        return 1.0 + self.m * (2.0 * torch.sigmoid(p) - 1.0)

    def forward(self, A_p: Tensor, A_q: Tensor, p: Tensor) -> Tensor:
        P, Q = rotate(torch.stack([self.base_p, self.base_q]), torch.stack([A_p, A_q]))  # one batched expm
        return (P * self.sigma(p)) @ Q.mT  # P diag(sigma) Q^T

    @torch.no_grad()
    def right_inverse(self, W: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        U, S, Vh = torch.linalg.svd(W)
        self.base_p.copy_(U)
        self.base_q.copy_(Vh.mT)
        if self.m == 0.0:
            p = torch.zeros_like(S)
        else:  # invert sigma(p); singular values outside the band are clipped to it
            p = torch.logit((((S - 1.0) / self.m + 1.0) / 2.0).clamp(1e-6, 1 - 1e-6))
        return torch.zeros_like(W), torch.zeros_like(W), p

    @torch.no_grad()
    def initialize_(self, originals: list[Tensor], A: Tensor):
        """W = expm(A): P = expm(A), Q = I, sigma = 1, already re-based as `Exp` (base_p = expm(A), A_p = 0)."""
        self.base_p.copy_(polar(rotate(torch.eye(A.shape[0], dtype=A.dtype, device=A.device), A)))
        self.base_q.copy_(torch.eye(A.shape[0]))
        originals[0].zero_()
        originals[1].zero_()
        originals[2].zero_()

    @torch.no_grad()
    def after_optimizer_step(self, originals: list[Tensor]):
        if self._count_step():
            A_p, A_q, _ = originals
            P, Q = reorthogonalize(rotate(torch.stack([self.base_p, self.base_q]), torch.stack([A_p, A_q]), wide=True))
            self.base_p.copy_(P)
            self.base_q.copy_(Q)
            A_p.zero_()
            A_q.zero_()

    def extra_repr(self) -> str:
        return f"m={self.m}, K={self.K}"
