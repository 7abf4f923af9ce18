"""Parameter importances per objective (fANOVA), or why there are none."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from search.plots._study_data import complete_trials, objective_names

# fANOVA on fewer trials than this explains noise, not the space.
MIN_IMPORTANCE_TRIALS = 4
# fANOVA's forest, smaller than Optuna's default (64 trees of depth up to 64): Optuna walks
# every tree in Python, and the default took 11.8 s of a search's close for a 64-trial study
# on a laptop CPU (a 64-trial study; docs/benchmarks.md), against 0.6 s for 16 trees of depth 8,
# whose importances were within 0.03 of the default's.
FOREST = {"n_trees": 16, "max_depth": 8}


class _ImportanceInfo(NamedTuple):
    objectives: list[str]
    importances: list[dict[str, float]]  # per objective: param -> importance (sums to 1), largest first
    message: str | None  # why there are none, when there are none


def _importance_info(study: optuna.Study) -> _ImportanceInfo:
    names = objective_names(study)
    n = len(complete_trials(study))
    if n < MIN_IMPORTANCE_TRIALS:
        message = (
            f"parameter importances need at least {MIN_IMPORTANCE_TRIALS} completed trials; "
            f"study {study.study_name!r} has {n}: run more trials, then `momnas plot` again"
        )
        return _ImportanceInfo(names, [], message)
    evaluator = optuna.importance.FanovaImportanceEvaluator(**FOREST, seed=0)  # seeded: the same study, the same bars
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
