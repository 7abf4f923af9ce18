"""Where in the (mu, s) plane do good cells lie? One plane for every family with momentum
parameters: a completed trial is a point at its (mu, s), coloured by the validation metric,
its symbol naming its dynamics, a ring marking the Pareto trials. Dynamics without mu
(rmsprop, nag_restart) get a column each left of the plane, at their s.

A parameter searched over a few choices (`momentum.s: [0.3, 0.6, 1.0]`) keeps an axis over
all the choices, ticked at the choices only; trials at the same place are spread apart."""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
from plotly.subplots import make_subplots

from search.plots._axes import metric_range, padded_range
from search.plots._study_data import (
    cell_value,
    complete_trials,
    dynamics_order,
    family_of,
    family_parts,
    fmt,
    objective_names,
    pareto_numbers,
    study_directions,
)

# Marker symbols by dynamics; a dynamics the cells add later takes the next one.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "pentagon", "hexagram", "star", "triangle-down")
_MARKER_SIZE = 13


class _MomentumPoint(NamedTuple):
    number: int
    family: str
    dynamics: str
    mu: float | None  # None: the dynamics has no mu; drawn in its own column at its s
    s: float
    metric: float
    instability: float
    pareto: bool


class _ParamAxis(NamedTuple):
    name: str  # "mu" | "s"
    range: tuple[float, float]  # over the searched ranges and choices of every family, else over the values
    choices: tuple[float, ...] | None  # every family searched it over these values: ticks there only


class _MomentumInfo(NamedTuple):
    metric_name: str  # e.g. "val_acc"
    maximize: bool  # brighter is better either way
    metric_range: tuple[float, float] | None  # the colour scale
    points: list[_MomentumPoint]  # sorted by dynamics (cells' order), family, trial number
    mu: _ParamAxis | None  # None: no point has mu
    s: _ParamAxis | None  # None: no point at all
    no_mu: list[str]  # dynamics of the points without mu: the columns left of the plane
    reference: tuple[int, float] | None  # the best completed trial without mu and s (trial, metric), for scale


def _searched(trials: list[FrozenTrial], param: str) -> tuple[tuple[float, float] | None, tuple[float, ...] | None]:
    """The span of the values the space gave `param` ("mu", or namespaced "adam.mu") over every
    family that searched it, and its choices where every such family chose from a list."""
    spans, choices, all_choices = [], set(), True
    for trial in trials:
        for name, dist in trial.distributions.items():
            if name.rpartition(".")[2] != param:
                continue
            if isinstance(dist, CategoricalDistribution):
                numbers = [float(c) for c in dist.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
                if numbers:
                    spans.append((min(numbers), max(numbers)))
                    choices.update(numbers)
            elif hasattr(dist, "low") and hasattr(dist, "high"):
                spans.append((float(dist.low), float(dist.high)))
                all_choices = False
    if not spans:
        return None, None
    return (min(lo for lo, _ in spans), max(hi for _, hi in spans)), (tuple(sorted(choices)) if all_choices else None)


def _param_axis(study: optuna.Study, param: str, values: list[float]) -> _ParamAxis | None:
    if not values:
        return None
    span, choices = _searched(study.get_trials(deepcopy=False), param)
    if span is None:  # fixed, not searched: the values' own span
        span = padded_range(values)
    return _ParamAxis(param, (min(span[0], *values), max(span[1], *values)), choices)


def _momentum_info(study: optuna.Study) -> _MomentumInfo:
    name = objective_names(study)[0]
    maximize = study_directions(study)[0] == "maximize"
    pareto = pareto_numbers(study)
    order = {d: i for i, d in enumerate(dynamics_order())}
    points, plain = [], []
    for trial in complete_trials(study):
        family = family_of(trial)
        mu, s = cell_value(trial, "mu"), cell_value(trial, "s")
        if s is None:  # no momentum parameters (plain), or mu alone, which no dynamics has
            if mu is None:
                plain.append((trial.number, trial.values[0]))
            continue
        dynamics = (family_parts(family) or (family, ""))[0]
        points.append(_MomentumPoint(trial.number, family, dynamics, mu, s, trial.values[0], trial.values[1], trial.number in pareto))
    points.sort(key=lambda p: (order.get(p.dynamics, len(order)), p.family, p.number))
    no_mu = list(dict.fromkeys(p.dynamics for p in points if p.mu is None))
    best = max if maximize else min
    reference = best(plain, key=lambda nv: nv[1]) if plain else None
    return _MomentumInfo(
        name, maximize, metric_range(name, [p.metric for p in points]), points,
        _param_axis(study, "mu", [p.mu for p in points if p.mu is not None]),
        _param_axis(study, "s", [p.s for p in points]),
        no_mu, reference,
    )


def _spread(places: list[tuple[float, float]], step: float) -> list[float]:
    """Horizontal offsets that set points sharing a place side by side, centred on it."""
    groups: dict[tuple[float, float], list[int]] = defaultdict(list)
    for i, place in enumerate(places):
        groups[place].append(i)
    offsets = [0.0] * len(places)
    for members in groups.values():
        for k, i in enumerate(members):
            offsets[i] = (k - (len(members) - 1) / 2) * step
    return offsets


def _axis_layout(axis: _ParamAxis, title: str) -> dict:
    lo, hi = axis.range
    room = 0.06 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1e-3)
    layout = {"title": {"text": title}, "range": [lo - room, hi + room], "zeroline": False}
    if axis.choices:
        layout.update(tickmode="array", tickvals=list(axis.choices), ticktext=[fmt(c) for c in axis.choices])
    return layout


