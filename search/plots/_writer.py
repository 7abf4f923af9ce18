"""Every study figure as standalone HTML, attached to the study for optuna-dashboard.

Each file (every HTML and the shared plotly.min.js) is written under a temporary name beside
it and renamed into place: a full disk or a crash leaves the file whole or absent, never cut.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import optuna
import plotly.graph_objects as go
import plotly.offline

from cells.io import atomic_write

from search.plots._confirmation import plot_confirmation
from search.plots._fidelity import plot_fidelity
from search.plots._grad_profiles import plot_grad_profiles
from search.plots._hypervolume import plot_hypervolume
from search.plots._importances import plot_importances
from search.plots._learning_curves import plot_learning_curves
from search.plots._momentum import plot_momentum
from search.plots._pareto_front import plot_pareto_front

# File stem -> figure maker; the stem is also the figure's id in the dashboard (overwritten on rerun).
_PLOTS = {
    "pareto_front": plot_pareto_front,
    "hypervolume": plot_hypervolume,
    "grad_profiles": plot_grad_profiles,
    "importances": plot_importances,
    "momentum": plot_momentum,
    "learning_curves": plot_learning_curves,
    "fidelity": plot_fidelity,
    "confirmation": plot_confirmation,
}

# optuna-dashboard draws an attached figure in a 450 px high card half the page wide: the copy it
# gets fills that card (no fixed width, tighter margins) so that titles and legends stay inside.
_DASHBOARD_LAYOUT = {
    "height": 450,
    "width": None,
    "autosize": True,
    "margin": {"l": 55, "r": 15, "b": 45},
    "title": {"font": {"size": 14}},
}


PLOTLY_JS = "plotly.min.js"


def _for_dashboard(fig: go.Figure) -> go.Figure:
    """The card's copy of `fig`: the top margin holds the title's lines (a subtitle may have two), no more."""
    lines = (fig.layout.title.text or "").count("<br>") + 1
    return go.Figure(fig).update_layout(_DASHBOARD_LAYOUT, margin_t=40 + 20 * lines)


def _page(fig: go.Figure, study_name: str) -> str:
    """The figure as a standalone page titled by the figure's first title line and the study,
    loading plotly.min.js from beside it."""
    heading = re.sub(r"<[^>]+>", "", (fig.layout.title.text or "").split("<br>")[0]).strip()
    title = html.escape(f"{heading} · study {study_name}" if heading else f"study {study_name}")
    page = fig.to_html(include_plotlyjs="directory", full_html=True)
    return page.replace("</head>", f"<title>{title}</title>\n</head>", 1)


def _write_plotly_js(out: Path) -> None:
    """plotly.js beside the pages, rewritten where it is not this plotly's (another version, or cut)."""
    js = plotly.offline.get_plotlyjs()
    path = out / PLOTLY_JS
    if not path.is_file() or path.read_text(encoding="utf-8", errors="replace") != js:
        _write_text(path, js)


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_plots(study: optuna.Study, out_dir: str | Path, *, attach: bool = True) -> list[Path]:
    """Write every figure of `study` as standalone HTML into `out_dir`, and attach them to the study.

    Example:
        >>> from search import open_study
        >>> write_plots(open_study("momnas-runs"), "momnas-runs/my-study/plots")
        [PosixPath('momnas-runs/my-study/plots/pareto_front.html'), ...]

    Args:
        study: A study written by `momnas search` (the schema of docs/architecture.md).
        out_dir: Folder for the HTML files (created), with one shared `plotly.min.js` beside
            them, so they open offline without carrying 4.6 MB of plotly.js each. Each file is
            replaced whole or not at all (a temporary beside it, then a rename).
        attach: Also store each figure in the study (optuna-dashboard's
            `save_plotly_graph_object`, id `momnas-<name>`), so the dashboard shows them;
            rerunning replaces them rather than adding copies.

    Returns:
        The paths written, in the order Pareto front, hypervolume, gradient profiles,
        importances, momentum parameters, learning curves, rung-to-target fidelity, confirmation.
    """
    from optuna_dashboard import save_plotly_graph_object

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_plotly_js(out)  # first: a page is never there without the script it loads
    paths = []
    for name, make in _PLOTS.items():
        fig = make(study)
        path = out / f"{name}.html"
        _write_text(path, _page(fig, study.study_name))
        paths.append(path)
        if attach:
            save_plotly_graph_object(study, _for_dashboard(fig), graph_object_id=f"momnas-{name.replace('_', '-')}")
    return paths
