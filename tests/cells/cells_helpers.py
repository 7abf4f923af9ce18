"""Helpers for the cells tests (imported by name: pytest puts this folder on sys.path)."""

import torch

from cells import CellConfig, build_cell
from cells.config import CORES, DYNAMICS


def every_family():
    """(core, dynamics, extra config) for every buildable pair, plus the paper-form NAG where it applies."""
    out = []
    for core in CORES:
        for dynamics in DYNAMICS:
            out.append((core, dynamics, {}))
        if CORES[core]["additive"]:
            out.append((core, "nag_restart", {"nag_form": "paper"}))
    return out


def small_cell(core, dynamics="plain", input_size=3, hidden_size=4, dtype=torch.float32, **kw):
    """A small cell with oscillator sizes that make their outputs visibly non-zero."""
    if core == "unicornn":
        kw.setdefault("layers", 2)
    cell = build_cell(CellConfig(core=core, dynamics=dynamics, input_size=input_size, hidden_size=hidden_size, **kw))
    return cell.to(dtype)
