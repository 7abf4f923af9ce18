"""A run's checkpoint: the cells' checkpoint (`cells.io`) with "run" and "model_state" added.

Same file as `cells.save` writes ({"format": "momnas-checkpoint", "version": 1, "cell",
"cell_state", ...}, written atomically), so `cells.load` reads the cell of a run and
`load` the whole trained model (cell + readout). docs/architecture.md, "File formats".
"""

from __future__ import annotations

from pathlib import Path

import torch

from cells.io import is_json_file, read_checkpoint, read_export
from cells.io import save as save_cell
from runs._config import RunConfig
from runs._model import SequenceModel, build_model
from runs._tasks import task_spec


def save(model: SequenceModel, path: str | Path, config: RunConfig | None = None) -> None:
    """Write a run checkpoint (docs/architecture.md) that cells.load and runs.load read."""
    config = config if config is not None else model.run_config
    if config is None:
        raise ValueError("runs.save: no RunConfig (pass config=, or a model from runs.train / runs.load)")
    save_cell(model.cell, path, run=config.to_dict(), model_state=model.state_dict())


def load(path: str | Path, *, map_location: str | torch.device = "cpu") -> SequenceModel:
    """Rebuild the trained model (cell + readout) of a run: its checkpoint (a run's
    checkpoint.pt, an export's best.pt), or a JSON file naming one in "weights" (an export's
    best.json). `model.run_config` holds its RunConfig; `model.predict(raw inputs)` answers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"runs.load: {path} does not exist; pass a run's checkpoint.pt, or an export's "
                                "best.json or best.pt")
    if is_json_file(path):
        exported = read_export(path, reader="runs.load", map_location=map_location)
        if exported.checkpoint is None:
            raise ValueError(f"runs.load: {path} names no weights (no \"weights\" entry), so it holds no trained model; "
                             f"train it (momnas train {path} --out DIR) and load DIR/checkpoint.pt")
        path, data = exported.weights, exported.checkpoint
    else:
        data = read_checkpoint(path, reader="runs.load", map_location=map_location)
    if "run" not in data or "model_state" not in data:
        raise ValueError(f"runs.load: {path} holds a cell only (no run); read it with cells.load")
    config = RunConfig.from_dict(data["run"], what=str(path))
    spec, _ = task_spec(config.task.name)
    # The readout's size is in its weights: an npz task's class count is not in its config.
    try:
        output_size = data["model_state"]["readout.weight"].shape[0]
        model = build_model(config.cell, output_size, spec.readout, config.train.impl, run_config=config)
        model.load_state_dict(data["model_state"])
    except (KeyError, IndexError, AttributeError, TypeError, RuntimeError) as exc:
        detail = " ".join(str(exc).strip().splitlines()[:2]) or type(exc).__name__
        raise ValueError(f"runs.load: {path}: the weights do not fit the model ({detail}); "
                         "the file is damaged or was edited by hand") from None
    return model
