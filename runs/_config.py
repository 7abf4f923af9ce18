"""Run configuration: which cell, on which task, trained how.

Three frozen dataclasses, validated on construction, each serialised to one flat dict;
`RunConfig` holds one of each and round-trips `{"cell": {...}, "task": {...}, "train": {...}}`
through JSON or YAML.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from cells import CellConfig

# Keys an exported cell file (`momnas export`'s best.json) carries beside the run itself:
# provenance and results, read by people and plots, ignored for training.
EXPORT_KEYS = ("source", "metrics", "weights")
RUN_KEYS = ("cell", "task", "train")

FLOAT32_MAX = 3.4028234663852886e38
# A validation or test pass is forward-only: it keeps no activations for a backward, so it takes
# several training batches at once in about a training step's memory; on a GPU the recurrent
# kernels are latency-bound at one batch, so a pass over the split takes fewer, barely longer launches.
EVAL_BATCHES = 4
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _from_flat(cls, data: Any, what: str):
    """Build dataclass `cls` from a flat dict, naming unknown keys and the valid ones."""
    if not isinstance(data, dict):
        raise ValueError(f"{what}: expected a mapping of options, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{what}: unknown option(s) {', '.join(map(repr, unknown))}; valid: {', '.join(names)}")
    return cls(**data)


def _flat(obj) -> dict[str, Any]:
    """The fields that are set (None means "the default" and is left out), tuples as lists."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Which task and how much of it.

    `name` is a registered task (`runs.tasks()`), or `npz:PATH` for your own arrays.
    Options a task does not use are rejected when the task is loaded (e.g. `T` for digits).
    """

    name: str
    T: int | None = None          # sequence length of the generated tasks (copying, adding)
    n_train: int | None = None    # at most this many training examples (None: the task's default)
    n_val: int | None = None      # validation examples, carved from the training data
    n_test: int | None = None     # at most this many test examples
    seed: int = 0                 # the data's seed: splits and generated sequences (not the training's)
    data_dir: str | None = None   # where MNIST lives (else $MOMNAS_DATA)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("task: `name` must be a task name such as 'adding' (see `runs.tasks()`) or 'npz:PATH'")
        for key in ("T", "n_train", "n_val", "n_test"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"task: `{key}` must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"task: `seed` must be a non-negative integer, got {self.seed!r}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise ValueError(f"task: `data_dir` must be a path string, got {type(self.data_dir).__name__}")
        # Paths made absolute where the config enters: a search's workers run elsewhere (Ray
        # changes into each trial's folder), where a relative path would point to nothing.
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", _absolute(self.data_dir))
        kind, colon, path = self.name.partition(":")
        if colon and path:
            object.__setattr__(self, "name", f"{kind}:{_absolute(path)}")

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TaskConfig":
        return _from_flat(cls, data, "task")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, learning rates, batches, length, clipping, schedule, seed, device, threads."""

    optimizer: str = "adam"              # adam | rmsprop | sgd (see runs.optimizers())
    lr: float = 1e-3
    orthogonal_lr: float | None = None   # lr of cells.parameter_groups(cell)["orthogonal"]; None: same as lr
    batch_size: int = 128
    eval_batch_size: int | None = None   # sequences per validation / test pass; None: EVAL_BATCHES training batches
    epochs: int = 1
    steps: int | None = None             # optimizer steps in all; when set it replaces `epochs`
    clip: float | None = None            # max global gradient norm; None: no clipping
    schedule: str = "constant"           # constant | cosine | step (see runs.schedules())
    decay_at: float = 0.8                # "step": lr / 10 after this fraction of training (coRNN: 100 of 120 epochs)
    weight_decay: float = 0.0
    eval_every: int | None = None        # evaluate and report every N steps; None: after every epoch
    seed: int = 0                        # initialisation and batch order
    device: str = "auto"                 # auto (CUDA when available) | cpu | cuda | cuda:N | mps
    impl: str = "auto"                   # cells.build_cell implementation: auto (fastest available) | reference
    compile: str = "auto"                # torch.compile the training steps: off | on | auto (where it pays, runs._compile)
    graph: str = "off"                   # replay forward and backward as CUDA graphs: off | on | auto (where it pays, runs._graph)
    threads: int | None = None           # torch's CPU threads for the run (set, then restored); None: torch's default

    def __post_init__(self):
        from runs._optim import OPTIMIZERS, SCHEDULES

        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            raise ValueError(f"train: unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not isinstance(self.schedule, str) or self.schedule not in SCHEDULES:
            raise ValueError(f"train: unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        for key in ("lr", "orthogonal_lr", "clip"):
            value = getattr(self, key)
            if value is None and key != "lr":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
                raise ValueError(f"train: `{key}` must be a positive number, got {value!r}")
            if value > FLOAT32_MAX:  # the optimizers keep it as a float32 tensor value: it would overflow
                raise ValueError(f"train: `{key}` {value!r} is beyond float32's range (at most {FLOAT32_MAX:.3g}); give a usual value such as 1e-3")
        for key in ("batch_size", "eval_batch_size", "epochs", "steps", "eval_every", "threads"):
            value = getattr(self, key)
            if value is None and key in ("eval_batch_size", "steps", "eval_every", "threads"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train: `{key}` must be a positive integer, got {value!r}")
        if isinstance(self.decay_at, bool) or not isinstance(self.decay_at, (int, float)) or not 0 < self.decay_at < 1:
            raise ValueError(f"train: `decay_at` must be a fraction between 0 and 1, got {self.decay_at!r}")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) or not self.weight_decay >= 0:
            raise ValueError(f"train: `weight_decay` must be >= 0, got {self.weight_decay!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"train: `seed` must be a non-negative integer, got {self.seed!r}")
        from cells.build import IMPLS

        if not isinstance(self.impl, str) or self.impl not in IMPLS:
            raise ValueError(f"train: impl={self.impl!r} is not a cells implementation; choose one of {', '.join(IMPLS)}")
        from runs._compile import CHOICES

        for name in ("compile", "graph"):  # YAML reads a bare off / on as false / true
            if isinstance(getattr(self, name), bool):
                object.__setattr__(self, name, "on" if getattr(self, name) else "off")
        if self.compile not in CHOICES:
            raise ValueError(f"train: unknown compile {self.compile!r}; choose one of {', '.join(CHOICES)}")
        from runs._graph import CHOICES as GRAPH_CHOICES

        if self.graph not in GRAPH_CHOICES:
            raise ValueError(f"train: unknown graph {self.graph!r}; choose one of {', '.join(GRAPH_CHOICES)}")
        if self.graph == "on" and self.compile == "on":
            raise ValueError("train: graph='on' and compile='on' both remove the host's launches; choose one "
                             "(graph='on' with compile='auto' or 'off')")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ValueError(f"train: unknown device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")

    @property
    def eval_rows(self) -> int:
        """Sequences per validation / test pass: `eval_batch_size`, else EVAL_BATCHES training batches."""
        return self.eval_batch_size or EVAL_BATCHES * self.batch_size

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return _from_flat(cls, data, "train")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run: `cell` (a cells.CellConfig), `task`, `train`."""

    cell: CellConfig
    task: TaskConfig
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        for key, cls in (("cell", CellConfig), ("task", TaskConfig), ("train", TrainConfig)):
            if not isinstance(getattr(self, key), cls):
                raise TypeError(f"RunConfig: `{key}` must be a {cls.__name__}, got {type(getattr(self, key)).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell.to_dict(), "task": self.task.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, what: str = "run") -> "RunConfig":
        """Build from `{"cell", "task", "train"}`; an exported cell's extra keys are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"{what}: expected a mapping with keys cell, task, train; got {type(data).__name__}")
        unknown = sorted(set(data) - set(RUN_KEYS) - set(EXPORT_KEYS))
        if unknown:
            raise ValueError(
                f"{what}: unknown key(s) {', '.join(map(repr, unknown))}; a run file holds "
                f"{', '.join(RUN_KEYS)} (and an exported cell's {', '.join(EXPORT_KEYS)})"
            )
        for key in ("cell", "task"):
            if key not in data:
                raise ValueError(f"{what}: missing {key!r}; a run file holds cell, task and train")
        cell = data["cell"]
        if not isinstance(cell, dict):
            raise ValueError(f"{what}: `cell` must be a mapping, got {type(cell).__name__}")
        return cls(
            cell=CellConfig.from_dict(cell),
            task=TaskConfig.from_dict(data["task"]),
            train=TrainConfig.from_dict(data.get("train") or {}),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        """Read a run file (JSON, or YAML for .yaml/.yml), an exported best.json included."""
        return cls.from_dict(read_run_file(path), what=str(path))

    def to_file(self, path: str | Path) -> None:
        """Write JSON, or YAML when the name ends in .yaml/.yml."""
        path = Path(path)
        if path.suffix in (".yaml", ".yml"):
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        else:
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def read_run_file(path: str | Path) -> dict[str, Any]:
    """The raw dict of a run file, its top-level keys checked (sections are checked by RunConfig)."""
    path = Path(path)
    if path.is_dir():
        found = path / "run.json"
        hint = f": give {found}" if found.is_file() else ""
        raise FileNotFoundError(f"run file {path} is a folder, not a run file{hint}")
    if not path.is_file():
        raise FileNotFoundError(f"run file {path} not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"run file {path} is not text (a binary file?): give a run.json or run.yaml, "
                         "or an exported best.json") from None
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"run file {path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"run file {path}: expected a mapping with keys cell, task, train")
    unknown = sorted(set(data) - set(RUN_KEYS) - set(EXPORT_KEYS))
    if unknown:
        raise ValueError(
            f"run file {path}: unknown key(s) {', '.join(map(repr, unknown))}; a run file holds "
            f"{', '.join(RUN_KEYS)} (and an exported cell's {', '.join(EXPORT_KEYS)})"
        )
    return data
