"""Did the early rungs predict the target? Each rung's validation metric against the metric at the
target, one point per trial that reached the target, with Spearman's rho per rung (search._fidelity)."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from search._fidelity import RungFidelity, rung_fidelity
from search._record import StudyRecord
from search.plots._axes import metric_range


class _FidelityInfo(NamedTuple):
    metric: str                 # "val_accuracy"
    target: int | None          # the target epochs
    rungs: list[RungFidelity]


def _fidelity_info(study: optuna.Study) -> _FidelityInfo:
    info = StudyRecord.of(study)
    return _FidelityInfo(info.metric_names[0], info.target_epochs, rung_fidelity(study))


def _rho(rung: RungFidelity) -> str:
    return "ρ -" if rung.spearman is None else f"ρ = {rung.spearman:+.2f}"


def _fidelity_figure(info: _FidelityInfo) -> go.Figure:
    shown = [r for r in info.rungs if r.points]
    if not shown:
        fig = go.Figure()
        reason = "no target recorded" if not info.target else "no trial has reached the target yet"
        fig.update_layout(title=f"Rung-to-target rank correlation: {reason}", template="plotly_white")
        return fig
    fig = make_subplots(rows=1, cols=len(shown), shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"epoch {r.epoch:g}: {_rho(r)} (n = {r.trials})" for r in shown])
    finals = [p[1] for r in shown for p in r.points]
    for col, rung in enumerate(shown, start=1):
        fig.add_trace(go.Scatter(
            x=[p[0] for p in rung.points], y=[p[1] for p in rung.points], mode="markers", showlegend=False,
            text=[f"trial {p[2]}" for p in rung.points], marker={"size": 8, "color": "#3a6ea5"},
            hovertemplate=f"%{{text}}<br>epoch {rung.epoch:g}: %{{x:.4g}}<br>epoch {info.target}: %{{y:.4g}}<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(title_text=f"{info.metric} at epoch {rung.epoch:g}",
                         range=metric_range(info.metric, [p[0] for p in rung.points]), row=1, col=col)
    fig.update_yaxes(title_text=f"{info.metric} at the target (epoch {info.target})", range=metric_range(info.metric, finals),
                     row=1, col=1)
    fig.update_layout(
        title=("Did the early rungs predict the target?<br><sup>each trial that reached the target; ρ: Spearman's rank "
               "correlation of its rung metric and its target metric (near 1: the rung ranked as the target did)</sup>"),
        template="plotly_white")
    return fig


def plot_fidelity(study: optuna.Study) -> go.Figure:
    """Each rung's validation metric against the target's, with Spearman's rho per rung."""
    return _fidelity_figure(_fidelity_info(study))
