"""One run's learning curves and its last gradient profile (`momnas train` writes curves.html)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from search.plots._axes import decade_axis


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
    fig.update_yaxes(decade_axis(profile), row=1, col=3)
    fig.update_layout(height=380, width=1200, showlegend=True)
    return fig
