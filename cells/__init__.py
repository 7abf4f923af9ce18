"""momnas cells: optimizer-inspired dynamics applied to recurrent cores (torch and numpy only).

    >>> import torch
    >>> from cells import CellConfig, build_cell
    >>> cell = build_cell(CellConfig(core="lstm", dynamics="momentum", input_size=1, hidden_size=16))
    >>> out, state = cell(torch.randn(4, 10, 1))   # (B, T, input_size) -> (B, T, output_size)
    >>> tuple(out.shape)
    (4, 10, 16)
"""

from .build import build_cell, register_impl
from .cell import Cell, CellState, hidden_states
from .config import CellConfig, Family, Param, families
from .io import load, save
from .manifolds import after_optimizer_step, parameter_groups

__all__ = [
    "CellConfig",
    "build_cell",
    "hidden_states",
    "register_impl",
    "save",
    "load",
    "families",
    "parameter_groups",
    "after_optimizer_step",
    "Cell",
    "CellState",
    "Family",
    "Param",
]
