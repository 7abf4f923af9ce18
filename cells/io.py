"""`save` / `load`: a cell's config and weights in one file (docs/architecture.md, "File formats").

A checkpoint is `torch.save` of {"format": "momnas-checkpoint", "version": 1, "cell": config
dict, "cell_state": state_dict}; runs add "run" and "model_state" (`save(cell, path, **extra)`,
read back with `read_checkpoint`), which `load` ignores. Files are written under a temporary
name and renamed (`atomic_write`): a checkpoint is there whole or not at all.
`load` also reads an exported JSON file {"cell": {...}, "weights": "relative/path.pt"?}
through `read_export`, which `runs.load` shares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
from torch import nn

from .build import build_cell
from .config import CellConfig

__all__ = ["save", "load", "read_checkpoint", "read_export", "is_json_file", "ExportedCell", "atomic_write", "FORMAT", "VERSION"]

FORMAT = "momnas-checkpoint"
VERSION = 1


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a temporary name beside `path`, then rename it to `path`: the file is
    there whole or not at all (a failed write leaves no temporary behind)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save(cell: nn.Module, path: str | os.PathLike, **extra: Any) -> None:
    """Write `cell`'s config and weights to `path` (any cell built by `build_cell`), atomically;
    `extra` entries are stored beside them (runs store "run" and "model_state").

    Example:
        >>> import tempfile, torch
        >>> cell = build_cell(CellConfig(core="gru", input_size=2, hidden_size=4))
        >>> path = Path(tempfile.mkdtemp()) / "cell.pt"
        >>> save(cell, path)
        >>> all(torch.equal(a, b) for a, b in zip(cell.state_dict().values(), load(path).state_dict().values()))
        True
    """
    config = getattr(cell, "config", None)
    if not isinstance(config, CellConfig):
        raise TypeError(f"cells.save: expected a cell built by build_cell (with a .config), got {type(cell).__name__}")
    data = {"format": FORMAT, "version": VERSION, "cell": config.to_dict(), "cell_state": cell.state_dict(), **extra}
    atomic_write(path, lambda tmp: torch.save(data, tmp))


def load(path: str | os.PathLike, impl: str = "auto") -> nn.Module:
    """Rebuild the cell stored at `path`: a checkpoint (cells or runs) or a JSON file with "cell".

    A JSON file without "weights" gives a freshly initialised cell. Errors are one line naming
    the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cells.load: {path} does not exist; pass a checkpoint written by cells.save "
                                f"or runs, or a JSON file with a \"cell\" entry")
    if is_json_file(path):
        exported = read_export(path)
        cell = build_cell(exported.config, impl)
        if exported.checkpoint is not None:
            _load_state(cell, exported.checkpoint["cell_state"], exported.weights)
        return cell
    checkpoint = read_checkpoint(path)
    cell = build_cell(_config(checkpoint["cell"], path), impl)
    _load_state(cell, checkpoint["cell_state"], path)
    return cell


def is_json_file(path: Path) -> bool:
    """Whether `path` is a JSON file (by its suffix, or a first character "{"), not a checkpoint."""
    if path.suffix.lower() == ".json":
        return True
    with path.open("rb") as f:
        return f.read(64).lstrip()[:1] == b"{"


class ExportedCell(NamedTuple):
    """What an exported JSON file gives: its cell, and the checkpoint its "weights" names."""

    config: CellConfig
    weights: Path | None      # the checkpoint's path (None: the file names no weights)
    checkpoint: dict | None   # that checkpoint, validated (`read_checkpoint`), holding the same cell


def read_export(path: str | os.PathLike, reader: str = "cells.load", map_location: Any = "cpu") -> ExportedCell:
    """Read an exported JSON file {"cell": {...}, "weights": "file.pt" (optional, relative to
    the JSON file)}; errors are one line starting with `reader`, naming the file and the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{reader}: {path} is not valid JSON ({exc}); fix it or export the cell again") from None
    if not isinstance(data, dict) or "cell" not in data:
        raise ValueError(f"{reader}: {path} has no top-level \"cell\" entry; it needs "
                         f"{{\"cell\": {{...CellConfig.to_dict()...}}, \"weights\": \"file.pt\" (optional)}}")
    config = _config(data["cell"], path, reader)
    weights = data.get("weights")
    if weights is None:
        return ExportedCell(config, None, None)
    if not isinstance(weights, str):
        raise ValueError(f"{reader}: {path}: \"weights\" must be a path (string) relative to the JSON file")
    weights_path = path.parent / weights
    if not weights_path.is_file():
        raise FileNotFoundError(f"{reader}: {weights_path} (the \"weights\" of {path}) does not exist; "
                                f"put the checkpoint there or drop \"weights\" for a fresh cell")
    checkpoint = read_checkpoint(weights_path, reader, map_location)
    if _config(checkpoint["cell"], weights_path, reader) != config:
        raise ValueError(f"{reader}: {weights_path} holds a different cell than {path} describes; "
                         f"point \"weights\" at the checkpoint of this cell")
    return ExportedCell(config, weights_path, checkpoint)


def read_checkpoint(path: str | os.PathLike, reader: str = "cells.load", map_location: Any = "cpu") -> dict:
    """The validated dict of the checkpoint at `path` (format, version, "cell", "cell_state");
    errors are one line starting with `reader`, naming the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{reader}: {path} does not exist; pass a checkpoint written by cells.save or runs")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{reader}: {path} is not a readable checkpoint ({reason}); "
                         f"write it with cells.save or restore the file") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{reader}: {path} is not a momnas checkpoint (no \"format\": \"{FORMAT}\"); "
                         f"write it with cells.save")
    if checkpoint.get("version") != VERSION:
        raise ValueError(f"{reader}: {path} has checkpoint version {checkpoint.get('version')!r}, this momnas "
                         f"reads version {VERSION}; load it with the momnas that wrote it")
    for key in ("cell", "cell_state"):
        if key not in checkpoint:
            raise ValueError(f"{reader}: {path} has no {key!r} entry; write it with cells.save")
    return checkpoint


def _config(data, path: Path, reader: str = "cells.load") -> CellConfig:
    try:
        return CellConfig.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{reader}: {path}: {exc}") from None


def _load_state(cell: nn.Module, state: dict, path: Path) -> None:
    try:
        cell.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:2])
        raise ValueError(f"cells.load: {path}: the weights do not fit the cell ({detail}); "
                         f"the file is damaged or was edited by hand") from None
