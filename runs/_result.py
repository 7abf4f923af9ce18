"""What one run produced (`RunResult`) and the files of a run folder (`write_outputs`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cells.io import atomic_write
from runs._checkpoint import save
from runs._config import RunConfig
from runs._model import SequenceModel


@dataclasses.dataclass
class RunResult:
    """What one run produced. `to_dict()` is metrics.json (docs/architecture.md)."""

    status: str                      # completed | diverged | stopped
    task: str
    metric: str                      # e.g. "accuracy", "mse", "cross_entropy"
    direction: str                   # "maximize" | "minimize"
    validation: dict[str, float] | None  # None when diverged
    test: dict[str, float] | None        # None when diverged
    baseline: float | None
    stability: dict[str, Any]
    epochs: float
    steps: int
    seconds: float
    compile_seconds: float | None    # the first training step's wall time when compiled (compilation included)
    startup_seconds: float | None    # train() called to its first step done: task, model, first step (None: no step)
    curves: dict[str, list]          # one entry per evaluation (see curves.json)
    grad_profile: list[float] | None  # ‖∂L/∂h_t‖, t = 1..T, at the last sound evaluation
    model: SequenceModel | None      # None when diverged
    config: RunConfig
    environment: dict[str, Any]      # what changes the numbers besides the config (runs._environment)

    @property
    def value(self) -> float | None:
        """The validation metric a search optimises (None when diverged)."""
        return None if self.validation is None else self.validation[self.metric]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "task": self.task, "metric": self.metric, "direction": self.direction,
            "validation": self.validation, "test": self.test, "baseline": self.baseline,
            "stability": self.stability, "epochs": self.epochs, "steps": self.steps, "seconds": self.seconds,
            "compile_seconds": self.compile_seconds, "startup_seconds": self.startup_seconds,
            "environment": self.environment,
        }

    def profile(self, max_points: int = 256) -> tuple[list[int], list[float]]:
        """(time steps, ‖∂L/∂h_t‖) thinned to at most `max_points`, first and last step kept."""
        if not self.grad_profile:
            return [], []
        T = len(self.grad_profile)
        ts = sorted({int(round(v)) for v in np.linspace(1, T, min(max_points, T))})
        return ts, [self.grad_profile[t - 1] for t in ts]



def _json(data: Any) -> Callable[[Path], None]:
    return lambda path: path.write_text(json.dumps(data, indent=2) + "\n")


def write_outputs(result: RunResult, out_dir: str | Path) -> None:
    """run.json, curves.json, metrics.json and, unless diverged, checkpoint.pt under out_dir.

    Each file is written under a temporary name and renamed: it is there whole or not at
    all. metrics.json comes last, so its presence means the others are complete.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if result.model is not None:
        save(result.model, out / "checkpoint.pt", result.config)
    else:
        # A diverged run has no weights: a checkpoint from an earlier run in this folder must
        # not pass for this run's.
        (out / "checkpoint.pt").unlink(missing_ok=True)
    atomic_write(out / "run.json", _json(result.config.to_dict()))
    atomic_write(out / "curves.json", _json(result.curves))
    atomic_write(out / "metrics.json", _json(result.to_dict()))
