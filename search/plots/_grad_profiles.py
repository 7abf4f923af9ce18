"""Gradient profiles ‖∂L/∂h_t‖ over t of the Pareto trials (log y): vanishing or exploding."""

from __future__ import annotations

import math
from typing import NamedTuple

import optuna
import plotly.graph_objects as go

from search.plots._axes import decade_axis
from search.plots._study_data import complete_trials, family_color, family_of, grad_profile, line_dashes, pareto_numbers


class _GradCurve(NamedTuple):
    number: int
    family: str
    t: list[int]
    norms: list[float]
    log10_first_over_last: float  # ≪ 0: gradients vanish going back in time; ≫ 0: they explode


class _GradProfileInfo(NamedTuple):
    curves: list[_GradCurve]
    colors: dict[str, str]  # family -> colour (`family_color`)
    missing: list[int]  # Pareto trials that recorded no profile


def _grad_profile_info(study: optuna.Study) -> _GradProfileInfo:
    curves, missing = [], []
    trials = {t.number: t for t in complete_trials(study)}
    for number in sorted(pareto_numbers(study)):
        trial = trials[number]
        profile = grad_profile(trial)
        if profile is None:
            missing.append(number)
            continue
        t, norms = profile
        sound = [n for n in norms if math.isfinite(n) and n > 0]
        ratio = math.log10(sound[0] / sound[-1]) if sound else math.nan
        curves.append(_GradCurve(number, family_of(trial), t, norms, ratio))
    return _GradProfileInfo(curves, {c.family: family_color(c.family) for c in curves}, missing)


def _grad_profile_figure(info: _GradProfileInfo) -> go.Figure:
    fig = go.Figure()
    for c, dash in zip(info.curves, line_dashes([c.family for c in info.curves])):
        fig.add_trace(
            go.Scatter(
                x=c.t,
                y=c.norms,
                mode="lines",
                name=f"trial {c.number} · {c.family} (first/last 10^{c.log10_first_over_last:+.1f})",
                line={"color": info.colors.get(c.family), "dash": dash, "width": 2},
                hovertemplate=f"trial {c.number}<br>t=%{{x}}<br>‖∂L/∂h_t‖=%{{y:.3g}}<extra></extra>",
            )
        )
    title = "Gradient profiles of the Pareto trials<br><sup>‖∂L/∂h_t‖ over t: flat = stable, falling towards t=0 = vanishing"
    if not info.curves:
        title = "Gradient profiles: no Pareto trial recorded one<sup>"
    elif info.missing:
        title += f"<br>no profile recorded for trial(s) {', '.join(map(str, info.missing))}"
    fig.update_layout(
        title=title + "</sup>",
        xaxis_title="t",
        yaxis={"title": "‖∂L/∂h_t‖", **decade_axis([n for c in info.curves for n in c.norms])},
        legend={"font": {"size": 10}},
        template="plotly_white",
    )
    return fig


def plot_grad_profiles(study: optuna.Study) -> go.Figure:
    """‖∂L/∂h_t‖ against t for every Pareto trial, on a log scale."""
    return _grad_profile_figure(_grad_profile_info(study))
