"""A search space as data: which families, and how each of their parameters is drawn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import optuna

from spaces._params import Distribution

FAMILY_PARAM = "family"  # the first, categorical, parameter of every trial


def family_name(dynamics: str, core: str) -> str:
    """`"{dynamics}-{core}"`, e.g. `momentum-lstm`: the family label studies store."""
    return f"{dynamics}-{core}"


def split_family(family: str) -> tuple[str, str]:
    """`"momentum-lstm"` -> `("momentum", "lstm")`."""
    dynamics, sep, core = family.partition("-")
    if not sep or not dynamics or not core:
        raise ValueError(f"a family is written DYNAMICS-CORE (e.g. momentum-lstm), got {family!r}")
    return dynamics, core


def _copy(mapping: Mapping[str, Mapping[str, Distribution]]) -> dict[str, dict[str, Distribution]]:
    # Plain dicts (not MappingProxyType): a space travels pickled to Ray with the searcher.
    return {k: dict(v) for k, v in mapping.items()}


@dataclass(frozen=True)
class Space:
    """A define-by-run search space; calling it on a trial suggests and returns a run config.

    The trial's first parameter is `family` (e.g. `momentum-lstm`); then only that family's
    parameters are drawn, each named within its branch (`momentum.mu`, `cornn.dt`,
    `orthogonal.param`), so no name ever carries two distributions; then the shared ones
    (`hidden_size`, `lr`, `batch_size`) where the space asks for them.

    Example:
        >>> import optuna
        >>> from spaces import get_space
        >>> space = get_space("momentum")
        >>> space(optuna.trial.FixedTrial({"family": "momentum-lstm", "momentum.mu": 0.6,
        ...     "momentum.s": 0.6, "lstm.fg_init": 1.0, "lr": 1e-3}))
        {'cell': {'core': 'lstm', 'dynamics': 'momentum', 'mu': 0.6, 's': 0.6, 'fg_init': 1.0},
         'train': {'lr': 0.001}}
    """

    name: str
    description: str
    families: tuple[str, ...]
    dynamics: Mapping[str, Mapping[str, Distribution]] = field(default_factory=dict)
    cores: Mapping[str, Mapping[str, Distribution]] = field(default_factory=dict)
    cell: Mapping[str, Distribution] = field(default_factory=dict)
    train: Mapping[str, Distribution] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.families:
            raise ValueError(f"space {self.name!r}: no families left to search")
        if len(set(self.families)) != len(self.families):
            raise ValueError(f"space {self.name!r}: a family is listed twice")
        for family in self.families:
            split_family(family)
        object.__setattr__(self, "families", tuple(self.families))
        object.__setattr__(self, "dynamics", _copy(self.dynamics))
        object.__setattr__(self, "cores", _copy(self.cores))
        object.__setattr__(self, "cell", dict(self.cell))
        object.__setattr__(self, "train", dict(self.train))

    def __call__(self, trial: optuna.Trial) -> dict[str, dict[str, Any]]:
        """Suggest one trial's values; returns `{"cell": {...}, "train": {...}}`. Never trains."""
        family = trial.suggest_categorical(FAMILY_PARAM, list(self.families))
        dynamics, core = split_family(family)
        cell: dict[str, Any] = {"core": core, "dynamics": dynamics}
        cell.update(_draw(trial, "", self.cell, cell))
        cell.update(_draw(trial, f"{dynamics}.", self.dynamics.get(dynamics, {}), cell))
        cell.update(_draw(trial, f"{core}.", self.cores.get(core, {}), cell))
        return {"cell": cell, "train": _draw(trial, "", self.train, cell)}

    def branches(self, family: str) -> dict[str, Distribution]:
        """Every parameter a trial of `family` may draw, under its trial name."""
        dynamics, core = split_family(family)
        out = {f"{dynamics}.{k}": p for k, p in self.dynamics.get(dynamics, {}).items()}
        out.update({f"{core}.{k}": p for k, p in self.cores.get(core, {}).items()})
        return out

    def to_data(self) -> dict[str, Any]:
        """The YAML form of this space; `load_space` reads it back to an equal space."""
        used_dyn = {split_family(f)[0] for f in self.families}
        used_core = {split_family(f)[1] for f in self.families}
        params: dict[str, Any] = {}
        for table in (self.cell, self.train):
            params.update({k: p.to_data() for k, p in table.items()})
        for dyn in sorted(used_dyn):
            params.update({f"{dyn}.{k}": p.to_data() for k, p in self.dynamics.get(dyn, {}).items()})
        for core in sorted(used_core):
            params.update({f"{core}.{k}": p.to_data() for k, p in self.cores.get(core, {}).items()})
        return {"name": self.name, "description": self.description, "families": list(self.families), "params": params}


def _draw(trial: optuna.Trial, prefix: str, table: Mapping[str, Distribution], family: Mapping[str, Any]) -> dict[str, Any]:
    # `when` conditions see this branch's values so far, and the family's core and dynamics.
    drawn: dict[str, Any] = {}
    for key, param in table.items():
        if param.active({"core": family["core"], "dynamics": family["dynamics"], **drawn}):
            drawn[key] = param.sample(trial, prefix + key)
    return drawn
