"""The confirmation (search.confirm): each confirmed cell's objectives over its fresh seeds, mean ±
std with one dot per seed, the best prior marked, and whether the best cell beats it."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from search.confirm import Confirmation, stored
from search.plots._study_data import family_color


class _ConfirmationInfo(NamedTuple):
    confirmation: Confirmation | None
    verdict: str                 # the best cell against the best prior, in words ("" without either)


def _confirmation_info(study: optuna.Study) -> _ConfirmationInfo:
    confirmation = stored(study)
    if confirmation is None:
        return _ConfirmationInfo(None, "")
    best, base = confirmation.best(), confirmation.best_prior
    verdict = confirmation.verdict(best) if best is not None else None
    words = "" if verdict is None else f"{best.label} better than the best prior, {base.label}, beyond the seed spread: {verdict.answer}"
    return _ConfirmationInfo(confirmation, words)


def _confirmation_figure(info: _ConfirmationInfo) -> go.Figure:
    c = info.confirmation
    if c is None:
        fig = go.Figure()
        fig.update_layout(title="Confirmation: none yet (momnas confirm retrains the best cells with fresh seeds)",
                          template="plotly_white")
        return fig
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=[f"{c.metric_names[0]} ({'higher' if c.maximize else 'lower'} is better)",
                                        f"{c.metric_names[1]} (lower is better)"])
    base = c.best_prior
    labels = [cell.label + (" ★" if cell is base else "") for cell in c.cells]
    for k in range(2):
        for cell, label in zip(c.cells, labels):
            color = family_color(cell.family)
            seeds = [v[k] for v in cell.values]
            fig.add_trace(go.Scatter(
                x=seeds, y=[label] * len(seeds), mode="markers", showlegend=False, marker={"size": 7, "color": color, "opacity": 0.6},
                text=[f"seed {s}" for s in cell.seeds], hovertemplate="%{text}: %{x:.4g}<extra></extra>"), row=1, col=k + 1)
            if cell.finite(k):
                fig.add_trace(go.Scatter(
                    x=[cell.mean(k)], y=[label], mode="markers", showlegend=False,
                    marker={"size": 13, "symbol": "line-ns-open", "color": color, "line": {"width": 3}},
                    error_x={"type": "data", "array": [cell.std(k)], "thickness": 2, "width": 6},
                    hovertemplate=f"mean %{{x:.4g}} ± {cell.std(k):.2g} (n = {len(cell.finite(k))})<extra></extra>"),
                    row=1, col=k + 1)
    subtitle = info.verdict or "no prior confirmed: nothing to compare against"
    fig.update_layout(
        title=(f"Confirmation at the target of {c.target_epochs} epochs: mean ± std over fresh seeds, a dot per seed"
               f"<br><sup>★ the best prior; {subtitle}</sup>"),
        template="plotly_white", height=max(320, 120 + 45 * len(c.cells)))
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    return fig


def plot_confirmation(study: optuna.Study) -> go.Figure:
    """Each confirmed cell's objectives over its fresh seeds (mean ± std, a dot per seed), the best prior marked."""
    return _confirmation_figure(_confirmation_info(study))
