"""Constraints on recurrent weights as `torch.nn.utils.parametrize` modules (geotorch style).

Each class maps free tensors (the "originals", what the optimizer updates) onto a manifold;
cores attach one with a one-line helper (`orthogonal_`, `unitary_`, ...) and stay plain
PyTorch. The time loop runs under `parametrize.cached()`, so the map runs once per forward.
On a GPU the maps and the re-bases never wait for the device (`matrix_exp_on_device`,
`solve_ex`, a host-side step count), so they do not serialise a training step; ENRNN's
`eigvals` is the exception (PyTorch computes it on the host).

- `Exp`      B = base @ expm(skew(A))                   expRNN; DTRIV re-bases every K steps
- `Cayley`   B = (I + skew(A))^-1 (I - skew(A)) D       scoRNN, D = diag(+-1) fixed
- `SVD`      W = P diag(sigma) Q^T, sigma in [1-m, 1+m]  Vorontsov et al. 2017, P, Q as `Exp`
- `UnitaryCayley`  W = (I + A)^-1 (I - A) diag(e^{i theta}), A skew-Hermitian   scuRNN
- `URNN`     W = D3 R2 F^-1 D2 Pi R1 F D1               Arjovsky et al. 2016
- `SpectralNormalize`  W / rho(W), latched the first time rho > 1   ENRNN

`skew(A) = triu(A, 1) - triu(A, 1)^T`: only the strict upper triangle of A is free.
A class with `manifold = True` holds a matrix that the smaller learning rate is meant for
(see `parameter_groups`); one with `after_optimizer_step` needs `after_optimizer_step(model)`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> layer = nn.Linear(4, 4, bias=False)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.eye(4))
    >>> orthogonal_(layer, "weight", "cayley")
    >>> B = layer.weight
    >>> bool(torch.allclose(B @ B.T, torch.eye(4), atol=1e-5))
    True
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["Exp", "Cayley", "SVD", "UnitaryCayley", "URNN", "SpectralNormalize", "TRIVIALIZATIONS",
           "orthogonal_", "unitary_", "spectral_normalize_", "matrix_exp", "matrix_exp_on_device", "skew", "skew_init", "signs", "initialize_",
           "parameter_groups", "after_optimizer_step"]


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


def _polar(M: Tensor) -> Tensor:
    """The orthogonal (unitary) matrix nearest to M, computed in double precision (an SVD: for
    one-off starts such as `right_inverse`; the per-step re-base uses `_reorthogonalize`)."""
    wide = torch.complex128 if M.is_complex() else torch.float64
    U, _, Vh = torch.linalg.svd(M.to(wide))
    return (U @ Vh).to(M.dtype)


def _reorthogonalize(M: Tensor, iterations: int = 2) -> Tensor:
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
    (measured on an H200 in benchmarks/NOTES.md). Here the schedule is fixed: X = A / 2^16, a
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


def _rotate(base: Tensor, A: Tensor, *, wide: bool = False) -> Tensor:
    """base @ expm(skew(A)), computed in float64 (cast back unless `wide`): in float32 the
    exponential of a generator that has grown for many steps drifts off the orthogonal group
    by more than 1e-5. Batched over leading dims."""
    dtype = torch.float64 if A.dtype in (torch.float16, torch.bfloat16, torch.float32) else A.dtype
    B = base.to(dtype) @ matrix_exp(skew(A.to(dtype)))
    return B if wide else B.to(A.dtype)


def _due(steps: int, K: int) -> bool:
    """DTRIV schedule after the first re-base (made at initialisation, before any gradient, as the
    reference code does on its first forward): again after optimizer steps K, 2K, ...;
    K = 0 stands for K = infinity (the first re-base only)."""
    return K > 0 and steps % K == 0


class _Rebased(nn.Module):
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
        return _due(self._host_steps, self.K)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._host_steps = None


class Exp(_Rebased):
    """B = base @ expm(skew(A)), orthogonal (expRNN); re-based every K optimizer steps (DTRIV).

    Re-basing sets base <- B (projected back onto the orthogonal group in float64, so rounding
    errors do not accumulate) and A <- 0: B is unchanged, the next steps move around the new base.
    The first re-base comes before the first gradient (DTRIV's reference code re-bases on its first
    forward): `initialize_` leaves base = expm(A_init), A = 0; then after steps K, 2K, ...
    (K = 0: K = infinity, no further re-base).
    """

    manifold = True

    def __init__(self, n: int, K: int = 1):
        super().__init__(K)
        self.register_buffer("base", torch.eye(n))

    def forward(self, A: Tensor) -> Tensor:
        return _rotate(self.base, A)

    @torch.no_grad()
    def right_inverse(self, B: Tensor) -> Tensor:
        self.base.copy_(_polar(B))
        return torch.zeros_like(B)

    @torch.no_grad()
    def initialize_(self, originals: list[Tensor], A: Tensor):
        """Start from B = expm(A), already re-based: base = expm(A), generator 0 (DTRIV's first re-base)."""
        self.base.copy_(_polar(_rotate(torch.eye(A.shape[0], dtype=A.dtype, device=A.device), A)))
        originals[0].zero_()

    @torch.no_grad()
    def after_optimizer_step(self, originals: list[Tensor]):
        if self._count_step():
            (A,) = originals
            self.base.copy_(_reorthogonalize(_rotate(self.base, A, wide=True)))
            A.zero_()

    def extra_repr(self) -> str:
        return f"K={self.K}"


class Cayley(nn.Module):
    """B = (I + S)^-1 (I - S) D with S = skew(A), D = diag(+-1) holding `n_neg` entries -1 (scoRNN).

    The Cayley map never reaches eigenvalue -1; D puts some there (fixed, not trained).
    """

    manifold = True

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


class SVD(_Rebased):
    """W = P diag(sigma) Q^T, P and Q orthogonal as in `Exp`, sigma = 1 + m (2 sigmoid(p) - 1).

    Singular values stay in [1 - m, 1 + m]: m = 0 is exactly orthogonal, a small m a soft
    constraint (Vorontsov et al. 2017). Originals: A_p, A_q (n, n) and p (n,).
    """

    manifold = True

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
        P, Q = _rotate(torch.stack([self.base_p, self.base_q]), torch.stack([A_p, A_q]))  # one batched expm
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
        self.base_p.copy_(_polar(_rotate(torch.eye(A.shape[0], dtype=A.dtype, device=A.device), A)))
        self.base_q.copy_(torch.eye(A.shape[0]))
        originals[0].zero_()
        originals[1].zero_()
        originals[2].zero_()

    @torch.no_grad()
    def after_optimizer_step(self, originals: list[Tensor]):
        if self._count_step():
            A_p, A_q, _ = originals
            P, Q = _reorthogonalize(_rotate(torch.stack([self.base_p, self.base_q]), torch.stack([A_p, A_q]), wide=True))
            self.base_p.copy_(P)
            self.base_q.copy_(Q)
            A_p.zero_()
            A_q.zero_()

    def extra_repr(self) -> str:
        return f"m={self.m}, K={self.K}"


class UnitaryCayley(nn.Module):
    """W = (I + A)^-1 (I - A) diag(e^{i theta}), complex unitary (scuRNN).

    A is skew-Hermitian, packed in one real (n, n) matrix M: Re A = skew(M) (strict upper
    triangle), Im A = the symmetric matrix built from M's lower triangle and diagonal.
    The phases theta (n,) are trained. Originals: M, theta; the value is complex (n, n).
    """

    manifold = True

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


class URNN(nn.Module):
    """Arjovsky's unitary product W = D3 R2 F^-1 D2 Pi R1 F D1, returned transposed for `h @ W`.

    D_k = diag(e^{i theta_k}), R_k = I - 2 v_k v_k^H / |v_k|^2 (complex v_k), F the unitary DFT,
    Pi a fixed permutation (a buffer). One packed real original of size 7n:
    [theta_1, theta_2, theta_3, Re v_1, Im v_1, Re v_2, Im v_2]. The value is complex (n, n).
    """

    manifold = True

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


class SpectralNormalize(nn.Module):
    """W / rho(W), rho the spectral radius, switched on the first time rho > 1 and kept on (ENRNN).

    The switch is the buffer `latched` (saved with the weights). Autograd runs through
    eigvals(W).abs().max(), which gives the published gradient.
    """

    manifold = False

    def __init__(self):
        super().__init__()
        self.register_buffer("latched", torch.zeros((), dtype=torch.bool))

    def forward(self, W: Tensor) -> Tensor:
        rho = torch.linalg.eigvals(W).abs().max()
        if not bool(self.latched) and bool(rho.detach() > 1.0):
            self.latched.fill_(True)
        return W / rho if bool(self.latched) else W


TRIVIALIZATIONS: dict[str, Callable[..., nn.Module]] = {
    "exp": lambda n, K=1, n_neg=0, m=0.1: Exp(n, K),
    "cayley": lambda n, K=1, n_neg=0, m=0.1: Cayley(n, n_neg),
    "svd": lambda n, K=1, n_neg=0, m=0.1: SVD(n, m, K),
}


def orthogonal_(module: nn.Module, name: str, param: str | Callable[..., nn.Module] = "exp", **kwargs):
    """Make `module.<name>` (n, n) orthogonal through TRIVIALIZATIONS[param](n, **kwargs) (or a callable).

    The current value should be orthogonal: it becomes the starting point (via right_inverse).
    kwargs: K (exp, svd), n_neg (cayley), m (svd).
    """
    if isinstance(param, str):
        if param not in TRIVIALIZATIONS:
            raise ValueError(f"orthogonal_: param={param!r} is unknown; param must be one of "
                             f"{', '.join(TRIVIALIZATIONS)} or a callable")
        param = TRIVIALIZATIONS[param]
    weight = getattr(module, name)
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"orthogonal_: {name} must be a square matrix, got shape {tuple(weight.shape)}")
    parametrize.register_parametrization(module, name, param(weight.shape[0], **kwargs))


