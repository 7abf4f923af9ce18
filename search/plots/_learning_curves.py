"""Learning curves of a search: each trial's validation metric and instability (log scale)
after every evaluation, coloured by family. Pareto trials are drawn bold, each with its own
legend entry (several of one core, whose colours are alike, tell apart by dash); trials that
early stopping ended are dotted and end in a cross at the epoch they were stopped at."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState
from plotly.subplots import make_subplots

from search.plots._axes import decade_axis
from search.plots._study_data import (
    family_color,
    family_of,
    finished_trials,
    learning_curve,
    line_dashes,
    objective_names,
    pareto_numbers,
)


class _Curve(NamedTuple):
    number: int
    family: str
    kind: str  # "pareto" | "other" | "stopped" (PRUNED)
    epochs: list[float]
    metric: list[float | None]
    instability: list[float | None]


class _CurvesInfo(NamedTuple):
    metric_name: str
    curves: list[_Curve]
    colors: dict[str, str]  # family -> colour (`family_color`)


def _curves_info(study: optuna.Study) -> _CurvesInfo:
    pareto = pareto_numbers(study)
    curves = []
    for trial in finished_trials(study):
        points = learning_curve(trial)
        if not points:
            continue
        kind = "stopped" if trial.state == TrialState.PRUNED else "pareto" if trial.number in pareto else "other"
        epochs, metric, instability = (list(column) for column in zip(*points))
        curves.append(_Curve(trial.number, family_of(trial), kind, epochs, metric, instability))
    return _CurvesInfo(objective_names(study)[0], curves, {c.family: family_color(c.family) for c in curves})


_STYLE = {  # line dash, width, opacity, end marker
    "pareto": ("solid", 2.5, 1.0, "circle"),
    "other": ("solid", 1.0, 0.45, "circle-open"),
    "stopped": ("dot", 1.0, 0.6, "x"),
}


def _curves_figure(info: _CurvesInfo) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(info.metric_name, "instability (log scale)"), horizontal_spacing=0.1)
    families = sorted({c.family for c in info.curves})
    curves = sorted(info.curves, key=lambda c: c.number)
    pareto_dashes = iter(line_dashes([c.family for c in curves if c.kind == "pareto"]))
    shown: set[str] = set()
    for curve in curves:
        dash, width, opacity, end = _STYLE[curve.kind]
        color = info.colors.get(curve.family, "gray")
        if curve.kind == "pareto":  # its own legend entry, first in the legend
            dash, group, rank = next(pareto_dashes), f"trial {curve.number}", curve.number
            name = f"trial {curve.number} · {curve.family}"
        else:  # the family's other trials share one entry
            group, rank, name = curve.family, 10_000 + families.index(curve.family), curve.family
        for col, values in ((1, curve.metric), (2, curve.instability)):
            sizes = [0] * (len(values) - 1) + [8]
            fig.add_trace(go.Scatter(
                x=curve.epochs, y=values, mode="lines+markers", connectgaps=False,
                line={"color": color, "dash": dash, "width": width}, opacity=opacity,
                marker={"symbol": end, "size": sizes, "color": color},
                name=name, legendgroup=group, legendrank=rank,
                showlegend=col == 1 and group not in shown, customdata=[curve.number] * len(values),
                hovertemplate=f"trial {curve.number} · {curve.family} · {curve.kind}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
            ), row=1, col=col)
        shown.add(group)
    for col in (1, 2):
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    # Instability falls by decades during training: on a linear axis the first epochs squash the last.
    fig.update_yaxes(decade_axis([v for c in info.curves for v in c.instability]), row=1, col=2)
    stopped = sum(1 for c in info.curves if c.kind == "stopped")
    note = f"{len(info.curves)} trials; bold: Pareto trials" if info.curves else "no trial has recorded a curve yet"
    if stopped:
        note += f"; dotted, ending in ×: stopped early ({stopped})"
    fig.update_layout(
        title=f"Learning curves: {info.metric_name} and instability after each evaluation<br><sup>{note}</sup>",
        legend={"font": {"size": 10}, "tracegroupgap": 0},
        template="plotly_white",
    )
    return fig


def plot_learning_curves(study: optuna.Study) -> go.Figure:
    """Every trial's validation metric and instability over epochs, stopped trials apart.

    Example:
        >>> from search import open_study
        >>> fig = plot_learning_curves(open_study("momnas-runs"))
        >>> fig.layout.title.text.split("<br>")[0]
        'Learning curves: val_accuracy and instability after each evaluation'
    """
    return _curves_figure(_curves_info(study))
