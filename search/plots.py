"""Figures of a finished (or running) search: what a user reads after `momnas search`.

Each figure comes in two steps, as in `optuna.visualization`: `_X_info(study)` gathers plain
data (a NamedTuple, what the tests compare), `_X_figure(info)` draws it with plotly.

- Pareto front: validation metric against instability, one point per trial, coloured by family;
  Pareto, dominated, stopped and failed trials drawn apart; hover shows the configuration.
- Hypervolume of the front after each trial.
- Gradient profiles ‖∂L/∂h_t‖ over t of the Pareto trials (log y).
- Parameter importances per objective (fANOVA), and the metric against mu and s per family.

`write_plots(study, out_dir)` writes them all as standalone HTML and attaches them to the
study, so that optuna-dashboard shows them too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = [
    "plot_grad_profiles",
    "plot_hypervolume",
    "plot_importances",
    "plot_momentum",
    "plot_pareto_front",
    "plot_run_curves",
    "write_plots",
]

# fANOVA on fewer trials than this explains noise, not the space.
MIN_IMPORTANCE_TRIALS = 4
# The momentum parameters shown against the metric, where a family has them.
MOMENTUM_PARAMS = ("mu", "s")

_PALETTE = qualitative.Plotly + qualitative.D3
_KIND_MARKER = {  # symbol, size, opacity, outline width: the four kinds must read apart in print too
    "pareto": ("circle", 13, 1.0, 2),
    "dominated": ("circle-open", 9, 0.7, 1.5),
    "stopped": ("triangle-down-open", 9, 0.6, 1.5),
    "failed": ("x-thin-open", 10, 0.8, 2),
}


# ---------------------------------------------------------------------------------- study data


def _objective_names(study: optuna.Study) -> list[str]:
    names = study.metric_names
    if names:
        return list(names)
    return [f"val_{study.user_attrs.get('metric', 'metric')}", "instability"]


def _directions(study: optuna.Study) -> list[str]:
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]


def _family(trial: FrozenTrial) -> str:
    family = trial.user_attrs.get("family")
    if family:
        return str(family)
    cell = trial.user_attrs.get("run_config", {}).get("cell", {})
    if "core" in cell:
        return f"{cell.get('dynamics', 'plain')}-{cell['core']}"
    return "unknown"


def _families(study: optuna.Study) -> dict[str, str]:
    """Family name -> colour, the same in every figure of a study."""
    names = sorted({_family(t) for t in study.get_trials(deepcopy=False)})
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def _finished(study: optuna.Study) -> list[FrozenTrial]:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return study.get_trials(deepcopy=False, states=states)


def _finite(values) -> bool:
    return values is not None and all(v is not None and math.isfinite(v) for v in values)


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    """COMPLETE trials with finite objective values: the ones a front is made of."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if _finite(t.values)]


def _pareto_numbers(study: optuna.Study) -> set[int]:
    if not _complete(study):
        return set()
    return {t.number for t in study.best_trials if _finite(t.values)}


def _recorded_values(trial: FrozenTrial, metric: str) -> tuple[float | None, float | None]:
    """The objective values of a trial, or for one without values what its metrics.json recorded."""
    if trial.values is not None and len(trial.values) == 2:
        return trial.values[0], trial.values[1]
    metrics = trial.user_attrs.get("metrics") or {}
    value = (metrics.get("validation") or {}).get(metric)
    instability = (metrics.get("stability") or {}).get("instability")
    return value, instability


def _config_lines(trial: FrozenTrial) -> list[str]:
    run = trial.user_attrs.get("run_config") or {}
    cell = run.get("cell") or {}
    lines = [", ".join(f"{k}={_fmt(v)}" for k, v in cell.items())] if cell else []
    shown = set(cell)
    # Spaces namespace their parameters ("adam.mu"): those already shown through the cell are left out.
    rest = {k: v for k, v in trial.params.items() if k.rpartition(".")[2] not in shown and k != "family"}
    if rest:
        lines.append(", ".join(f"{k}={_fmt(v)}" for k, v in sorted(rest.items())))
    return lines


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ------------------------------------------------------------------------------ Pareto front


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


