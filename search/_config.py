"""SearchConfig: one search, as nested frozen dataclasses, read from flat YAML and flags by one adapter.

    SearchConfig(task=TaskConfig("psmnist", n_train=16384), train=TrainConfig(epochs=20, clip=1.0),
                 space="paper", hidden=128, trials=64, sampler="tpe", seed=0, warm_start="auto",
                 early_stop=EarlyStop(...), resources=Resources(...), store=Store(...))

The task and each trial's training are the `runs` package's own `TaskConfig` and
`TrainConfig` (validated there, once); the sections the search adds are below. A YAML file
and the command line's flags speak one flat vocabulary (`FLAT`: `task`, `T`, `epochs`,
`lr`, `gpus_per_trial`, `out`, ...), which `from_flat` sorts into the sections: a new option
is a field of its section plus its flag. A value counts as given when it is given, whatever
it is: layers (defaults < preset < file < flags) merge the values they set, never values
that merely differ from a default.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from runs import TaskConfig, TrainConfig
from search._resources import AUTO, check_gpus_per_trial, packs_several
from search._samplers import SAMPLERS
from search._study import DEFAULT_OUT, check_study_name, public_url
from search._trackers import check_log_to
from search.errors import BadInput, bad_input

EARLY_STOPS = ("auto", "hyperband", "mo-asha", "none")
MPS_MODES = ("auto", "on", "off")


def _positive_int(section: str, key: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInput(f"{section}: `{key}` must be a positive integer, got {value!r}")


def _positive_number(section: str, key: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise BadInput(f"{section}: `{key}` must be a positive number, got {value!r}")


def _string(section: str, key: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str) or not value:
        raise BadInput(f"{section}: `{key}` must be a non-empty string, got {value!r}")


@dataclasses.dataclass(frozen=True)
class EarlyStop:
    """Which trials stop before the target epochs (`--epochs`), and by what rule.

    `hyperband`: brackets of MO-ASHA (search.mo_asha) whose first rungs lie at grace, grace*eta,
    grace*eta^2, ... epochs, and one bracket that always trains to the target; trials are split
    over them as Hyperband splits its budget. `mo-asha`: the first bracket only. Before
    `within_family` of the target, a rung ranks a trial among its own family only, so that a
    fast-starting family cannot end a slow starter's every trial at epoch 1.
    `auto`: hyperband where a search has the trials and epochs for rungs to rank (AUTO).
    """

    mode: str = "auto"
    grace_epochs: int = 1
    reduction_factor: int = 3
    brackets: int | str = "auto"   # how many brackets (the target bracket included); auto: all there are
    within_family: float = 1 / 3   # fraction of the target before which rungs rank within a family

    AUTO = {"trials": 16, "epochs": 3}

    def __post_init__(self) -> None:
        if self.mode not in EARLY_STOPS:
            raise BadInput(f"search: unknown early stop {self.mode!r}; choose one of {', '.join(EARLY_STOPS)}")
        _positive_int("search", "grace_epochs", self.grace_epochs)
        if isinstance(self.reduction_factor, bool) or not isinstance(self.reduction_factor, int) or self.reduction_factor < 2:
            raise BadInput(f"search: `reduction_factor` must be a whole number >= 2 (the top 1/eta of a rung go on), "
                           f"got {self.reduction_factor!r}")
        if self.brackets != AUTO:
            _positive_int("search", "brackets", self.brackets)
        if isinstance(self.within_family, bool) or not isinstance(self.within_family, (int, float)) \
                or not 0 <= self.within_family <= 1:
            raise BadInput(f"search: `within_family` must be a fraction of --epochs between 0 and 1, got {self.within_family!r}")


@dataclasses.dataclass(frozen=True)
class Resources:
    """Where trials run: their CPUs and GPUs, how many at once, for how long, on which Ray."""

    gpus_per_trial: float | str = AUTO  # auto: search._resources.GPU_SHARE where there are GPUs; fractions pack trials
    cpus_per_trial: float = 1.0         # also each trial's torch threads
    max_concurrent: int | None = None   # None: as many as the resources allow
    time_budget_s: float | None = None  # stop starting trials, and stop running ones, after this many seconds
    address: str | None = None          # "auto", "HOST:PORT" or "ray://HOST:PORT" joins a cluster; None: a local Ray
    mps: str = "auto"                   # auto | on | off: trials sharing a GPU run at once through CUDA MPS

    def __post_init__(self) -> None:
        with bad_input():
            object.__setattr__(self, "gpus_per_trial", check_gpus_per_trial(self.gpus_per_trial))
        _positive_number("search", "cpus_per_trial", self.cpus_per_trial)
        _positive_int("search", "max_concurrent", self.max_concurrent, allow_none=True)
        if self.time_budget_s is not None and (isinstance(self.time_budget_s, bool)
                                               or not isinstance(self.time_budget_s, (int, float)) or not self.time_budget_s > 0):
            raise BadInput(f"search: `time_budget_s` must be a positive number of seconds, got {self.time_budget_s!r}")
        _string("search", "address", self.address, allow_none=True)
        if self.address is not None and not _address_ok(self.address):
            raise BadInput(f"search: `address` must be auto, HOST:PORT or ray://HOST:PORT, got {self.address!r}")
        mps = {True: "on", False: "off"}[self.mps] if isinstance(self.mps, bool) else self.mps
        if mps not in MPS_MODES:
            raise BadInput(f"search: `mps` must be auto, on or off (or true/false), got {self.mps!r}")
        object.__setattr__(self, "mps", mps)
        if mps == "on" and not packs_several(self.gpus_per_trial):
            raise BadInput("search: --mps lets trials that share a GPU run at once; give --gpus-per-trial auto or below 1 "
                           "(0.25: four trials per GPU), or leave out --mps")
        if mps == "on" and self.address is not None:
            raise BadInput("search: --mps starts CUDA MPS for a local search only; on a cluster start it on each GPU node "
                           "before `ray start` (nvidia-cuda-mps-control -d) and leave out --mps")


def _address_ok(address: str) -> bool:
    """auto, HOST:PORT, or ray://HOST[:PORT][/...]: a host, and a port of digits where one is given."""
    if address == "auto":
        return True
    client = address.startswith("ray://")
    target = address.removeprefix("ray://").split("/")[0] if client else address
    host, colon, port = target.rpartition(":")
    if not colon:
        return client and bool(target)
    return bool(host.strip("[]")) and port.isdigit()


