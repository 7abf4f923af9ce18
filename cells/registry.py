"""The registry of cores: core name -> its reference class (a `cells.cell.Cell` subclass).

Each module of `cells.cores` registers its classes with `register_core`; `build_cell` and
the unpickling of a cell read `CORE_CLASSES`. It imports nothing, so `cells.cell` (which
reads it) and `cells.cores` (which fills it) do not import each other.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["CORE_CLASSES", "register_core"]

CORE_CLASSES: dict[str, type] = {}


def register_core(*names: str) -> Callable[[type], type]:
    """Class decorator: `build_cell(CellConfig(core=name))` builds this class, for each name."""
    def register(cls: type) -> type:
        for name in names:
            CORE_CLASSES[name] = cls
        return cls
    return register
