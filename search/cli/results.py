"""`momnas plot`, `momnas dashboard`, `momnas export`: reading a study that `momnas search` stored."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from search._paths import file_in_the_way
from search._study import STORAGE_ENV
from search.cli._common import console, err_console, fail, user_errors
from search.errors import BadInput

# The same three options as `momnas search`, so a study is found the way it was stored.
Out = Annotated[Path, typer.Option("--out", help="The search's folder; its optuna.db is the storage unless --storage is given.")]
Storage = Annotated[str | None, typer.Option("--storage", envvar=STORAGE_ENV, show_envvar=True, help="Storage URL (sqlite:///..., postgresql+psycopg://..., journal:PATH).")]
Study = Annotated[str | None, typer.Option("--study", help="Study name; optional where the storage holds one study.")]
DEFAULT_OUT = Path("momnas-runs")


def plot_command(
    out: Out = DEFAULT_OUT,
    storage: Storage = None,
    study: Study = None,
    to: Annotated[Path | None, typer.Option("--to", help="Folder for the HTML files.", show_default="OUT/STUDY/plots")] = None,
    attach: Annotated[bool, typer.Option(help="Also store the figures in the study, for `momnas dashboard`.")] = True,
) -> None:
    """Write the study's figures as HTML: Pareto front, hypervolume, gradient profiles, importances, mu/s, learning curves,
    rung-to-target fidelity, confirmation."""
    from search import open_study
    from search.plots import write_plots

    with user_errors():
        found = open_study(out, storage, study)
        folder = to or out / found.study_name / "plots"
        _check_folder(folder, "--to" if to else "--out")
        paths = write_plots(found, folder, attach=attach)
    for path in paths:
        console.print(str(path), highlight=False, soft_wrap=True)


def _check_folder(folder: Path, flag: str) -> None:
    """A folder to write into: refused (before anything is drawn) when it, or a parent, is a file."""
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{flag} {folder} is a file; name a folder for the plots")
    blocker = None if folder.exists() else file_in_the_way(folder)
    if blocker is not None:
        raise BadInput(f"{flag} {folder} lies under {blocker}, a file; name a folder for the plots")


def dashboard_command(
    out: Out = DEFAULT_OUT,
    storage: Storage = None,
    study: Study = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; the dashboard can delete studies, so keep it local.")] = "127.0.0.1",
) -> None:
    """Serve optuna-dashboard over the study's storage and artifacts; prints its URL, stops on Ctrl-C."""
    from search.dashboard import serve_dashboard

    # The dashboard computes the study's parameter importances at every refresh; with few trials
    # per branch of a conditional space Optuna warns each time, which would flood the terminal.
    warnings.filterwarnings("ignore", message="Some regimes for parameter", category=UserWarning)

    def ready(dashboard) -> None:
        console.print(f"optuna-dashboard for study {dashboard.study_name!r}: {dashboard.url}", highlight=False, soft_wrap=True)
        err_console.print("Ctrl-C stops it.", highlight=False)

    with user_errors():
        try:
            serve_dashboard(out, storage, study, host=host, port=port, on_ready=ready)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise fail(str(exc)) from None


def export_command(
    out: Out = DEFAULT_OUT,
    storage: Storage = None,
    study: Study = None,
    pick: Annotated[str, typer.Option("--pick", help="auto (confirmed where `momnas confirm` ran, else knee) | confirmed (best mean over the fresh seeds) | knee (the Pareto trial nearest the ideal point) | best:OBJECTIVE (e.g. best:instability) | trial:N.")] = "auto",
    to: Annotated[Path | None, typer.Option("--to", help="The JSON file to write.", show_default="OUT/STUDY/best.json")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, or torch-export to also write a torch.export program (.pt2).")] = "json",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier export at --to (else it is refused).")] = False,
) -> None:
    """Export one trial's cell, training configuration, metrics and weights as a run file (best.json)."""
    from search import open_study, storage_url
    from search.export import export_trial

    with user_errors():
        found = open_study(out, storage, study)
        done = export_trial(found, to or out / found.study_name / "best.json", pick=pick, fmt=fmt, storage=storage_url(out, storage),
                            overwrite=overwrite, out_dir=out)
    console.print(f"trial {done.trial} ({done.pick}) -> {done.path}", highlight=False, soft_wrap=True)
    if done.why:
        err_console.print(f"{done.pick}: {done.why}", highlight=False, soft_wrap=True)
    if done.weights is not None:
        console.print(f"weights: {done.weights}", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"trial {done.trial} kept no checkpoint: `momnas train {done.path}` retrains it", highlight=False, soft_wrap=True)
    if done.program is not None:
        console.print(f"torch.export program: {done.program} (max difference to the model {done.max_abs_diff:.2g})", highlight=False, soft_wrap=True)