@dataclasses.dataclass(frozen=True)
class Store:
    """Where the study, the trials' files and (with trackers) their curves go."""

    out: str = DEFAULT_OUT       # the study's folder: optuna.db (unless `storage`), artifacts/, trials/, plots
    storage: str | None = None   # any Optuna storage URL; None: sqlite:///OUT/optuna.db
    study: str | None = None     # None: "{space}-{task}"
    resume: bool = False         # continue an existing study instead of refusing to touch it
    log_to: tuple[str, ...] = ()  # experiment trackers that also record each trial's curves (search._trackers)

    def __post_init__(self) -> None:
        if isinstance(self.out, Path):
            object.__setattr__(self, "out", str(self.out))
        _string("search", "out", self.out)
        _string("search", "storage", self.storage, allow_none=True)
        if self.study is not None:
            check_study_name(self.study)
        if not isinstance(self.resume, bool):
            raise BadInput(f"search: `resume` must be true or false, got {self.resume!r}")
        object.__setattr__(self, "log_to", check_log_to(self.log_to))

    def public(self) -> "Store":
        """This store with the storage URL's password masked: the only form shown or stored."""
        return dataclasses.replace(self, storage=public_url(self.storage))


def _default_train() -> TrainConfig:
    # The search's own defaults: 5 epochs a trial, MomentumRNN's gradient-norm clip of 1.
    return TrainConfig(epochs=5, clip=1.0)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """One search: the task, the space, the target training of a trial, how it stops trials
    early, where it runs and where it stores. `train.epochs` is the target budget: the epochs
    the chosen cell will be trained for, which priors and confirmation train to and early
    stopping serves."""

    task: TaskConfig = dataclasses.field(default_factory=lambda: TaskConfig("adding"))
    train: TrainConfig = dataclasses.field(default_factory=_default_train)
    space: str = "momentum"          # a named space (momnas spaces) or a YAML file
    hidden: int = 64                 # hidden size, unless the space searches it
    trials: int = 64                 # finished trials wanted in the study (counting earlier ones on resume)
    sampler: str = "tpe"             # a key of search._samplers.SAMPLERS
    seed: int | None = None          # sampler seed (repeatable suggestions); also each trial's training seed
    warm_start: str = "auto"         # paper | none | study:NAME; auto: paper for the paper and momentum spaces
    confirm: int = 0                 # after the search, retrain the top K of the Pareto set (and the best prior) ...
    confirm_seeds: int = 3           # ... with this many fresh seeds (search.confirm)
    early_stop: EarlyStop = dataclasses.field(default_factory=EarlyStop)
    resources: Resources = dataclasses.field(default_factory=Resources)
    store: Store = dataclasses.field(default_factory=Store)

    def __post_init__(self) -> None:
        for key, cls in (("task", TaskConfig), ("train", TrainConfig), ("early_stop", EarlyStop),
                         ("resources", Resources), ("store", Store)):
            if not isinstance(getattr(self, key), cls):
                raise TypeError(f"SearchConfig: `{key}` must be a {cls.__name__}, got {type(getattr(self, key)).__name__}")
        if isinstance(self.space, Path):
            object.__setattr__(self, "space", str(self.space))
        _string("search", "space", self.space)
        for key in ("hidden", "trials", "confirm_seeds"):
            _positive_int("search", key, getattr(self, key))
        if isinstance(self.confirm, bool) or not isinstance(self.confirm, int) or self.confirm < 0:
            raise BadInput(f"search: `confirm` must be a number of cells >= 0, got {self.confirm!r}")
        if self.sampler not in SAMPLERS:
            raise BadInput(f"search: unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise BadInput(f"search: `seed` must be a non-negative integer, got {self.seed!r}")
        from search._priors import check_warm_start  # the priors module reads the reproduction presets

        check_warm_start(self.warm_start)
        if self.train.steps is not None:
            raise BadInput("search: trials train for --epochs (the target budget), not `steps`; leave out steps")
        if self.early_stop.mode in ("mo-asha", "hyperband") and self.early_stop.grace_epochs >= self.train.epochs:
            raise BadInput(f"search: --early-stop {self.early_stop.mode} ranks trials at --grace-epochs "
                           f"{self.early_stop.grace_epochs}, which is not below --epochs {self.train.epochs}, so it would "
                           "stop nothing; lower --grace-epochs or leave out --early-stop")

    @property
    def epochs(self) -> int:
        """The target budget: the epochs a trial trains unless stopped early."""
        return self.train.epochs

    @property
    def study_name(self) -> str:
        """`--study`, or `{space}-{task}` (a YAML space contributes its file's stem)."""
        if self.store.study:
            return self.store.study
        space = Path(self.space).stem if self.space.endswith((".yaml", ".yml")) else self.space
        task = self.task.name.rpartition("/")[2].replace(":", "-") if self.task.name.startswith("npz:") else self.task.name
        return f"{space}-{task}" + (f"-T{self.task.T}" if self.task.T else "")

    # ------------------------------------------------------------------ the flat form

    def to_flat(self) -> dict[str, Any]:
        """The flat form a YAML file or the flags give (only values that are set; the storage
        URL's password masked): what `from_flat` reads back, and what the study stores."""
        out: dict[str, Any] = {}
        for flat, (section, name) in FLAT.items():
            holder = self if section is None else getattr(self, section)
            value = getattr(holder, name)
            default = getattr(_DEFAULTS if section is None else getattr(_DEFAULTS, section), name)
            if value is not None and (value != default or flat in _ALWAYS):
                out[flat] = list(value) if isinstance(value, tuple) else value  # YAML's and JSON's list
        if "storage" in out:
            out["storage"] = public_url(out["storage"])
        return out

    @classmethod
    def from_flat(cls, data: dict[str, Any], *, what: str = "search") -> "SearchConfig":
        """Build from the flat vocabulary (`FLAT`); `what` names the source in errors (a file)."""
        if not isinstance(data, dict):
            raise BadInput(f"{what}: expected a mapping of search options, got {type(data).__name__}")
        # YAML files may write flags' spelling (gpus-per-trial) as well as field names.
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(data) - set(FLAT))
        if unknown:
            raise BadInput(f"{what}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(FLAT)}")
        sections: dict[str | None, dict[str, Any]] = {}
        for flat, value in data.items():
            section, name = FLAT[flat]
            sections.setdefault(section, {})[name] = value
        top = sections.pop(None, {})
        train = sections.get("train", {})
        if "seed" in top and top["seed"] is not None:
            train = {**train, "seed": top["seed"]}  # the sampler's seed is also each trial's training seed
        with bad_input(what if what != "search" else None):
            built = {
                "task": TaskConfig.from_dict({"name": _DEFAULTS.task.name, **sections.get("task", {})}),
                "train": TrainConfig.from_dict({**_DEFAULTS.train.to_dict(), **train}),
                **{key: cls_(**sections.get(key, {})) for key, cls_ in
                   (("early_stop", EarlyStop), ("resources", Resources), ("store", Store))},
            }
            return cls(**top, **built)

    @classmethod
    def resolve(cls, *, preset: str | None = None, file: str | Path | None = None,
                flags: dict[str, Any] | None = None) -> "SearchConfig":
        """Defaults, then a preset, then a YAML file, then flags (None, or () for a repeatable flag:
        the flag was not given). Each layer contributes exactly the values it sets."""
        data: dict[str, Any] = dict(_preset_data(preset)) if preset else {}
        where = "search"
        if file is not None:
            data.update(read_yaml(file))
            where = str(file)
        # A repeatable flag given no times comes as () (Click's `multiple`): never an empty list given.
        data.update({k: v for k, v in (flags or {}).items() if v is not None and v != ()})
        return cls.from_flat(data, what=where)

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_flat(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SearchConfig":
        return cls.from_flat(read_yaml(path), what=str(path))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A search config file's mapping, as written (nothing filled in)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"search config {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping of search options, got {type(data).__name__}")
    return data


# The flat vocabulary: key -> (section, field); section None is SearchConfig itself. Built from
# the dataclasses, so a new field of a section is a new key. The search sets a trial's training
# seed (from `seed`), device and threads (from its resources), and trains for epochs, not steps.
_SEARCH_OWNS = {"seed", "device", "threads", "steps"}
_RENAMES = {("task", "name"): "task", ("task", "seed"): "data_seed", ("early_stop", "mode"): "early_stop"}


def _flat_table() -> dict[str, tuple[str | None, str]]:
    table: dict[str, tuple[str | None, str]] = {}
    for f in dataclasses.fields(SearchConfig):
        if f.name not in ("task", "train", "early_stop", "resources", "store"):
            table[f.name] = (None, f.name)
    for section, cls in (("task", TaskConfig), ("train", TrainConfig), ("early_stop", EarlyStop),
                         ("resources", Resources), ("store", Store)):
        for f in dataclasses.fields(cls):
            if section == "train" and f.name in _SEARCH_OWNS:
                continue
            table[_RENAMES.get((section, f.name), f.name)] = (section, f.name)
    return table


FLAT = _flat_table()
_DEFAULTS = SearchConfig()
_ALWAYS = {"task"}  # written even at its default, so that a stored config names its task


PRESETS: dict[str, dict[str, Any]] = {
    # A real search that finishes in under 3 minutes on a 2-core laptop CPU: the momentum
    # dynamics on the fast cores, on scikit-learn's 8x8 digits read pixel by pixel.
    "quickstart": {
        "task": "digits",
        "space": "small",
        "trials": 16,
        # 24 epochs: the best digits cells reach ~0.85-0.9 validation accuracy; 16 trials fit
        # the 3-minute budget on a 2-core CPU (README, Quickstart).
        "epochs": 24,
        "hidden": 32,
        "batch_size": 64,
        "seed": 0,
        "max_concurrent": 2,
        # Every trial trains to the end (auto would stop some at the rungs).
        "early_stop": "none",
        "study": "quickstart",
        "resume": True,
    },
}


def _preset_data(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise BadInput(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def preset(name: str) -> SearchConfig:
    """A named preset (`momnas search --preset quickstart`)."""
    return SearchConfig.from_flat(_preset_data(name))
