"""Learning curves of a search: each trial's validation metric and instability after every
evaluation (its `curve` user attribute), coloured by family; trials that early stopping ended
are drawn dashed and end in a cross at the epoch they were stopped at."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState
from plotly.subplots import make_subplots

from search.plots._study_data import family_colors, family_of, objective_names, pareto_numbers


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
    colors: dict[str, str]


def _curves_info(study: optuna.Study) -> _CurvesInfo:
    pareto = pareto_numbers(study)
    curves = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        points = trial.user_attrs.get("curve") or []
        if not points:
            continue
        kind = "stopped" if trial.state == TrialState.PRUNED else "pareto" if trial.number in pareto else "other"
        curves.append(_Curve(trial.number, family_of(trial), kind, [p["epoch"] for p in points],
                             [p.get("metric") for p in points], [p.get("instability") for p in points]))
    return _CurvesInfo(objective_names(study)[0], curves, family_colors(study))


_STYLE = {  # line dash, width, opacity, end marker
    "pareto": ("solid", 2.5, 1.0, "circle"),
    "other": ("solid", 1.0, 0.45, "circle-open"),
    "stopped": ("dot", 1.0, 0.6, "x"),
}


def _curves_figure(info: _CurvesInfo) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(info.metric_name, "instability"))
    shown: set[tuple[str, str]] = set()
    for curve in sorted(info.curves, key=lambda c: c.number):
        dash, width, opacity, end = _STYLE[curve.kind]
        color = info.colors.get(curve.family, "gray")
        legend = (curve.family, curve.kind)
        for col, values in ((1, curve.metric), (2, curve.instability)):
            sizes = [0] * (len(values) - 1) + [8]
            fig.add_trace(go.Scatter(
                x=curve.epochs, y=values, mode="lines+markers", connectgaps=False,
                line={"color": color, "dash": dash, "width": width}, opacity=opacity,
                marker={"symbol": end, "size": sizes, "color": color},
                name=f"{curve.family} ({curve.kind})", legendgroup=f"{curve.family} ({curve.kind})",
                showlegend=col == 1 and legend not in shown, customdata=[curve.number] * len(values),
                hovertemplate=f"trial {curve.number} · {curve.family} · {curve.kind}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
            ), row=1, col=col)
        shown.add(legend)
    for col in (1, 2):
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    stopped = sum(1 for c in info.curves if c.kind == "stopped")
    note = f"{len(info.curves)} trials; {stopped} stopped early (dotted, ending in ×)" if info.curves else "no trial has recorded a curve yet"
    fig.update_layout(
        title=f"Learning curves: {info.metric_name} and instability after each evaluation<br><sup>{note}; Pareto trials bold</sup>",
        legend={"title": {"text": "family (kind)"}, "font": {"size": 10}},
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
