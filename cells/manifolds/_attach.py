"""Attaching a manifold to a module's tensor in one line, and starting it from a generator."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ._base import originals
from ._cayley import Cayley
from ._exp import Exp
from ._spectral import SpectralNormalize
from ._svd import SVD
from ._unitary_cayley import UnitaryCayley
from ._urnn import URNN


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


def initialize_(module: nn.Module, name: str, A: Tensor | None = None):
    """Set the free tensors of `module.<name>`'s constraint from a skew-symmetric generator A."""
    plist = module.parametrizations[name]
    plist[0].initialize_(originals(plist), A)
