"""The validation metric over the momentum parameters (mu, s), one panel per family that has
them: the view of the MomentumRNN paper's ablation grid. A family with only one of them
(rmsprop has s, no mu) gets the metric against that one."""

from __future__ import annotations

import math
from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial
from plotly.subplots import make_subplots

from search.plots._axes import metric_range, padded_range
from search.plots._study_data import complete_trials, family_of, objective_names, study_directions

# The momentum parameters, in the order of the plane's axes (mu across, s up).
MOMENTUM_PARAMS = ("mu", "s")
_COLUMNS = 2  # panels per row


class _MomentumPanel(NamedTuple):
    family: str
    params: tuple[str, ...]  # ("mu", "s"), or the one the family has
    values: dict[str, list[float]]  # param -> its value, one per COMPLETE trial of the family
    ranges: dict[str, tuple[float, float]]  # param -> the searched range (else the values', padded)
    metric: list[float]  # the validation metric of those trials
    instability: list[float]
    numbers: list[int]


class _MomentumInfo(NamedTuple):
    metric_name: str  # e.g. "val_acc"
    maximize: bool  # brighter is better either way
    metric_range: tuple[float, float] | None  # colour scale (and metric axis) over every panel
    panels: list[_MomentumPanel]


def _param_value(trial: FrozenTrial, param: str) -> float | None:
    cell = (trial.user_attrs.get("run_config") or {}).get("cell") or {}
    value = cell.get(param, trial.params.get(param))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _searched_range(trials: list[FrozenTrial], param: str) -> tuple[float, float] | None:
    """The union of the ranges the space gave `param` ("mu", or namespaced "adam.mu")."""
    ranges = [
        (d.low, d.high)
        for t in trials
        for name, d in t.distributions.items()
        if name.rpartition(".")[2] == param and hasattr(d, "low") and hasattr(d, "high")
    ]
    if not ranges:
        return None
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def _momentum_info(study: optuna.Study) -> _MomentumInfo:
    name = objective_names(study)[0]
    by_family: dict[str, list[FrozenTrial]] = {}
    for trial in complete_trials(study):
        if any(_param_value(trial, p) is not None for p in MOMENTUM_PARAMS):
            by_family.setdefault(family_of(trial), []).append(trial)
    panels = []
    for family, trials in sorted(by_family.items()):
        params = tuple(p for p in MOMENTUM_PARAMS if all(_param_value(t, p) is not None for t in trials))
        if not params:  # the family's trials do not agree on which parameters they have
            continue
        trials.sort(key=lambda t: ([_param_value(t, p) for p in params], t.number))
        values = {p: [_param_value(t, p) for t in trials] for p in params}
        ranges = {p: _searched_range(trials, p) or padded_range(values[p]) for p in params}
        panels.append(
            _MomentumPanel(family, params, values, ranges, [t.values[0] for t in trials], [t.values[1] for t in trials], [t.number for t in trials])
        )
    every_metric = [m for p in panels for m in p.metric]
    maximize = study_directions(study)[0] == "maximize"
    return _MomentumInfo(name, maximize, metric_range(name, every_metric), panels)


def _momentum_figure(info: _MomentumInfo) -> go.Figure:
    title = f"{info.metric_name} against the momentum parameters"
    if not info.panels:
        fig = go.Figure()
        fig.add_annotation(
            text="no completed trial of a family with momentum parameters (mu, s)", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
        fig.update_layout(title=title, template="plotly_white", xaxis_visible=False, yaxis_visible=False)
        return fig
    cols = min(_COLUMNS, len(info.panels))
    rows = math.ceil(len(info.panels) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[p.family for p in info.panels],
        horizontal_spacing=0.12, vertical_spacing=min(0.25, 0.6 / rows),  # room for an x title and the next title
    )
    metric = info.metric_name
    for i, panel in enumerate(info.panels):
        row, col = i // cols + 1, i % cols + 1
        x_param = panel.params[0]
        in_plane = len(panel.params) == 2  # (mu, s): the metric is the colour; else it is the height
        y = panel.values[panel.params[1]] if in_plane else panel.metric
        hover = [
            f"trial {n}<br>" + ", ".join(f"{p}={panel.values[p][k]:.3g}" for p in panel.params)
            + f"<br>{metric}={m:.4g}<br>instability={s:.3g}"
            for k, (n, m, s) in enumerate(zip(panel.numbers, panel.metric, panel.instability))
        ]
        fig.add_trace(
            go.Scatter(
                x=panel.values[x_param], y=y, mode="markers", showlegend=False, name=panel.family,
                marker={"color": panel.metric, "coloraxis": "coloraxis", "size": 12, "symbol": "square", "line": {"width": 0.5, "color": "white"}},
                hovertext=hover, hoverinfo="text",
            ),
            row=row, col=col,
        )
        fig.update_xaxes(title_text=x_param, range=_padded(panel.ranges[x_param]), row=row, col=col)
        if in_plane:
            fig.update_yaxes(title_text=panel.params[1], range=_padded(panel.ranges[panel.params[1]]), row=row, col=col)
        else:
            fig.update_yaxes(title_text=metric, range=info.metric_range, row=row, col=col)
    low, high = info.metric_range or (None, None)
    better = "brighter is better" if info.maximize else "brighter is better (lower)"
    fig.update_layout(
        title={"text": f"{title}<br><sup>one panel per family; colour: {metric}, {better}; hover: trial and instability</sup>"},
        coloraxis={"colorscale": "Viridis", "reversescale": not info.maximize, "cmin": low, "cmax": high, "colorbar": {"title": {"text": metric}}},
        height=max(420, 340 * rows),
        template="plotly_white",
    )
    return fig


def _padded(bounds: tuple[float, float] | None) -> list[float] | None:
    """A parameter's range with a little room, so the squares at its ends are whole."""
    if bounds is None:
        return None
    lo, hi = bounds
    room = 0.04 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1e-3)
    return [lo - room, hi + room]


def plot_momentum(study: optuna.Study) -> go.Figure:
    """The validation metric over the (mu, s) plane, one panel per family that has them."""
    return _momentum_figure(_momentum_info(study))
