"""Warm starts: the papers' cells (or an earlier study's best) as the first trials of a search.

A prior is a configuration someone already trusts. It is enqueued through Optuna's public
`study.enqueue_trial` (so the sampler draws exactly it, first), carries its label in the
trial's record, and is never stopped early: it trains to the target (search.mo_asha gives
it no rung). So a search never ends worse than the best published cell it started from.

`--warm-start paper`: the published cells of the reproduction presets
(search/reproduce/presets/*.yaml) for the search's task (or the closest task with a
published recipe), with their recipes' values where the space searches those parameters
(lr, batch size, hidden size). A cell the space cannot express exactly (its family is not
in the space, or a value lies outside the space's range or differs from a value the space
fixes) is left out, and the search says which and why.
`--warm-start study:NAME`: the Pareto set of study NAME in the same storage, retrained here.
`auto` (the default): `paper` for the built-in `paper` and `momentum` spaces, else none.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import optuna

from search.errors import BadInput

WARM_STARTS = ("auto", "paper", "none")
STUDY_PREFIX = "study:"
PAPER_SPACES = ("paper", "momentum")  # `auto` warm-starts these with the papers' cells
# Tasks without a published recipe borrow the closest one's cells (by input and length).
CLOSEST_TASK = {"digits": "smnist", "pdigits": "psmnist", "mnist1d": "smnist"}


def check_warm_start(value: Any) -> None:
    if isinstance(value, str) and (value in WARM_STARTS or (value.startswith(STUDY_PREFIX) and value[len(STUDY_PREFIX):])):
        return
    raise BadInput(f"search: `warm_start` must be paper, none, auto or study:NAME, got {value!r}")


def resolve(warm_start: str, space_name: str) -> str:
    """`auto` made concrete for this space."""
    if warm_start == "auto":
        return "paper" if space_name in PAPER_SPACES else "none"
    return warm_start


@dataclasses.dataclass(frozen=True)
class Prior:
    label: str                 # what the user reads: "Momentum LSTM", "study S trial 12"
    params: dict[str, Any]     # the trial's parameters as the space names them ("family", "momentum.mu", "lr", ...)


def _contains(dist, value: Any) -> bool:
    if dist.kind == "fixed":
        return dist.value == value
    if dist.kind == "categorical":
        return any(c == value and type(c) is not bool for c in dist.choices) or value in dist.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if dist.kind == "int" and not float(value).is_integer():
        return False
    return dist.low <= value <= dist.high


def params_in_space(space, family: str, cell: dict[str, Any], shared: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The trial parameters that make `space` draw this cell (`cell`: its values, the cells'
    defaults filling the rest), with `shared` (lr, batch_size, hidden_size) where the space
    searches them; (None, why) when the space cannot express it."""
    from cells import families

    if family not in space.families:
        return None, f"{family} is not in space {space.name}"
    dynamics, core = family.split("-", 1)
    defaults = {p.name: p.default for f in families() if f.name in (dynamics, core) for p in f.params}
    wanted = {**defaults, **{k: v for k, v in cell.items() if k not in ("core", "dynamics", "hidden_size", "input_size")}}
    params: dict[str, Any] = {"family": family}
    drawn: dict[str, dict[str, Any]] = {}
    searched = set()
    for name, dist in space.branches(family).items():
        scope, key = name.split(".", 1)
        branch = drawn.setdefault(scope, {"core": core, "dynamics": dynamics})
        if not dist.active(branch):
            continue
        searched.add(key)
        value = wanted.get(key)
        if value is None:
            continue  # the cell leaves it to the space (drawn by the sampler)
        if not _contains(dist, value):
            return None, f"{key}={value!r} lies outside the space's {dist.describe()}"
        branch[key] = value
        if dist.kind != "fixed":
            params[name] = value
    for key, value in cell.items():
        if key not in ("core", "dynamics", "hidden_size", "input_size") and key not in searched:
            return None, f"the space does not search {key} (the cell has {key}={value!r})"
    for name, dist in {**space.cell, **space.train}.items():
        if name in shared and shared[name] is not None and dist.kind != "fixed" and _contains(dist, shared[name]):
            params[name] = shared[name]
    return params, ""


def paper_priors(space, task: str, hidden: int) -> tuple[list[Prior], list[str]]:
    """The published cells for `task` that `space` can express, and why the others were left out."""
    from search.reproduce._presets import presets

    name = task.split(":", 1)[0]
    wanted = CLOSEST_TASK.get(name, name)
    priors: list[Prior] = []
    skipped: list[str] = []
    seen: list[dict[str, Any]] = []
    for preset in presets().values():
        if preset.get("search"):
            continue  # a search preset's cell is one of the others'
        for table in preset["tables"]:
            if table["task"]["name"] != wanted:
                continue
            for run in table["runs"]:
                cell = dict(run["cell"])
                family = f"{cell.get('dynamics', 'plain')}-{cell['core']}"
                recipe = {**table["train"], **(run.get("train") or {})}
                shared = {"lr": recipe.get("lr"), "batch_size": recipe.get("batch_size"), "hidden_size": hidden}
                params, why = params_in_space(space, family, cell, shared)
                if params is None:
                    skipped.append(f"{run['label']} ({why})")
                elif params not in seen:
                    seen.append(params)
                    priors.append(Prior(run["label"], params))
    return priors, skipped


def study_priors(space, earlier: optuna.Study) -> tuple[list[Prior], list[str]]:
    """The Pareto set of an earlier study, where `space` can express its trials' parameters."""
    from search._record import best_trials

    best = best_trials(earlier)
    priors, skipped = [], []
    for record in sorted(best, key=lambda r: r.number):
        cell = {k: v for k, v in record.cell.items()}
        train = record.run_config.get("train") or {}
        shared = {"lr": train.get("lr"), "batch_size": train.get("batch_size"), "hidden_size": cell.get("hidden_size")}
        params, why = params_in_space(space, record.family, cell, shared)
        label = f"study {earlier.study_name} trial {record.number}"
        if params is None:
            skipped.append(f"{label} ({why})")
        else:
            priors.append(Prior(label, params))
    if not best:
        skipped.append(f"study {earlier.study_name} has no completed trial")
    return priors, skipped


def enqueue(study: optuna.Study, priors: list[Prior]) -> None:
    """Queue the priors as the study's next trials (in this order), each marked as a prior."""
    from search._record import prior_attrs

    for prior in priors:
        study.enqueue_trial(prior.params, user_attrs=prior_attrs(prior.label), skip_if_exists=True)
