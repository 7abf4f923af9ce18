"""SearchConfig: everything one `momnas search` needs, as a frozen dataclass with a YAML round trip."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from search._resources import check_gpus_per_trial, packs_several
from search._samplers import SAMPLERS
from search._study import DEFAULT_OUT

EARLY_STOPS = ("auto", "mo-asha", "none")
# `auto` turns MO-ASHA on where it has room to save time: enough trials for a rung to rank
# them, and enough epochs for a rung below the full budget (Schmucker et al. 2021: grace 1, eta 3).
AUTO_EARLY_STOP = {"trials": 16, "epochs": 3}
MPS_MODES = ("auto", "on", "off")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """One search: the task, the space, the training budget per trial, where it runs and stores.

    Flags of `momnas search` map one to one onto these fields (`--gpus-per-trial` ->
    `gpus_per_trial`); a YAML file (`--config`) may set any of them, flags override it.
    """

    # what to learn
    task: str = "adding"                 # a runs task: adding, copying, digits, pdigits, mnist1d, smnist, psmnist, npz:PATH
    T: int | None = None                 # sequence length (adding, copying)
    n_train: int | None = None           # task size options (None: the task's defaults)
    n_val: int | None = None
    n_test: int | None = None
    data_dir: str | None = None          # where MNIST lives
    # what to search
    space: str = "momentum"              # a named space (momnas spaces) or a YAML file
    trials: int = 64                     # finished trials wanted in the study (counting earlier ones on --resume)
    sampler: str = "tpe"                 # a key of search._samplers.SAMPLERS: tpe (multivariate) | nsga2 | nsga3 | random | gp
    seed: int | None = None              # sampler seed (repeatable suggestions); also each trial's training seed
    # each trial's training (the space may override hidden_size, lr, batch_size, ...)
    epochs: int = 5
    hidden: int = 64
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    clip: float | None = 1.0             # gradient-norm clip (MomentumRNN's recipes use 1.0)
    compile: str = "auto"                # torch.compile each trial's training steps: off | on | auto (runs._compile)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)  # any other runs TrainConfig option
    # early stopping: MO-ASHA stops trials that rank low on both objectives at a rung
    early_stop: str = "auto"             # auto (mo-asha for >= 16 trials of >= 3 epochs) | mo-asha | none
    grace_epochs: int = 1                # the first rung, in epochs; rungs at grace * eta^k
    reduction_factor: int = 3            # eta: the top 1/eta of a rung go on
    # where it runs
    gpus_per_trial: float | str = "auto"  # auto: a share per family where there are GPUs (search._resources); fractions pack trials
    cpus_per_trial: float = 1.0
    max_concurrent: int | None = None    # None: as many as the resources allow
    time_budget_s: float | None = None   # stop starting trials, and stop running ones, after this many seconds
    address: str | None = None           # "auto" or "ray://HOST:PORT" joins a cluster; None starts a local one
    mps: str = "auto"                    # auto | on | off (true/false too): trials sharing a GPU run at once through CUDA MPS
    # where it stores
    out: str = DEFAULT_OUT
    storage: str | None = None           # any Optuna storage URL; None: sqlite:///OUT/optuna.db
    study: str | None = None             # None: "{space}-{task}"
    resume: bool = False                 # continue the study instead of refusing to touch an existing one

    def __post_init__(self) -> None:
        def positive_int(key: str, allow_none: bool = False) -> None:
            value = getattr(self, key)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"search: `{key}` must be a positive integer, got {value!r}")

        if not isinstance(self.task, str) or not self.task:
            raise ValueError("search: `task` must be a task name such as adding or digits")
        # YAML gives any type: a wrong one is named here, not met later as a traceback.
        for key in ("space", "out", "data_dir"):  # paths from Python may be Path objects
            if isinstance(getattr(self, key), os.PathLike):
                object.__setattr__(self, key, os.fspath(getattr(self, key)))
        for key in ("space", "optimizer", "out"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"search: `{key}` must be a non-empty string, got {getattr(self, key)!r}")
        for key in ("storage", "data_dir", "address"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"search: `{key}` must be a non-empty string, got {value!r}")
        if not isinstance(self.resume, bool):
            raise ValueError(f"search: `resume` must be true or false, got {self.resume!r}")
        mps = {True: "on", False: "off"}[self.mps] if isinstance(self.mps, bool) else self.mps
        if mps not in MPS_MODES:
            raise ValueError(f"search: `mps` must be auto, on or off (or true/false), got {self.mps!r}")
        object.__setattr__(self, "mps", mps)
        object.__setattr__(self, "gpus_per_trial", check_gpus_per_trial(self.gpus_per_trial))
        for key in ("T", "n_train", "n_val", "n_test", "max_concurrent"):
            positive_int(key, allow_none=True)
        for key in ("trials", "epochs", "hidden", "batch_size", "grace_epochs"):
            positive_int(key)
        if self.early_stop not in EARLY_STOPS:
            raise ValueError(f"search: unknown early stop {self.early_stop!r}; choose one of {', '.join(EARLY_STOPS)}")
        if isinstance(self.reduction_factor, bool) or not isinstance(self.reduction_factor, int) or self.reduction_factor < 2:
            raise ValueError(f"search: `reduction_factor` must be a whole number >= 2 (the top 1/eta of a rung go on), "
                             f"got {self.reduction_factor!r}")
        if self.early_stop == "mo-asha" and self.grace_epochs >= self.epochs:
            raise ValueError(f"search: --early-stop mo-asha ranks trials at --grace-epochs {self.grace_epochs}, which is not "
                             f"below --epochs {self.epochs}, so it would stop nothing; lower --grace-epochs or leave out --early-stop")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"search: unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"search: `seed` must be a non-negative integer, got {self.seed!r}")
        for key in ("lr", "cpus_per_trial"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"search: `{key}` must be a positive number, got {value!r}")
        if self.time_budget_s is not None and (isinstance(self.time_budget_s, bool) or not isinstance(self.time_budget_s, (int, float)) or not self.time_budget_s > 0):
            raise ValueError(f"search: `time_budget_s` must be a positive number of seconds, got {self.time_budget_s!r}")
        if self.clip is not None and (isinstance(self.clip, bool) or not isinstance(self.clip, (int, float)) or self.clip <= 0):
            raise ValueError(f"search: `clip` must be a positive number or null, got {self.clip!r}")
        from runs import COMPILE_CHOICES

        if self.compile not in COMPILE_CHOICES:
            raise ValueError(f"search: unknown compile {self.compile!r}; choose one of {', '.join(COMPILE_CHOICES)}")
        if not isinstance(self.train, dict):
            raise ValueError(f"search: `train` must be a mapping of runs TrainConfig options, got {self.train!r}")
        if self.address is not None and not (self.address == "auto" or "://" in self.address or ":" in self.address):
            raise ValueError(f"search: `address` must be auto, HOST:PORT or ray://HOST:PORT, got {self.address!r}")
        if self.mps == "on" and not packs_several(self.gpus_per_trial):
            raise ValueError("search: --mps lets trials that share a GPU run at once; give --gpus-per-trial auto or below 1 "
                             "(0.25: four trials per GPU), or leave out --mps")
        if self.mps == "on" and self.address is not None:
            raise ValueError("search: --mps starts CUDA MPS for a local search only; on a cluster start it on each GPU node "
                             "before `ray start` (nvidia-cuda-mps-control -d) and leave out --mps")
        if self.study is not None and (not isinstance(self.study, str) or not self.study):
            raise ValueError("search: `study` must be a non-empty name")

    @property
    def study_name(self) -> str:
        """`--study`, or `{space}-{task}` (a YAML space contributes its file's stem)."""
        if self.study:
            return self.study
        space = Path(self.space).stem if self.space.endswith((".yaml", ".yml")) else self.space
        task = self.task.replace(":", "-").replace("/", "-")
        return f"{space}-{task}" + (f"-T{self.T}" if self.T else "")

    def early_stopping(self) -> tuple[str, str]:
        """("mo-asha" or "none", the line that says so): `auto` resolved by AUTO_EARLY_STOP."""
        from search.mo_asha import rung_epochs  # Ray: only once a search runs

        rungs = rung_epochs(self.grace_epochs, self.reduction_factor, self.epochs)
        if self.early_stop == "none":
            return "none", "none (--early-stop none)"
        if self.early_stop == "auto" and not (rungs and self.trials >= AUTO_EARLY_STOP["trials"]
                                             and self.epochs >= AUTO_EARLY_STOP["epochs"]):
            return "none", (f"none (auto: on from {AUTO_EARLY_STOP['trials']} trials of {AUTO_EARLY_STOP['epochs']} epochs "
                            f"with a rung below --epochs; --early-stop mo-asha turns it on)")
        how = f" (auto: {self.trials} trials of {self.epochs} epochs)" if self.early_stop == "auto" else ""
        return "mo-asha", (f"MO-ASHA{how}: at epoch(s) {', '.join(f'{r:g}' for r in rungs)} the top 1/{self.reduction_factor} "
                           "on both objectives go on, the others stop as PRUNED (--early-stop none: off)")

    def task_dict(self) -> dict[str, Any]:
        """The runs TaskConfig dict of this search, its paths (data_dir, npz:PATH) made absolute:
        Ray runs each trial in a folder of its own, where a relative path points to nothing."""
        from runs import TaskConfig  # torch: only once a task is needed, so the CLI starts fast

        keys = ("T", "n_train", "n_val", "n_test", "data_dir")
        task = {"name": self.task, **{k: getattr(self, k) for k in keys if getattr(self, k) is not None}}
        return TaskConfig.from_dict(task).to_dict()

    def replace(self, **changes: Any) -> "SearchConfig":
        """A copy with `changes`; None values are ignored (an unset flag keeps the YAML's value)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, what: str = "search config") -> "SearchConfig":
        if not isinstance(data, dict):
            raise ValueError(f"{what}: expected a mapping of search options, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        # YAML files may write flags' spelling (gpus-per-trial) as well as field names.
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{what}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        try:
            return cls(**data)
        except ValueError as exc:
            message = str(exc)
            # The fields' own messages start with "search: "; a file adds its name in front.
            raise ValueError(message if what in ("search", "search config") else f"{what}: {message}") from None

    @classmethod
    def resolve(
        cls, *, preset: str | None = None, file: str | Path | None = None, overrides: dict[str, Any] | None = None
    ) -> "SearchConfig":
        """Defaults, then a preset, then a YAML file, then flags (None means "not given")."""
        data: dict[str, Any] = dict(_preset_data(preset)) if preset else {}
        if file is not None:
            data.update(cls.from_yaml(file).explicit_fields())
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_dict(data, what=str(file) if file else "search")

    def explicit_fields(self) -> dict[str, Any]:
        """The fields that differ from the defaults (what a YAML file actually set)."""
        default = SearchConfig()
        return {k: v for k, v in self.to_dict().items() if v != getattr(default, k)}

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SearchConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"search config {path} not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(data, what=str(path))


PRESETS: dict[str, dict[str, Any]] = {
    # A real search that finishes in under 3 minutes on a 2-core laptop CPU: the momentum
    # dynamics on the fast cores, on scikit-learn's 8x8 digits read pixel by pixel.
    "quickstart": {
        "task": "digits",
        "space": "small",
        "trials": 16,
        # 24 epochs: the best digits cells reach ~0.85-0.9 validation accuracy; 16 trials take
        # ~1.5 min on a 2-core CPU (README), inside the 3-minute quickstart budget.
        "epochs": 24,
        "hidden": 32,
        "batch_size": 64,
        "seed": 0,
        "max_concurrent": 2,
        # Every trial trains to the end, as measured in the README (auto would stop some at epochs 1, 3, 9).
        "early_stop": "none",
        "study": "quickstart",
        "resume": True,
    },
}


def _preset_data(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def preset(name: str) -> SearchConfig:
    """A named preset (`momnas search --preset quickstart`)."""
    return SearchConfig(**_preset_data(name))
