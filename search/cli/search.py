"""`momnas search` and `momnas status`: run a search into a study, summarise a stored study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from search._samplers import SAMPLERS
from search._study import STORAGE_ENV
from search.cli._common import console, err_console, fail, user_errors

_TASK = "task and training budget"
_WHERE = "where it runs"
_STORE = "where it stores"


def search_command(
    task: Annotated[str | None, typer.Option("--task", help="adding, copying, digits, pdigits, mnist1d, smnist, psmnist or npz:PATH (default: adding)", rich_help_panel=_TASK)] = None,
    T: Annotated[int | None, typer.Option("--T", help="Sequence length (adding, copying).", rich_help_panel=_TASK)] = None,
    n_train: Annotated[int | None, typer.Option("--n-train", help="Training examples (default: the task's).", rich_help_panel=_TASK)] = None,
    n_val: Annotated[int | None, typer.Option("--n-val", rich_help_panel=_TASK)] = None,
    n_test: Annotated[int | None, typer.Option("--n-test", rich_help_panel=_TASK)] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="Where MNIST lives.", rich_help_panel=_TASK)] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs per trial (default: 5).", rich_help_panel=_TASK)] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help="Hidden size, unless the space searches it (default: 64).", rich_help_panel=_TASK)] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate, unless the space searches it (default: 1e-3).", rich_help_panel=_TASK)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="(default: 128)", rich_help_panel=_TASK)] = None,
    optimizer: Annotated[str | None, typer.Option("--optimizer", help="adam, rmsprop or sgd (default: adam).", rich_help_panel=_TASK)] = None,
    space: Annotated[str | None, typer.Option("--space", help="paper, momentum, small, full, or a YAML space file (default: momentum).")] = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Finished trials wanted in the study (default: 64).")] = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help=f"{', '.join(SAMPLERS)} (default: {next(iter(SAMPLERS))}, multivariate).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed (repeatable suggestions).")] = None,
    early_stop: Annotated[str | None, typer.Option("--early-stop", help="mo-asha stops trials that rank low on both objectives at a rung; none; auto: mo-asha for 16+ trials of 3+ epochs (default: auto).", rich_help_panel=_TASK)] = None,
    grace_epochs: Annotated[int | None, typer.Option("--grace-epochs", help="MO-ASHA's first rung, in epochs (default: 1).", rich_help_panel=_TASK)] = None,
    reduction_factor: Annotated[int | None, typer.Option("--reduction-factor", help="MO-ASHA's eta: rungs at grace*eta^k epochs, the top 1/eta go on (default: 3).", rich_help_panel=_TASK)] = None,
    compile: Annotated[str | None, typer.Option("--compile", help="torch.compile each trial's training steps: off, on, or auto (default: on the GPU for the families and run lengths where it pays).", rich_help_panel=_TASK)] = None,
    gpus_per_trial: Annotated[str | None, typer.Option("--gpus-per-trial", help="auto (a share per family where there are GPUs, measured on an H200: 1/8 for every family; none on a CPU-only machine or cluster) or GPUs per trial, fractions pack trials on a GPU (default: auto).", rich_help_panel=_WHERE)] = None,
    cpus_per_trial: Annotated[float | None, typer.Option("--cpus-per-trial", help="(default: 1)", rich_help_panel=_WHERE)] = None,
    max_concurrent: Annotated[int | None, typer.Option("--max-concurrent", help="Trials at once (default: as resources allow).", rich_help_panel=_WHERE)] = None,
    time_budget_s: Annotated[float | None, typer.Option("--time-budget-s", help="Stop the search after this many seconds (trials still running then are stopped).", rich_help_panel=_WHERE)] = None,
    mps: Annotated[bool | None, typer.Option("--mps/--no-mps", help="Run trials that share a GPU at once through CUDA MPS (a local search starts and stops its daemon); default: on where trials share a local GPU and the daemon starts.", rich_help_panel=_WHERE)] = None,
    address: Annotated[str | None, typer.Option("--address", help="auto or ray://HOST:PORT joins a Ray cluster; default starts a local one.", rich_help_panel=_WHERE)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the study, artifacts and trial files (default: momnas-runs).", rich_help_panel=_STORE)] = None,
    storage: Annotated[str | None, typer.Option("--storage", envvar=STORAGE_ENV, show_envvar=True, help="Optuna storage URL (sqlite:///..., postgresql+psycopg://..., journal:PATH) (default: OUT/optuna.db).", rich_help_panel=_STORE)] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name (default: SPACE-TASK).", rich_help_panel=_STORE)] = None,
    resume: Annotated[bool | None, typer.Option("--resume/--no-resume", help="Continue an existing study: finished trials are kept, interrupted ones re-queued.", rich_help_panel=_STORE)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file with any of these options (flags override it).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="A ready-made search: quickstart (a few minutes on a laptop CPU).")] = None,
) -> None:
    """Search cells with Optuna, trials run by Ray; ends with the Pareto set and what to open next."""
    from optuna.trial import TrialState

    from search import SearchConfig, run_search

    flags = dict(
        task=task, T=T, n_train=n_train, n_val=n_val, n_test=n_test, data_dir=data_dir, epochs=epochs,
        hidden=hidden, lr=lr, batch_size=batch_size, optimizer=optimizer, space=space, trials=trials,
        sampler=sampler, seed=seed, early_stop=early_stop, grace_epochs=grace_epochs,
        reduction_factor=reduction_factor, compile=compile, gpus_per_trial=gpus_per_trial, cpus_per_trial=cpus_per_trial,
        max_concurrent=max_concurrent, time_budget_s=time_budget_s, mps=mps, address=address, out=None if out is None else str(out),
        storage=storage, study=study, resume=resume,
    )
    with user_errors():
        study = run_search(SearchConfig.resolve(preset=preset, file=config, overrides=flags), console=err_console)
    failed = [t for t in study.trials if t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")]
    if failed and not any(t.state == TrialState.COMPLETE for t in study.trials):
        raise fail(_why_none_completed(failed), code=1)


def _why_none_completed(failed: list) -> str:
    """One line on a search none of whose trials completed: how they ended, the first error, what to try."""
    statuses: dict[str, int] = {}
    for t in failed:
        status = t.user_attrs.get("status", "failed")
        statuses[status] = statuses.get(status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
    if set(statuses) == {"diverged"}:
        return (f"no trial completed ({counts}): every trial's loss or gradients blew up; "
                "try a smaller --lr, or a space with narrower ranges (a --config file's `clip:` caps the gradient norm)")
    first = next((t for t in failed if t.user_attrs.get("error")), failed[0])
    error = (first.user_attrs.get("error") or first.user_attrs.get("status", "failed")).splitlines()[0]
    return f"no trial completed ({counts}); trial {first.number}: {error}"


def status_command(
    out: Annotated[Path, typer.Option("--out", help="The search's folder; its optuna.db is the storage unless --storage is given.")] = Path("momnas-runs"),
    storage: Annotated[str | None, typer.Option("--storage", envvar=STORAGE_ENV, show_envvar=True, help="Storage URL (sqlite:///..., postgresql+psycopg://..., journal:PATH).")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name; optional where the storage holds one study.")] = None,
) -> None:
    """Summarise a study: trials by state and family, the best ones, the Pareto set."""
    from search import show_status

    with user_errors():
        show_status(out_dir=str(out), storage=storage, study=study, console=console)
