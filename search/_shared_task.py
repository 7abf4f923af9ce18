"""The search's task data, loaded once by its driver and shared with every trial through Ray's
object store, instead of each trial reading and converting it again.

Loading full psMNIST (IDX files, permutation, 55,000 x 784 floats) takes ~1.4 s in a fresh
process and ~0.9 s in one that has read the files before: a cost paid by every trial, and
several times at once where a search starts many workers. The driver has the task already
(it checks it before starting Ray); `tune.with_parameters` puts it in the object store, which
Ray copies once to each node. `SharedTask` pickles the splits as numpy arrays, which Ray keeps
out of band: a trial maps them from its node's object store without copying (read-only, as
training only reads them) and moves them to its device as runs.train always does.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import torch

from runs import Split, Task, TaskConfig

_SPLITS = ("train", "val", "test")


class SharedTask:
    """A loaded `runs.Task` that travels through Ray's object store without copies of its data."""

    def __init__(self, task: Task):
        self.task = task

    def __reduce__(self):
        arrays = {name: (getattr(self.task, name).x.numpy(), getattr(self.task, name).y.numpy()) for name in _SPLITS}
        rest = {f.name: getattr(self.task, f.name) for f in dataclasses.fields(self.task) if f.name not in _SPLITS}
        return _rebuild, (rest, arrays)

    def for_config(self, config: TaskConfig) -> Task | None:
        """The task if `config` is the one it was loaded from (runs.train checks it), else None."""
        return self.task if self.task.config == config else None


def _tensor(array: np.ndarray) -> torch.Tensor:
    # Arrays from the object store are read-only views of it; torch warns that it cannot mark
    # a tensor read-only. Nothing writes to them: training indexes them or copies them to a GPU.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _rebuild(rest: dict[str, Any], arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> SharedTask:
    splits = {name: Split(_tensor(x), _tensor(y)) for name, (x, y) in arrays.items()}
    return SharedTask(Task(**rest, **splits))