def _momentum_figure(info: _MomentumInfo) -> go.Figure:
    metric = info.metric_name
    title = f"{metric} against the momentum parameters μ and s"
    if not info.points:
        fig = go.Figure()
        fig.add_annotation(text="no completed trial of a family with momentum parameters (μ, s)", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(title=title, template="plotly_white", xaxis_visible=False, yaxis_visible=False)
        return fig
    plane = [p for p in info.points if p.mu is not None]
    column = [p for p in info.points if p.mu is None]
    panels = (["column"] if column else []) + (["plane"] if plane else [])
    # A column is as wide as the most trials that share one s in it need, side by side.
    crowd = max((sum(q.dynamics == p.dynamics and q.s == p.s for q in column) for p in column), default=1)
    widths = {"column": max(0.11, 0.05 * crowd) * len(info.no_mu), "plane": 0.78}
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.04,
                        column_widths=[widths[p] for p in panels] if len(panels) > 1 else None)
    symbols = {d: SYMBOLS[i % len(SYMBOLS)] for i, d in enumerate(dynamics_order())}
    rank = {d: 100 + i for i, d in enumerate(dynamics_order())}  # the legend in the cells' order of dynamics
    marker = {"coloraxis": "coloraxis", "size": _MARKER_SIZE, "line": {"width": 0.8, "color": "white"}}
    for col, panel in enumerate(panels, start=1):
        pts = plane if panel == "plane" else column
        if panel == "plane":
            span = info.mu.range[1] - info.mu.range[0] or 1.0
            xs = [p.mu + dx for p, dx in zip(pts, _spread([(p.mu, p.s) for p in pts], 0.035 * span))]
        else:
            base = [info.no_mu.index(p.dynamics) for p in pts]
            xs = [b + dx for b, dx in zip(base, _spread(list(zip(base, [p.s for p in pts])), min(0.22, 0.9 / crowd)))]
        for dynamics in dict.fromkeys(p.dynamics for p in pts):
            chosen = [(x, p) for x, p in zip(xs, pts) if p.dynamics == dynamics]
            fig.add_trace(go.Scatter(
                x=[x for x, _ in chosen], y=[p.s for _, p in chosen], mode="markers", name=dynamics,
                legendgroup=dynamics, showlegend=not any(t.name == dynamics for t in fig.data), legendrank=rank.get(dynamics, 199),
                marker={**marker, "symbol": symbols.get(dynamics, "circle"), "color": [p.metric for _, p in chosen]},
                hovertext=[_hover(p, metric) for _, p in chosen], hoverinfo="text", customdata=[p.number for _, p in chosen],
            ), row=1, col=col)
        ringed = [(x, p) for x, p in zip(xs, pts) if p.pareto]
        if ringed:
            fig.add_trace(go.Scatter(
                x=[x for x, _ in ringed], y=[p.s for _, p in ringed], mode="markers", name="Pareto trial",
                legendgroup="pareto", showlegend=not any(t.name == "Pareto trial" for t in fig.data), legendrank=1000, hoverinfo="skip",
                marker={"symbol": "circle-open", "size": _MARKER_SIZE + 10, "color": "black", "line": {"width": 1.8}},
            ), row=1, col=col)
        if panel == "plane":
            fig.update_xaxes(_axis_layout(info.mu, "μ"), row=1, col=col)
        else:
            fig.update_xaxes(title_text="no μ", range=[-0.6, len(info.no_mu) - 0.4], tickmode="array",
                             tickvals=list(range(len(info.no_mu))), ticktext=[d.replace("_", "_<br>") for d in info.no_mu],
                             tickangle=0, tickfont={"size": 10}, showgrid=False, zeroline=False, row=1, col=col)
    s_axis = _axis_layout(info.s, "s")
    fig.update_yaxes({k: v for k, v in s_axis.items() if k != "title"})  # the plane's grid lines at the column's ticks
    fig.update_yaxes(title=s_axis["title"], row=1, col=1)
    low, high = info.metric_range or (None, None)
    better = "higher" if info.maximize else "lower"
    note = f"colour: {metric}, brighter is better ({better}); symbol: dynamics; ringed: Pareto trials"
    if info.reference is not None:
        note += f"<br>plain cells (no μ, s): best {metric} {fmt(info.reference[1])} (trial {info.reference[0]})"
    fig.update_layout(
        title={"text": f"{title}<br><sup>{note}</sup>"},
        coloraxis={"colorscale": "Viridis", "reversescale": not info.maximize, "cmin": low, "cmax": high,
                   "colorbar": {"title": {"text": metric, "side": "right"}, "len": 0.5, "y": 0, "yanchor": "bottom", "thickness": 14}},
        # The legend (a few symbols) above the colour bar, both right of the plane.
        legend={"x": 1.02, "y": 1, "yanchor": "top", "font": {"size": 11}, "tracegroupgap": 2},
        template="plotly_white",
    )
    return fig


def _hover(p: _MomentumPoint, metric: str) -> str:
    where = f"μ = {fmt(p.mu)}, s = {fmt(p.s)}" if p.mu is not None else f"s = {fmt(p.s)} (no μ)"
    return (f"<b>trial {p.number}</b> · {p.family}{' · Pareto' if p.pareto else ''}<br>{where}<br>"
            f"{metric} = {fmt(p.metric)}, instability = {fmt(p.instability)}")


def plot_momentum(study: optuna.Study) -> go.Figure:
    """Every completed trial with momentum parameters at its (mu, s), coloured by the validation
    metric: where in the plane good cells lie."""
    return _momentum_figure(_momentum_info(study))
