"""What an optimizer needs from the manifolds: their free tensors in a group of their own, and
their upkeep after each step."""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize

from ._base import Manifold, originals


def _parametrizations(model: nn.Module):
    """(manifold, its originals) for every tensor in `model` that one of ours constrains."""
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for plist in module.parametrizations.values():
                for p in plist:
                    if isinstance(p, Manifold):
                        yield p, originals(plist)


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
    special = {id(t) for p, free in _parametrizations(model) if p.orthogonal_group for t in free}
    groups: dict[str, list[nn.Parameter]] = {"default": [], "orthogonal": []}
    for param in model.parameters():
        groups["orthogonal" if id(param) in special else "default"].append(param)
    return groups


def after_optimizer_step(model: nn.Module) -> None:
    """Call after every `optimizer.step()`: DTRIV re-basing (every K steps) and other manifold upkeep."""
    for p, free in _parametrizations(model):
        p.after_optimizer_step(free)
