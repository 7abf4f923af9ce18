"""The hypervolume of the Pareto front after each completed trial: does the search still improve?"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import optuna
import plotly.graph_objects as go

from search.plots._study_data import complete_trials, fmt, objective_names, study_directions


class _HypervolumeInfo(NamedTuple):
    objectives: list[str]  # the objectives' names, e.g. ["val_acc", "instability"]
    numbers: list[int]  # COMPLETE trial numbers in order
    hypervolumes: list[float]  # hypervolume of the front of trials up to and including that one
    reference_point: list[float]  # in the study's own units and directions, one per objective


def _hypervolume_info(study: optuna.Study) -> _HypervolumeInfo:
    names = objective_names(study)
    trials = sorted(complete_trials(study), key=lambda t: t.number)
    if not trials:
        return _HypervolumeInfo(names, [], [], [])
    signs = [-1.0 if d == "maximize" else 1.0 for d in study_directions(study)]
    losses = [[s * v for s, v in zip(signs, t.values)] for t in trials]  # everything minimised
    ref = []
    for i in range(len(signs)):
        col = [row[i] for row in losses]
        lo, hi = min(col), max(col)
        ref.append(hi + (0.1 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)))
    reference_point = [s * r for s, r in zip(signs, ref)]
    numbers = {t.number for t in trials}
    history = [(n, v) for n, v in _optuna_hypervolume_history(study, reference_point) if n in numbers]
    return _HypervolumeInfo(names, [n for n, _ in history], [v for _, v in history], reference_point)


def _optuna_hypervolume_history(study: optuna.Study, reference_point: list[float]) -> list[tuple[int, float]]:
    """(trial number, hypervolume) after each COMPLETE trial, computed by Optuna.

    Optuna's hypervolume function itself (`optuna._hypervolume`) is private; its public face is
    `plot_hypervolume_history`, whose one trace holds exactly these numbers.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        trace = optuna.visualization.plot_hypervolume_history(study, reference_point).data[0]
    return [(int(n), float(v)) for n, v in zip(trace.x, trace.y)]


def _hypervolume_figure(info: _HypervolumeInfo) -> go.Figure:
    fig = go.Figure(
        go.Scatter(x=info.numbers, y=info.hypervolumes, mode="lines+markers", name="hypervolume", line={"shape": "hv"},
                   hovertemplate="after trial %{x}: %{y:.4g}<extra></extra>")
    )
    if info.numbers:
        ref = ", ".join(f"{name} {fmt(r)}" for name, r in zip(info.objectives, info.reference_point))
        title = ("Hypervolume of the Pareto front over trials<br><sup>the area it dominates up to the reference point "
                 f"{ref}<br>(each objective's worst value plus 10% of its range); flat: no trial improved the front</sup>")
    else:
        title = "Hypervolume: no completed trial yet"
    # From zero, so that a flat series reads as flat at its level, and growth as a share of it.
    top = max(info.hypervolumes, default=0.0)
    fig.update_layout(
        title=title,
        xaxis={"title": {"text": "trial"}, "range": [-0.5, max(info.numbers, default=0) + 0.5]},
        yaxis={"title": {"text": "hypervolume"}, "range": [0.0, 1.08 * top if top > 0 else 1.0]},
        template="plotly_white",
    )
    return fig


def plot_hypervolume(study: optuna.Study) -> go.Figure:
    """The hypervolume of the front after each completed trial: does the search still improve?"""
    return _hypervolume_figure(_hypervolume_info(study))
