"""`build_cell`: config -> module, through a table of implementations keyed by name.

"reference" builds the step-by-step cells of this package (the oracle); "auto" makes that
cell fast in place with `cells.fast.accelerate`. `cells.fast` is imported only when an
"auto" cell is built: `import cells` stays light, and `cells.fast` (which imports `cells.cell`)
never imports this module back. `register_impl` adds an implementation under a new name.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from .config import CellConfig
from .cores import CORE_CLASSES

__all__ = ["build_cell", "register_impl", "IMPLS"]

Factory = Callable[[CellConfig], nn.Module]


def _reference(config: CellConfig) -> nn.Module:
    return CORE_CLASSES[config.core](config)


def _auto(config: CellConfig) -> nn.Module:
    from .fast import accelerate  # on first use only (see the module docstring)

    return accelerate(_reference(config))


IMPLS: dict[str, Factory] = {"reference": _reference, "auto": _auto}


def register_impl(name: str, factory: Factory) -> None:
    """Make `build_cell(cfg, impl=name)` call `factory(cfg)`; the module it returns must keep
    the reference cell's interface (forward(x, state), .config, .output_size, parameter names)."""
    IMPLS[name] = factory


def build_cell(config: CellConfig, impl: str = "auto") -> nn.Module:
    """Build the cell `config` describes.

    Example:
        >>> import torch
        >>> cell = build_cell(CellConfig(core="lstm", dynamics="momentum", input_size=1, hidden_size=8))
        >>> out, state = cell(torch.zeros(2, 5, 1))
        >>> tuple(out.shape)
        (2, 5, 8)
    """
    if not isinstance(config, CellConfig):
        raise TypeError(f"build_cell: expected a CellConfig, got {type(config).__name__} "
                        f"(use CellConfig.from_dict for a dict)")
    if impl not in IMPLS:
        raise ValueError(f"build_cell: impl={impl!r} is unknown; impl must be one of {', '.join(IMPLS)}")
    return IMPLS[impl](config)
