"""The trained model: a cell and a linear readout, of the last state or of every step."""

from __future__ import annotations

import torch
from torch import nn

import cells
from runs._config import RunConfig

READOUTS = ("last", "all")


class SequenceModel(nn.Module):
    """`cell` followed by `readout = Linear(cell.output_size, output_size)`.

    readout="last": one prediction per sequence from the last output, (B, output_size).
    readout="all":  one prediction per step, (B, T, output_size) (the copying task).
    run_config:     the RunConfig it is trained from (`runs.train` and `runs.load` give it).
    """

    def __init__(self, cell: nn.Module, output_size: int, readout: str = "last", run_config: RunConfig | None = None):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"SequenceModel: readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if run_config is not None and not isinstance(run_config, RunConfig):
            raise TypeError(f"SequenceModel: run_config must be a runs.RunConfig or None, got {type(run_config).__name__}")
        self.cell = cell
        self.readout = nn.Linear(cell.output_size, output_size)
        self.readout_mode = readout
        self.run_config = run_config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cell(x)[0])

    def head(self, outputs: torch.Tensor) -> torch.Tensor:
        """Predictions from the cell's outputs (B, T, H)."""
        if self.readout_mode == "last":
            return self.readout(outputs[:, -1])  # (B, output_size)
        return self.readout(outputs)  # (B, T, output_size)

    def extra_repr(self) -> str:
        parts = [] if self.readout_mode == "last" else [f"readout={self.readout_mode!r}"]
        if self.run_config is not None:
            parts.append(f"task={self.run_config.task.name!r}")
        return ", ".join(parts)


def build_model(cell_config: cells.CellConfig, output_size: int, readout: str, impl: str = "auto",
                run_config: RunConfig | None = None) -> SequenceModel:
    return SequenceModel(cells.build_cell(cell_config, impl), output_size, readout, run_config)