def _pareto_info(study: optuna.Study) -> _ParetoInfo:
    names = _objective_names(study)
    directions = _directions(study)
    metric = names[0].removeprefix("val_")
    pareto = _pareto_numbers(study)
    raw = []
    for trial in _finished(study):
        if trial.state == TrialState.COMPLETE and _finite(trial.values):
            kind = "pareto" if trial.number in pareto else "dominated"
        elif trial.state == TrialState.PRUNED:
            kind = "stopped"
        else:
            kind = "failed"
        raw.append((trial, kind, *_recorded_values(trial, metric)))

    # Trials without a finite value (NaN loss, a crash) still get a point, at the worst edge.
    xs = [x for *_, x, _ in raw if x is not None and math.isfinite(x)]
    ys = [y for *_, _, y in raw if y is not None and math.isfinite(y)]
    x_edge = _edge(xs, worst_is_high=directions[0] == "minimize")
    y_edge = _edge(ys, worst_is_high=True)

    points = []
    for trial, kind, x, y in raw:
        at_edge = not (x is not None and math.isfinite(x) and y is not None and math.isfinite(y))
        px = x if x is not None and math.isfinite(x) else x_edge
        py = y if y is not None and math.isfinite(y) else y_edge
        status = trial.user_attrs.get("status") or trial.state.name.lower()
        lines = [f"<b>trial {trial.number}</b> · {_family(trial)} · {status}"]
        lines.append(f"{names[0]} = {_fmt(x)}, {names[1]} = {_fmt(y)}" + (" (no finite value)" if at_edge else ""))
        lines += _config_lines(trial)
        points.append(_ParetoPoint(trial.number, _family(trial), kind, px, py, at_edge, "<br>".join(lines)))

    front = sorted((p for p in points if p.kind == "pareto"), key=lambda p: (p.value, p.number))
    return _ParetoInfo(names[0], directions, points, [p.number for p in front], _families(study))


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
                hoverinfo="skip",
            )
        )
    for family, color in info.colors.items():
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
    best = "higher" if info.directions[0] == "maximize" else "lower"
    edge_note = " · failed runs without a finite value sit at the worst edge" if any(p.at_edge for p in info.points) else ""
    fig.update_layout(
        title=f"Pareto front: {info.metric_name} ({best} is better) against instability (lower is better){edge_note}",
        xaxis_title=info.metric_name,
        yaxis_title="instability",
        legend_title="family (kind)",
        template="plotly_white",
    )
    return fig


def plot_pareto_front(study: optuna.Study) -> go.Figure:
    """The validation metric against instability, every finished trial a point.

    Example:
        >>> fig = plot_pareto_front(open_study("momnas-runs"))   # doctest: +SKIP
    """
    return _pareto_figure(_pareto_info(study))


# ------------------------------------------------------------------------------ hypervolume


class _HypervolumeInfo(NamedTuple):
    numbers: list[int]  # COMPLETE trial numbers in order
    hypervolumes: list[float]  # hypervolume of the front of trials up to and including that one
    reference_point: list[float]  # in the study's own units and directions


def _hypervolume_info(study: optuna.Study) -> _HypervolumeInfo:
    trials = sorted(_complete(study), key=lambda t: t.number)
    if not trials:
        return _HypervolumeInfo([], [], [])
    signs = [-1.0 if d == "maximize" else 1.0 for d in _directions(study)]
    losses = [[s * v for s, v in zip(signs, t.values)] for t in trials]  # everything minimised
    ref = []
    for i in range(len(signs)):
        col = [row[i] for row in losses]
        lo, hi = min(col), max(col)
        ref.append(hi + (0.1 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)))
    volumes = [_hypervolume_2d(losses[: k + 1], ref) for k in range(len(losses))]
    return _HypervolumeInfo([t.number for t in trials], volumes, [s * r for s, r in zip(signs, ref)])


def _hypervolume_2d(points: list[list[float]], ref: list[float]) -> float:
    """Area dominated by `points` (both objectives minimised) and bounded by `ref`."""
    area, best_y = 0.0, ref[1]
    for x, y in sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1]):
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def _hypervolume_figure(info: _HypervolumeInfo) -> go.Figure:
    fig = go.Figure(
        go.Scatter(x=info.numbers, y=info.hypervolumes, mode="lines+markers", name="hypervolume", line={"shape": "hv"})
    )
    ref = ", ".join(_fmt(r) for r in info.reference_point)
    fig.update_layout(
        title=f"Hypervolume of the Pareto front over trials (reference point {ref})" if info.numbers else "Hypervolume: no completed trial yet",
        xaxis_title="trial",
        yaxis_title="hypervolume",
        template="plotly_white",
    )
    return fig


