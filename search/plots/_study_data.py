"""What every figure reads from a study: objective names and directions, families and their
colours, the trials a front is made of, a trial's configuration as hover text."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState
from plotly.colors import qualitative

PALETTE = qualitative.Plotly + qualitative.D3


def objective_names(study: optuna.Study) -> list[str]:
    names = study.metric_names
    if names:
        return list(names)
    return [f"val_{study.user_attrs.get('metric', 'metric')}", "instability"]


def study_directions(study: optuna.Study) -> list[str]:
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]


def family_of(trial: FrozenTrial) -> str:
    family = trial.user_attrs.get("family")
    if family:
        return str(family)
    cell = trial.user_attrs.get("run_config", {}).get("cell", {})
    if "core" in cell:
        return f"{cell.get('dynamics', 'plain')}-{cell['core']}"
    return "unknown"


def family_colors(study: optuna.Study) -> dict[str, str]:
    """Family name -> colour, the same in every figure of a study."""
    names = sorted({family_of(t) for t in study.get_trials(deepcopy=False)})
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return study.get_trials(deepcopy=False, states=states)


def finite(values) -> bool:
    return values is not None and all(v is not None and math.isfinite(v) for v in values)


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    """COMPLETE trials with finite objective values: the ones a front is made of."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if finite(t.values)]


def pareto_numbers(study: optuna.Study) -> set[int]:
    if not complete_trials(study):
        return set()
    return {t.number for t in study.best_trials if finite(t.values)}


def recorded_values(trial: FrozenTrial, metric: str) -> tuple[float | None, float | None]:
    """The objective values of a trial; for one without values, what its metrics.json recorded,
    or where it has none (early stopping ended it), its learning curve's last point."""
    if trial.values is not None and len(trial.values) == 2:
        return trial.values[0], trial.values[1]
    curve = trial.user_attrs.get("curve") or []
    if "metrics" not in trial.user_attrs and curve:
        return curve[-1].get("metric"), curve[-1].get("instability")
    metrics = trial.user_attrs.get("metrics") or {}
    value = (metrics.get("validation") or {}).get(metric)
    instability = (metrics.get("stability") or {}).get("instability")
    return value, instability


def config_lines(trial: FrozenTrial) -> list[str]:
    run = trial.user_attrs.get("run_config") or {}
    cell = run.get("cell") or {}
    lines = [", ".join(f"{k}={fmt(v)}" for k, v in cell.items())] if cell else []
    shown = set(cell)
    # Spaces namespace their parameters ("adam.mu"): those already shown through the cell are left out.
    rest = {k: v for k, v in trial.params.items() if k.rpartition(".")[2] not in shown and k != "family"}
    if rest:
        lines.append(", ".join(f"{k}={fmt(v)}" for k, v in sorted(rest.items())))
    return lines


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
