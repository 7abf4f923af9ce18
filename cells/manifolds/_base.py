"""The protocol every manifold of this package follows (geotorch's, made explicit).

A manifold is a `torch.nn.utils.parametrize` module: `forward(*originals)` maps the free
tensors (the "originals", what the optimizer updates) onto the constrained value. Beyond that:

- `initialize_(originals, A)`: start from the generator A (a skew-symmetric init) or, for those
  that need none, from the manifold's own init.
- `right_inverse(value)`: the originals of a value, so that `module.weight = Q` starts there
  (torch calls it when the manifold is attached). URNN and SpectralNormalize have none: the
  base raises `NotImplementedError`, which torch reads as "keep the tensor as it is".
- `after_optimizer_step(originals)`: upkeep after every optimizer step (DTRIV's re-base); none
  by default.
- `orthogonal_group`: its originals go to `parameter_groups`' "orthogonal" group, the one with
  the smaller learning rate.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn


class Manifold(nn.Module):
    """Base of every constraint in `cells.manifolds`: the protocol above, with its defaults."""

    orthogonal_group: ClassVar[bool] = True

    def initialize_(self, originals: list[Tensor], A: Tensor | None) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot start from a generator; set its original tensor instead")

    def right_inverse(self, value: Tensor):
        raise NotImplementedError(f"{type(self).__name__} has no right inverse; set its original tensor instead")

    def after_optimizer_step(self, originals: list[Tensor]) -> None:
        """Nothing to keep up by default."""


def originals(plist) -> list[Tensor]:
    """The free tensors behind one parametrized tensor (original, or original0, original1, ...)."""
    if plist.is_tensor:
        return [plist.original]
    return [getattr(plist, f"original{i}") for i in range(plist.ntensors)]
