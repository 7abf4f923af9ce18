"""Constraints on recurrent weights as `torch.nn.utils.parametrize` modules (geotorch style).

Each manifold maps free tensors (the "originals", what the optimizer updates) onto a
constrained matrix, following one protocol (`Manifold`, `_base.py`: `initialize_`,
`right_inverse`, `after_optimizer_step`); cores attach one with a one-line helper
(`orthogonal_`, `unitary_`, ...) and stay plain PyTorch. The time loop runs under
`parametrize.cached()`, so the map runs once per forward. On a GPU the maps and the re-bases
never wait for the device (`matrix_exp_on_device`, `solve_ex`, a host-side step count), so they
do not serialise a training step; ENRNN's `eigvals` is the exception (PyTorch computes it on
the host).

One module per manifold:

- `Exp` (`_exp.py`)       B = base @ expm(skew(A))                  expRNN; DTRIV re-bases every K steps (`_dtriv.py`)
- `Cayley` (`_cayley.py`) B = (I + skew(A))^-1 (I - skew(A)) D      scoRNN, D = diag(+-1) fixed
- `SVD` (`_svd.py`)       W = P diag(sigma) Q^T, sigma in [1-m, 1+m] Vorontsov et al. 2017, P, Q as `Exp`
- `UnitaryCayley` (`_unitary_cayley.py`)  W = (I + A)^-1 (I - A) diag(e^{i theta}), A skew-Hermitian   scuRNN
- `URNN` (`_urnn.py`)     W = D3 R2 F^-1 D2 Pi R1 F D1              Arjovsky et al. 2016
- `SpectralNormalize` (`_spectral.py`)  W / rho(W), latched the first time rho > 1   ENRNN

beside the linear algebra they share (`_linalg.py`), the attach helpers (`_attach.py`) and what
an optimizer needs (`_optim.py`: `parameter_groups`, `after_optimizer_step`). A new manifold is a
new module with a `Manifold` subclass, plus an entry in `TRIVIALIZATIONS` or its own helper.

`skew(A) = triu(A, 1) - triu(A, 1)^T`: only the strict upper triangle of A is free.

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

from ._attach import TRIVIALIZATIONS, initialize_, orthogonal_, spectral_normalize_, unitary_
from ._base import Manifold
from ._cayley import Cayley
from ._exp import Exp
from ._linalg import matrix_exp, matrix_exp_on_device, signs, skew, skew_init
from ._optim import after_optimizer_step, parameter_groups
from ._spectral import SpectralNormalize
from ._svd import SVD
from ._unitary_cayley import UnitaryCayley
from ._urnn import URNN

__all__ = ["Manifold", "Exp", "Cayley", "SVD", "UnitaryCayley", "URNN", "SpectralNormalize", "TRIVIALIZATIONS",
           "orthogonal_", "unitary_", "spectral_normalize_", "matrix_exp", "matrix_exp_on_device", "skew", "skew_init", "signs", "initialize_",
           "parameter_groups", "after_optimizer_step"]
