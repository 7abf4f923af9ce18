"""runs: train one cell configuration on one task, and measure its accuracy and gradient stability.

    import runs
    config = runs.RunConfig.from_file("run.json")          # or RunConfig(cell=..., task=..., train=...)
    result = runs.train(config, report=lambda m: m["val_mse"] > 1.0, out_dir="out/")
    result.status, result.value, result.stability, result.to_dict()   # to_dict() is metrics.json
    model = runs.load("out/checkpoint.pt")                  # or an export's best.json
    model.predict(raw_inputs)                                # the task's preprocessing applied (runs.tasks()[name].raw)
    runs.check_fits_memory(config)                           # refuses, in one line, a run this machine cannot hold

Imports nothing of Optuna, Ray or plotly: a search wraps `train(config, report=...)`.
"""

from __future__ import annotations

from typing import Any

from runs._compile import CHOICES as COMPILE_CHOICES
from runs._compile import PAYS_ON_GPU as COMPILE_PAYS_ON_GPU
from runs._config import RunConfig, TaskConfig, TrainConfig, read_run_file
from runs._model import SequenceModel, build_model
from runs._stability import EPS, grad_ratio_log10, hidden_gradients
from runs._tasks import KINDS, Split, Task, TaskSizes, TaskSpec, load_task, register_task, task_input_size, tasks
from runs._optim import optimizers, schedules
from runs._checkpoint import load, save
from runs._environment import environment, recorded_environment, replay_note
from runs._loop import evaluate, train
from runs._memory import MemoryEstimate, check_fits_memory, estimate_memory
from runs._result import RunResult


def build_run_config(
    base: dict[str, Any] | None = None,
    *,
    cell: dict[str, Any] | None = None,
    task: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
) -> RunConfig:
    """A RunConfig from a run file's dict with per-section overrides laid over it (a command
    line's flags). The cell's `input_size` is taken from the task when the cell does not give
    it or when the override changes the task's name (which also drops the file's task options).
    `environment`: what the file's run recorded (`recorded_environment`); a retrain takes its
    threads where neither the file's train section nor the overrides give them."""
    base = dict(base or {})
    recorded_threads = (environment or {}).get("threads")
    if isinstance(recorded_threads, int) and "threads" not in (base.get("train") or {}) and "threads" not in (train or {}):
        train = {**(train or {}), "threads": recorded_threads}
    task_changed = bool(task and "name" in task and (base.get("task") or {}).get("name") != task["name"])
    if task_changed:
        base["task"] = {}  # another task: the file's T, sizes and data folder were meant for the old one
    sections = {}
    for key, override in (("cell", cell), ("task", task), ("train", train)):
        section = base.get(key) or {}
        if not isinstance(section, dict):
            raise ValueError(f"run: `{key}` must be a mapping, got {type(section).__name__}")
        sections[key] = {**section, **(override or {})}
    if not sections["task"]:
        raise ValueError("run: no task; give a run file with a task section or name one (--task adding)")
    if not sections["cell"].get("core"):
        raise ValueError("run: no cell; give a run file with a cell section or name a core (--core lstm)")
    task_config = TaskConfig.from_dict(sections["task"])
    if "input_size" not in sections["cell"] or task_changed:
        sections["cell"]["input_size"] = task_input_size(task_config)
    base.update(sections)
    return RunConfig.from_dict(base)


__all__ = [
    "COMPILE_CHOICES", "COMPILE_PAYS_ON_GPU", "EPS", "KINDS", "MemoryEstimate", "RunConfig", "RunResult", "SequenceModel",
    "Split", "Task", "TaskConfig", "TaskSizes", "TaskSpec", "TrainConfig", "build_model", "build_run_config",
    "check_fits_memory", "environment", "estimate_memory", "evaluate", "grad_ratio_log10", "hidden_gradients",
    "load", "load_task", "optimizers", "read_run_file", "recorded_environment", "register_task", "replay_note",
    "save", "schedules", "task_input_size", "tasks", "train",
]