def plot_hypervolume(study: optuna.Study) -> go.Figure:
    """The hypervolume of the front after each completed trial: does the search still improve?"""
    return _hypervolume_figure(_hypervolume_info(study))


# -------------------------------------------------------------------------- gradient profiles


class _GradCurve(NamedTuple):
    number: int
    family: str
    t: list[int]
    norms: list[float]
    log10_first_over_last: float  # ≪ 0: gradients vanish going back in time; ≫ 0: they explode


class _GradProfileInfo(NamedTuple):
    curves: list[_GradCurve]
    colors: dict[str, str]
    missing: list[int]  # Pareto trials that recorded no profile


def _grad_profile_info(study: optuna.Study) -> _GradProfileInfo:
    curves, missing = [], []
    trials = {t.number: t for t in _complete(study)}
    for number in sorted(_pareto_numbers(study)):
        trial = trials[number]
        norms = trial.user_attrs.get("grad_profile")
        if not norms:
            missing.append(number)
            continue
        t = trial.user_attrs.get("grad_profile_t") or list(range(len(norms)))
        # JSON has no inf / nan: the search stores them as None; plotly leaves gaps for nan.
        norms = [float(n) if n is not None else math.nan for n in norms]
        sound = [n for n in norms if math.isfinite(n) and n > 0]
        ratio = math.log10(sound[0] / sound[-1]) if sound else math.nan
        curves.append(_GradCurve(number, _family(trial), list(t), norms, ratio))
    return _GradProfileInfo(curves, _families(study), missing)


def _grad_profile_figure(info: _GradProfileInfo) -> go.Figure:
    fig = go.Figure()
    for c in info.curves:
        fig.add_trace(
            go.Scatter(
                x=c.t,
                y=c.norms,
                mode="lines",
                name=f"trial {c.number} · {c.family} (first/last 10^{c.log10_first_over_last:+.1f})",
                line={"color": info.colors.get(c.family)},
                hovertemplate=f"trial {c.number}<br>t=%{{x}}<br>‖∂L/∂h_t‖=%{{y:.3g}}<extra></extra>",
            )
        )
    title = "Gradient profiles of the Pareto trials: ‖∂L/∂h_t‖ over t (flat = stable, falling towards t=0 = vanishing)"
    if not info.curves:
        title = "Gradient profiles: no Pareto trial recorded one"
    elif info.missing:
        title += f"<br><sup>no profile recorded for trial(s) {', '.join(map(str, info.missing))}</sup>"
    fig.update_layout(title=title, xaxis_title="t", yaxis_title="‖∂L/∂h_t‖", yaxis_type="log", template="plotly_white")
    return fig


def plot_grad_profiles(study: optuna.Study) -> go.Figure:
    """‖∂L/∂h_t‖ against t for every Pareto trial, on a log scale."""
    return _grad_profile_figure(_grad_profile_info(study))


# ------------------------------------------------------------------------------- importances


class _ImportanceInfo(NamedTuple):
    objectives: list[str]
    importances: list[dict[str, float]]  # per objective: param -> importance (sums to 1), largest first
    message: str | None  # why there are none, when there are none


def _importance_info(study: optuna.Study) -> _ImportanceInfo:
    names = _objective_names(study)
    n = len(_complete(study))
    if n < MIN_IMPORTANCE_TRIALS:
        message = (
            f"parameter importances need at least {MIN_IMPORTANCE_TRIALS} completed trials; "
            f"study {study.study_name!r} has {n}: run more trials, then `momnas plot` again"
        )
        return _ImportanceInfo(names, [], message)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # seeded: the same study, the same bars
    importances = []
    try:
        for i in range(len(names)):
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator, target=lambda t, i=i: t.values[i])
            importances.append(dict(sorted(imp.items(), key=lambda kv: -kv[1])))
    except (ValueError, RuntimeError) as exc:
        return _ImportanceInfo(names, [], f"parameter importances unavailable: {exc}")
    if not any(importances):
        message = "no parameter is shared by every completed trial (and varied), so none can be ranked"
        return _ImportanceInfo(names, [], message)
    return _ImportanceInfo(names, importances, None)


