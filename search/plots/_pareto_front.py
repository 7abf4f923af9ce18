"""The Pareto front: validation metric against instability, one point per finished trial,
coloured by family; Pareto, dominated, stopped and failed trials drawn apart. Instability
is on a log scale where it reaches over a decade (one diverging trial would squash the rest)."""

from __future__ import annotations

import math
from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from search.plots._axes import decade_axis
from search.plots._study_data import (
    config_lines,
    family_colors,
    family_of,
    finished_trials,
    finite,
    fmt,
    objective_names,
    pareto_numbers,
    recorded_values,
    status_text,
    study_directions,
)

_KIND_MARKER = {  # symbol, size, opacity, outline width: the four kinds must read apart in print too
    "pareto": ("circle", 13, 1.0, 2),
    "dominated": ("circle-open", 9, 0.7, 1.5),
    "stopped": ("triangle-down-open", 9, 0.6, 1.5),
    "failed": ("x-thin-open", 10, 0.8, 2),
}
_KIND_KEY = {"pareto": "Pareto", "dominated": "dominated", "stopped": "stopped early", "failed": "failed"}


class _ParetoPoint(NamedTuple):
    number: int
    family: str
    kind: str  # "pareto" | "dominated" | "stopped" (PRUNED) | "failed" (FAIL: diverged or crashed)
    value: float  # the validation metric where the point is drawn
    instability: float
    at_edge: bool  # no finite value recorded: drawn at the worst edge of the plot
    hover: str


class _ParetoInfo(NamedTuple):
    metric_name: str  # e.g. "val_acc"
    directions: list[str]  # [metric direction, "minimize"]
    points: list[_ParetoPoint]
    front: list[int]  # Pareto trial numbers in order of the metric (the line drawn through them)
    colors: dict[str, str]  # family -> colour
    log_instability: bool  # every instability drawn is positive and they reach over a decade


def _pareto_info(study: optuna.Study) -> _ParetoInfo:
    names = objective_names(study)
    directions = study_directions(study)
    metric = names[0].removeprefix("val_")
    pareto = pareto_numbers(study)
    raw = []
    for trial in finished_trials(study):
        if trial.state == TrialState.COMPLETE and finite(trial.values):
            kind = "pareto" if trial.number in pareto else "dominated"
        elif trial.state == TrialState.PRUNED:
            kind = "stopped"
        else:
            kind = "failed"
        raw.append((trial, kind, *recorded_values(trial, metric)))

    # Trials without a finite value (NaN loss, a crash) still get a point, at the worst edge.
    xs = [x for *_, x, _ in raw if x is not None and math.isfinite(x)]
    ys = [y for *_, _, y in raw if y is not None and math.isfinite(y)]
    log_y = bool(ys) and min(ys) > 0 and max(ys) >= 10 * min(ys)
    x_edge = _edge(xs, worst_is_high=directions[0] == "minimize")
    y_edge = 10 ** _edge([math.log10(y) for y in ys], worst_is_high=True) if log_y else _edge(ys, worst_is_high=True)

    points = []
    for trial, kind, x, y in raw:
        at_edge = not (x is not None and math.isfinite(x) and y is not None and math.isfinite(y))
        px = x if x is not None and math.isfinite(x) else x_edge
        py = y if y is not None and math.isfinite(y) else y_edge
        lines = [f"<b>trial {trial.number}</b> · {family_of(trial)} · {status_text(trial)}"]
        lines.append(f"{names[0]} = {fmt(x)}, {names[1]} = {fmt(y)}" + (" (no finite value)" if at_edge else ""))
        lines += config_lines(trial)
        points.append(_ParetoPoint(trial.number, family_of(trial), kind, px, py, at_edge, "<br>".join(lines)))

    front = sorted((p for p in points if p.kind == "pareto"), key=lambda p: (p.value, p.number))
    return _ParetoInfo(names[0], directions, points, [p.number for p in front], family_colors(study), log_y)


def _edge(values: list[float], *, worst_is_high: bool) -> float:
    if not values:
        return 0.0
    lo, hi = min(values), max(values)
    pad = 0.08 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)
    return hi + pad if worst_is_high else lo - pad


def _pareto_figure(info: _ParetoInfo) -> go.Figure:
    fig = go.Figure()
    by_number = {p.number: p for p in info.points}
    if info.front:
        front = [by_number[n] for n in info.front]
        fig.add_trace(
            go.Scatter(
                x=[p.value for p in front],
                y=[p.instability for p in front],
                mode="lines",
                line={"color": "rgba(60,60,60,0.5)", "dash": "dot", "shape": "hv" if info.directions[0] == "minimize" else "vh"},
                name="Pareto front",
                legendrank=50,
                hoverinfo="skip",
            )
        )
    # The legend keys the kinds in gray, then names each family once (a click hides all its trials).
    for rank, (family, color) in enumerate(info.colors.items()):
        if any(p.family == family for p in info.points):
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=family, legendgroup=family, legendrank=100 + rank,
                                     marker={"symbol": "circle", "size": 10, "color": color}, hoverinfo="skip"))
        for kind, (symbol, size, opacity, width) in _KIND_MARKER.items():
            pts = [p for p in info.points if p.family == family and p.kind == kind]
            if not pts:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p.value for p in pts],
                    y=[p.instability for p in pts],
                    mode="markers",
                    name=f"{family} ({kind})",
                    legendgroup=family,
                    showlegend=False,
                    marker={
                        "symbol": symbol,
                        "size": size,
                        "opacity": opacity,
                        "color": color,
                        "line": {"width": width, "color": "black" if kind == "pareto" else color},
                    },
                    hovertext=[p.hover for p in pts],
                    hoverinfo="text",
                    customdata=[p.number for p in pts],
                )
            )
    for kind, (symbol, size, _, width) in _KIND_MARKER.items():
        if any(p.kind == kind for p in info.points):
            fig.add_trace(go.Scatter(
                x=[None], y=[None], mode="markers", name=_KIND_KEY[kind], legendgroup="kinds", legendgrouptitle_text="kind",
                legendrank=1, hoverinfo="skip",
                marker={"symbol": symbol, "size": size, "color": "gray",
                        "line": {"width": width, "color": "black" if kind == "pareto" else "gray"}},
            ))
    best = "higher" if info.directions[0] == "maximize" else "lower"
    edge_note = "<br>failed runs without a finite value sit at the worst edge" if any(p.at_edge for p in info.points) else ""
    yaxis = {"title": {"text": "instability" + (" (log scale)" if info.log_instability else "")}}
    if info.log_instability:
        yaxis.update(decade_axis([p.instability for p in info.points]))
    fig.update_layout(
        title=f"Pareto front: {info.metric_name} against instability<br><sup>{info.metric_name}: {best} is better; instability: lower is better{edge_note}</sup>",
        xaxis_title=info.metric_name,
        yaxis=yaxis,
        legend={"font": {"size": 10}, "tracegroupgap": 0},
        template="plotly_white",
    )
    return fig


def plot_pareto_front(study: optuna.Study) -> go.Figure:
    """The validation metric against instability, every finished trial a point.

    Example:
        >>> from search import open_study
        >>> fig = plot_pareto_front(open_study("momnas-runs"))
        >>> fig.layout.title.text.split("<br>")[0]
        'Pareto front: val_accuracy against instability'
    """
    return _pareto_figure(_pareto_info(study))
