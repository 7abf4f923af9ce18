"""The trained model: a cell and a linear readout, of the last state or of every step."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

import cells
from runs._config import RunConfig

READOUTS = ("last", "all")


class SequenceModel(nn.Module):
    """`cell` followed by `readout = Linear(cell.output_size, output_size)`.

    readout="last": one prediction per sequence from the last output, (B, output_size).
    readout="all":  one prediction per step, (B, T, output_size) (the copying task).
    run_config:     the RunConfig it is trained from (`runs.train` and `runs.load` give it);
                    `preprocess` and `predict` read its task.

    `forward` takes the task's prepared inputs (what `preprocess` returns) and gives the
    readout's raw outputs; `predict` takes raw task inputs and gives answers.
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

    @property
    def kind(self) -> str:
        """What the model answers (a key of `runs.KINDS`): "sequence" (a class per step, readout
        "all"), "regression" (one value: a single output) or "classification" (one class of
        two or more, which every classification task has)."""
        if self.readout_mode == "all":
            return "sequence"
        return "regression" if self.readout.out_features == 1 else "classification"

    def preprocess(self, x: Any) -> torch.Tensor:
        """Raw task inputs (see `runs.tasks()[name].raw`, e.g. digits pixels 0..16 as
        `load_digits().data` gives them) -> the (N, T, input_size) float32 tensor `forward`
        takes, through the task's own preprocessing, the one its loader applies."""
        from runs._tasks import task_spec

        if self.run_config is None:
            raise ValueError("SequenceModel.preprocess: this model has no run_config, so its task is unknown; "
                             "load it with runs.load or build it with run_config=")
        spec, _ = task_spec(self.run_config.task.name)
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        out = torch.from_numpy(spec.preprocess(np.asarray(x)))
        if out.shape[2] != self.cell.input_size:
            raise ValueError(f"SequenceModel.preprocess: {spec.name} inputs give {out.shape[2]} feature(s) per step but "
                             f"the cell takes {self.cell.input_size}; give {spec.raw}")
        return out

    @torch.no_grad()
    def predict(self, x: Any, *, batch_size: int = 256) -> torch.Tensor:
        """Answers for raw task inputs (as `preprocess` takes them), on the CPU: class indices
        (N,) int64 for classification, (N, T) for the copying task, values (N,) for regression."""
        inputs = self.preprocess(x)
        if len(inputs) == 0:
            raise ValueError("SequenceModel.predict: no examples (N = 0); give at least one")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            out = torch.cat([self(inputs[i : i + batch_size].to(device)).cpu() for i in range(0, len(inputs), batch_size)])
        finally:
            self.train(was_training)
        return out.squeeze(-1) if self.kind == "regression" else out.argmax(-1)

    def extra_repr(self) -> str:
        parts = [] if self.readout_mode == "last" else [f"readout={self.readout_mode!r}"]
        if self.run_config is not None:
            parts.append(f"task={self.run_config.task.name!r}")
        return ", ".join(parts)


def build_model(cell_config: cells.CellConfig, output_size: int, readout: str, impl: str = "auto",
                run_config: RunConfig | None = None) -> SequenceModel:
    return SequenceModel(cells.build_cell(cell_config, impl), output_size, readout, run_config)
