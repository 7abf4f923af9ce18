"""The linear algebra the manifolds share: skew-symmetric generators and their inits, the
matrix exponential without host synchronisation, the polar factor and its cheap re-projection."""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor


def skew(A: Tensor) -> Tensor:
    """The skew-symmetric matrix made of A's strict upper triangle, (n, n)."""
    upper = A.triu(1)
    return upper - upper.mT


def skew_init(n: int, init: str, *, dtype=None, device=None) -> Tensor:
    """Skew-symmetric (n, n) with 2x2 blocks [[0, d], [-d, 0]] on the diagonal (expRNN's inits).

    henaff: d ~ U(-pi, pi); cayley: d = -tan(s / 2), s ~ U(0, pi / 2). An odd n leaves the last row 0.
    """
    d = torch.empty(n // 2, dtype=dtype, device=device)
    if init == "henaff":
        d.uniform_(-math.pi, math.pi)
    elif init == "cayley":
        d = -torch.tan(d.uniform_(0.0, math.pi / 2) / 2)
    else:
        raise ValueError(f"skew_init: init={init!r} is unknown; init must be one of henaff, cayley")
    super_diag = torch.zeros(max(n - 1, 0), dtype=dtype, device=device)
    super_diag[::2] = d
    A = torch.diag(super_diag, diagonal=1)
    return A - A.mT


def signs(n: int, n_neg: int = 0) -> Tensor:
    """scoRNN's D as a vector: n - n_neg ones, then n_neg minus ones. diag(signs) is where Cayley starts."""
    return torch.cat([torch.ones(n - n_neg), -torch.ones(n_neg)])


def polar(M: Tensor) -> Tensor:
    """The orthogonal (unitary) matrix nearest to M, computed in double precision (an SVD: for
    one-off starts such as `right_inverse`; the per-step re-base uses `_reorthogonalize`)."""
    wide = torch.complex128 if M.is_complex() else torch.float64
    U, _, Vh = torch.linalg.svd(M.to(wide))
    return (U @ Vh).to(M.dtype)


def reorthogonalize(M: Tensor, iterations: int = 2) -> Tensor:
    """The orthogonal matrix nearest to M when M is orthogonal up to rounding, without an SVD.

    Newton-Schulz, X <- X (3I - X^T X) / 2 in float64, converges quadratically to the polar
    factor (||X^T X - I||: 1e-7 -> 1e-14 -> 1e-28); on a GPU it is four matrix products where
    an SVD is a cuSOLVER call that waits for the device. Valid for ||M^T M - I|| well below 1,
    which a product of float32 orthogonal matrices always is. Batched over leading dims."""
    X = M.to(torch.float64)
    for _ in range(iterations):
        X = 1.5 * X - 0.5 * X @ (X.mT @ X)
    return X.to(M.dtype)


_TAYLOR = [1.0 / math.factorial(k) for k in range(17)]  # expm's degree-16 Taylor coefficients
EXPM_SQUARINGS = 16  # expm(A) = expm(A / 2^16)^(2^16): Taylor-exact while ||A||_1 <= 0.5 * 2^16


@functools.lru_cache(maxsize=8)
def _taylor_coefficients(dtype: torch.dtype, device: torch.device) -> Tensor:
    """c_{4k+j} = 1 / (4k+j)! as (4, 4) on `device`, copied once (a copy per call would wait for the GPU)."""
    return torch.tensor(_TAYLOR[:16], dtype=dtype).view(4, 4).to(device)


def matrix_exp(A: Tensor) -> Tensor:
    """expm(A) for (..., n, n) A: `torch.linalg.matrix_exp` on the CPU, `matrix_exp_on_device` elsewhere."""
    return torch.linalg.matrix_exp(A) if A.device.type == "cpu" else matrix_exp_on_device(A)


def matrix_exp_on_device(A: Tensor) -> Tensor:
    """expm(A) by scaling and squaring with a fixed schedule: no host synchronisation, few launches.

    `torch.linalg.matrix_exp` reads ||A|| on the host to choose its degree and its number of
    squarings, so on a GPU every call, and its backward (an expm of a 2n x 2n block), waits for
    all queued work: in a training step that serialises the recurrence kernel and the host
    (measured on an H200; docs/benchmarks.md). Here the schedule is fixed: X = A / 2^16, a
    degree-16 Taylor polynomial of X (Paterson-Stockmeyer: three powers, three fused
    multiply-adds), then 16 squarings, about 25 launches in all, differentiated by autograd.
    The Taylor tail is below 1e-19 while ||A||_1 <= 2^15; the squarings cost ~2^16 ulp
    (1e-11 relative in float64, far below the float32 the cells use; the parametrizations call
    it in float64). A generator past 2^15 is far outside what DTRIV's re-basing leaves.

    Example:
        >>> A = torch.tensor([[0.0, 2.0], [-2.0, 0.0]], dtype=torch.float64)
        >>> bool(torch.allclose(matrix_exp_on_device(A), torch.linalg.matrix_exp(A)))
        True
    """
    n = A.shape[-1]
    X = (A * 2.0 ** -EXPM_SQUARINGS).reshape(-1, n, n)
    X2 = X @ X
    X4 = X2 @ X2
    # blocks[k] = sum_j c_{4k+j} X^j (j = 0..3), all four in one product over the stacked powers
    C = _taylor_coefficients(A.dtype, A.device)  # (4, 4)
    powers = torch.stack([X, X2, X2 @ X])  # (3, b, n, n)
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    blocks = torch.tensordot(C[:, 1:], powers, dims=1) + C[:, 0, None, None, None] * eye  # (4, b, n, n)
    E = torch.add(blocks[3], X4, alpha=_TAYLOR[16])
    for k in (2, 1, 0):
        E = torch.baddbmm(blocks[k], X4, E)  # Horner in X^4
    for _ in range(EXPM_SQUARINGS):
        E = E @ E
    return E.reshape(A.shape)


def rotate(base: Tensor, A: Tensor, *, wide: bool = False) -> Tensor:
    """base @ expm(skew(A)), computed in float64 (cast back unless `wide`): in float32 the
    exponential of a generator that has grown for many steps drifts off the orthogonal group
    by more than 1e-5. Batched over leading dims."""
    dtype = torch.float64 if A.dtype in (torch.float16, torch.bfloat16, torch.float32) else A.dtype
    B = base.to(dtype) @ matrix_exp(skew(A.to(dtype)))
    return B if wide else B.to(A.dtype)