def _importance_figure(info: _ImportanceInfo) -> go.Figure:
    if info.message:
        fig = go.Figure()
        fig.add_annotation(text=info.message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(title="Parameter importances", template="plotly_white", xaxis_visible=False, yaxis_visible=False)
        return fig
    fig = make_subplots(rows=1, cols=len(info.objectives), subplot_titles=info.objectives, horizontal_spacing=0.2)
    for col, imp in enumerate(info.importances, start=1):
        params = list(imp)[::-1]  # largest at the top
        fig.add_trace(
            go.Bar(x=[imp[p] for p in params], y=params, orientation="h", name=info.objectives[col - 1], showlegend=False),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="importance (fANOVA)", row=1, col=col)
    fig.update_layout(title="Parameter importances per objective", template="plotly_white")
    return fig


def plot_importances(study: optuna.Study) -> go.Figure:
    """fANOVA importance of each shared parameter, one panel per objective (or why there is none)."""
    return _importance_figure(_importance_info(study))


# ------------------------------------------------------------------- metric against mu and s


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
    name = _objective_names(study)[0]
    by_key: dict[tuple[str, str], list[tuple[float, float, float, int]]] = {}
    for trial in _complete(study):
        cell = (trial.user_attrs.get("run_config") or {}).get("cell") or {}
        for param in MOMENTUM_PARAMS:
            value = cell.get(param, trial.params.get(param))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                by_key.setdefault((_family(trial), param), []).append((float(value), *trial.values, trial.number))
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


# ------------------------------------------------------------------------------------ writing

# File stem -> figure maker; the stem is also the figure's id in the dashboard (overwritten on rerun).
def plot_run_curves(curves: dict, metric: str) -> go.Figure:
    """One run's learning curves and its last gradient profile, from curves.json's data
    (`momnas train` writes it as curves.html beside the run)."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=(
        "loss", f"validation {metric}", "‖∂L/∂h_t‖ (last evaluation)"))
    fig.add_trace(go.Scatter(x=curves["step"], y=curves["train_loss"], name="train loss"), row=1, col=1)
    fig.add_trace(go.Scatter(x=curves["step"], y=curves.get("val_loss", []), name="validation loss"), row=1, col=1)
    fig.add_trace(go.Scatter(x=curves["step"], y=curves.get(f"val_{metric}", []), name=f"validation {metric}"), row=1, col=2)
    profile = curves.get("grad_profile") or []
    fig.add_trace(go.Scatter(x=list(range(1, len(profile) + 1)), y=profile, name="‖∂L/∂h_t‖"), row=1, col=3)
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_xaxes(title_text="step", row=1, col=2)
    fig.update_xaxes(title_text="t", row=1, col=3)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_layout(height=380, width=1200, showlegend=True)
    return fig


_PLOTS = {
    "pareto_front": plot_pareto_front,
    "hypervolume": plot_hypervolume,
    "grad_profiles": plot_grad_profiles,
    "importances": plot_importances,
    "momentum": plot_momentum,
}


def write_plots(study: optuna.Study, out_dir: str | Path, *, attach: bool = True) -> list[Path]:
    """Write every figure of `study` as standalone HTML into `out_dir`, and attach them to the study.

    Example:
        >>> write_plots(open_study("momnas-runs"), "momnas-runs/my-study/plots")  # doctest: +SKIP
        [PosixPath('momnas-runs/my-study/plots/pareto_front.html'), ...]

    Args:
        study: A study written by `momnas search` (the schema of docs/architecture.md).
        out_dir: Folder for the HTML files (created), with one shared `plotly.min.js` beside
            them, so they open offline without carrying 4.6 MB of plotly.js each.
        attach: Also store each figure in the study (optuna-dashboard's
            `save_plotly_graph_object`, id `momnas-<name>`), so the dashboard shows them;
            rerunning replaces them rather than adding copies.

    Returns:
        The paths written, in the order Pareto front, hypervolume, gradient profiles,
        importances, momentum parameters.
    """
    from optuna_dashboard import save_plotly_graph_object

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in _PLOTS.items():
        fig = make(study)
        path = out / f"{name}.html"
        fig.write_html(path, include_plotlyjs="directory", full_html=True)
        paths.append(path)
        if attach:
            save_plotly_graph_object(study, fig, graph_object_id=f"momnas-{name.replace('_', '-')}")
    return paths
