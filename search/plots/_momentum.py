"""The validation metric against the momentum parameters mu and s, per family that has them."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from search.plots._study_data import complete_trials, family_of, objective_names

# The momentum parameters shown against the metric, where a family has them.
MOMENTUM_PARAMS = ("mu", "s")


class _MomentumPanel(NamedTuple):
    family: str
    param: str  # "mu" or "s"
    values: list[float]  # the parameter, one per COMPLETE trial of the family that has it
    metric: list[float]  # the validation metric of those trials
    instability: list[float]
    numbers: list[int]


class _MomentumInfo(NamedTuple):
    metric_name: str
    panels: list[_MomentumPanel]


def _momentum_info(study: optuna.Study) -> _MomentumInfo:
    name = objective_names(study)[0]
    by_key: dict[tuple[str, str], list[tuple[float, float, float, int]]] = {}
    for trial in complete_trials(study):
        cell = (trial.user_attrs.get("run_config") or {}).get("cell") or {}
        for param in MOMENTUM_PARAMS:
            value = cell.get(param, trial.params.get(param))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                by_key.setdefault((family_of(trial), param), []).append((float(value), *trial.values, trial.number))
    panels = []
    for (family, param), rows in sorted(by_key.items()):
        rows.sort()
        panels.append(
            _MomentumPanel(family, param, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
        )
    return _MomentumInfo(name, panels)


def _momentum_figure(info: _MomentumInfo) -> go.Figure:
    if not info.panels:
        fig = go.Figure()
        fig.add_annotation(
            text="no completed trial of a family with momentum parameters (mu, s)", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
        fig.update_layout(title=f"{info.metric_name} against mu and s", template="plotly_white", xaxis_visible=False, yaxis_visible=False)
        return fig
    families = sorted({p.family for p in info.panels})
    fig = make_subplots(
        rows=len(families),
        cols=len(MOMENTUM_PARAMS),
        # A family without one of the parameters (rmsprop has no mu) leaves that panel untitled and empty.
        subplot_titles=[f"{f}: {p}" if (f, p) in {(q.family, q.param) for q in info.panels} else "" for f in families for p in MOMENTUM_PARAMS],
        vertical_spacing=min(0.15, 0.5 / len(families)),
    )
    for panel in info.panels:
        row, col = families.index(panel.family) + 1, MOMENTUM_PARAMS.index(panel.param) + 1
        fig.add_trace(
            go.Scatter(
                x=panel.values,
                y=panel.metric,
                mode="markers",
                showlegend=False,
                marker={"color": panel.instability, "colorscale": "Viridis", "coloraxis": "coloraxis", "size": 9},
                text=[f"trial {n}" for n in panel.numbers],
                hovertemplate=f"%{{text}}<br>{panel.param}=%{{x:.3g}}<br>{info.metric_name}=%{{y:.4g}}<extra></extra>",
            ),
            row=row,
            col=col,
        )
        fig.update_xaxes(title_text=panel.param, row=row, col=col)
        fig.update_yaxes(title_text=info.metric_name, row=row, col=col)
    fig.update_layout(
        title=f"{info.metric_name} against the momentum parameters, per family (colour: instability)",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "instability"}},
        height=max(400, 320 * len(families)),
        template="plotly_white",
    )
    return fig


def plot_momentum(study: optuna.Study) -> go.Figure:
    """The validation metric against mu and against s, one row per family that has them."""
    return _momentum_figure(_momentum_info(study))
