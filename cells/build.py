"""`build_cell`: config -> module, through a registry of implementations keyed by name.

"reference" builds the step-by-step cells of this package (the oracle). Other packages add
implementations with `register_impl` (cells/fast registers "auto"); build_cell imports
`cells.fast` on first need so that its registrations happen without the caller importing it.
"""

from __future__ import annotations

import importlib
from typing import Callable

from torch import nn

from .config import CellConfig
from .cores import CORE_CLASSES

__all__ = ["build_cell", "register_impl", "IMPLS"]

Factory = Callable[[CellConfig], nn.Module]


def _reference(config: CellConfig) -> nn.Module:
    return CORE_CLASSES[config.core](config)


IMPLS: dict[str, Factory] = {"reference": _reference}
_PLUGINS = ("cells.fast",)  # imported on first miss; each registers its impls


def register_impl(name: str, factory: Factory) -> None:
    """Make `build_cell(cfg, impl=name)` call `factory(cfg)`; the module it returns must keep
    the reference cell's interface (forward(x, state), .config, .output_size, parameter names)."""
    IMPLS[name] = factory


def _load_plugins() -> None:
    for name in _PLUGINS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the plugin exists but something it needs is missing
                raise


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
        _load_plugins()
    if impl not in IMPLS:
        raise ValueError(f"build_cell: impl={impl!r} is unknown; impl must be one of {', '.join(IMPLS)}")
    return IMPLS[impl](config)