def unitary_(module: nn.Module, name: str, kind: str = "cayley"):
    """Make `module.<name>` complex unitary.

    kind "cayley" (scuRNN): the tensor is a real (n, n) placeholder, the start is W = I;
    kind "urnn" (Arjovsky): the tensor is the packed (7n,) vector of `URNN`, kept as it is.
    """
    weight = getattr(module, name)
    if kind == "cayley":
        if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
            raise ValueError(f"unitary_: {name} must be a square matrix, got shape {tuple(weight.shape)}")
        with torch.no_grad():
            weight.copy_(torch.eye(weight.shape[0]))
        parametrize.register_parametrization(module, name, UnitaryCayley(), unsafe=True)
    elif kind == "urnn":
        if weight.dim() != 1 or weight.shape[0] % 7:
            raise ValueError(f"unitary_: urnn needs a packed (7n,) vector, got shape {tuple(weight.shape)}")
        parametrize.register_parametrization(module, name, URNN(weight.shape[0] // 7), unsafe=True)
    else:
        raise ValueError(f"unitary_: kind={kind!r} is unknown; kind must be one of cayley, urnn")


def spectral_normalize_(module: nn.Module, name: str):
    """Make `module.<name>` divided by its spectral radius once that exceeds 1 (ENRNN's W2)."""
    parametrize.register_parametrization(module, name, SpectralNormalize())


def _originals(plist) -> list[Tensor]:
    """The free tensors behind one parametrized tensor (original, or original0, original1, ...)."""
    if plist.is_tensor:
        return [plist.original]
    return [getattr(plist, f"original{i}") for i in range(plist.ntensors)]


def initialize_(module: nn.Module, name: str, A: Tensor | None = None):
    """Set the free tensors of `module.<name>`'s constraint from a skew-symmetric generator A."""
    plist = module.parametrizations[name]
    plist[0].initialize_(_originals(plist), A)


def _parametrizations(model: nn.Module):
    """(parametrization, its originals) for every constrained tensor in `model`."""
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for plist in module.parametrizations.values():
                for p in plist:
                    yield p, _originals(plist)


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Split `model`'s parameters: {"default": [...], "orthogonal": [...]}.

    "orthogonal" holds the free tensors of orthogonal and unitary matrices (the generators
    A of exp / cayley, svd's A_p, A_q, p, scuRNN's M and phases, uRNN's packed vector); they
    want their own, about 10x smaller learning rate (REFERENCE §3: RMSprop 2e-4 against 7e-4).
    Everything else (input weights, biases, modReLU biases, ENRNN's free W2 and W3, a readout)
    is "default". Works on any model that contains cells.

    Example:
        >>> import torch
        >>> groups = parameter_groups(torch.nn.Linear(2, 2))
        >>> opt = torch.optim.RMSprop([{"params": groups["default"], "lr": 7e-4},
        ...                            {"params": groups["orthogonal"], "lr": 2e-4}])
    """
    special = {id(t) for p, originals in _parametrizations(model) if getattr(p, "manifold", False)
               for t in originals}
    groups: dict[str, list[nn.Parameter]] = {"default": [], "orthogonal": []}
    for param in model.parameters():
        groups["orthogonal" if id(param) in special else "default"].append(param)
    return groups


def after_optimizer_step(model: nn.Module) -> None:
    """Call after every `optimizer.step()`: DTRIV re-basing (every K steps) and other manifold upkeep."""
    for p, originals in _parametrizations(model):
        hook = getattr(p, "after_optimizer_step", None)
        if hook is not None:
            hook(originals)
