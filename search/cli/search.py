"""`momnas search`, `momnas status` and `momnas confirm`: run a search, summarise a study, confirm its best cells.

Each command parses its options and makes one call into the library; everything printed is
formatted here from what the library returns. `search`'s options are named as the flat config
keys (search._config.FLAT), so the flags given are passed on as they are.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from search._samplers import SAMPLERS
from search._study import STORAGE_ENV
from search.cli._common import EXIT_BY_SIGNAL, console, err_console, fail, quiet_libraries, user_errors

_TASK = "task and target budget"
_STOP = "early stopping and priors"
_WHERE = "where it runs"
_STORE = "where it stores"

Out = Annotated[Path, typer.Option("--out", help="The search's folder; its optuna.db is the storage unless --storage is given.")]
Storage = Annotated[str | None, typer.Option("--storage", envvar=STORAGE_ENV, show_envvar=True, help="Storage URL (sqlite:///..., postgresql+psycopg://..., journal:PATH).")]
Study = Annotated[str | None, typer.Option("--study", help="Study name; optional where the storage holds one study.")]


def search_command(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option("--task", help="adding, copying, digits, pdigits, mnist1d, smnist, psmnist or npz:PATH.", show_default="adding", rich_help_panel=_TASK)] = None,
    T: Annotated[int | None, typer.Option("--T", help="Sequence length (adding, copying).", rich_help_panel=_TASK)] = None,
    n_train: Annotated[int | None, typer.Option("--n-train", help="Training examples.", show_default="the task's", rich_help_panel=_TASK)] = None,
    n_val: Annotated[int | None, typer.Option("--n-val", help="Validation examples, carved from the training data: what the search optimises.", show_default="the task's", rich_help_panel=_TASK)] = None,
    n_test: Annotated[int | None, typer.Option("--n-test", help="Test examples (only reported).", show_default="the task's", rich_help_panel=_TASK)] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="Where MNIST lives.", show_default="$MOMNAS_DATA", rich_help_panel=_TASK)] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="The target budget: the epochs the chosen cell will be trained for. Trials train to it unless stopped early; priors and confirmation always do.", show_default="5", rich_help_panel=_TASK)] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help="Hidden size, unless the space searches it.", show_default="64", rich_help_panel=_TASK)] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate, unless the space searches it.", show_default="0.001", rich_help_panel=_TASK)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size, unless the space searches it.", show_default="128", rich_help_panel=_TASK)] = None,
    optimizer: Annotated[str | None, typer.Option("--optimizer", help="adam, rmsprop or sgd.", show_default="adam", rich_help_panel=_TASK)] = None,
    compile: Annotated[str | None, typer.Option("--compile", help="torch.compile each trial's training steps: off, on, or auto (on the GPU for the families and run lengths where it pays).", show_default="auto", rich_help_panel=_TASK)] = None,
    space: Annotated[str | None, typer.Option("--space", help="paper, momentum, small, full, or a YAML space file.", show_default="momentum")] = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Finished trials wanted in the study (priors included).", show_default="64")] = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help=f"{', '.join(SAMPLERS)}.", show_default=f"{next(iter(SAMPLERS))}, multivariate")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed (repeatable suggestions), also each trial's training seed.")] = None,
    early_stop: Annotated[str | None, typer.Option("--early-stop", help="hyperband: brackets of MO-ASHA whose first rungs lie at grace, grace*eta, ... epochs, plus one that trains every trial to the target; mo-asha: the first bracket only; none; auto: hyperband for 16+ trials of 3+ epochs.", show_default="auto", rich_help_panel=_STOP)] = None,
    grace_epochs: Annotated[int | None, typer.Option("--grace-epochs", help="The earliest rung, in epochs.", show_default="1", rich_help_panel=_STOP)] = None,
    reduction_factor: Annotated[int | None, typer.Option("--reduction-factor", help="eta: rungs eta times apart, the top 1/eta of a rung go on.", show_default="3", rich_help_panel=_STOP)] = None,
    brackets: Annotated[str | None, typer.Option("--brackets", help="How many brackets, the one that trains to the target included (1: none stop early); auto: every first rung below the target.", show_default="auto", rich_help_panel=_STOP)] = None,
    within_family: Annotated[float | None, typer.Option("--within-family", help="Rungs before this fraction of --epochs rank a trial among its own family only, so that no family is wiped out by a faster-starting one.", show_default="0.333", rich_help_panel=_STOP)] = None,
    warm_start: Annotated[str | None, typer.Option("--warm-start", help="paper: the papers' cells for this task first, each trained to the target; study:NAME: an earlier study's Pareto set; none.", show_default="paper for the paper and momentum spaces, else none", rich_help_panel=_STOP)] = None,
    confirm: Annotated[int | None, typer.Option("--confirm", help="At the end, retrain the top K of the Pareto set and the best prior with --confirm-seeds fresh seeds (momnas confirm).", show_default="0, no confirmation", rich_help_panel=_STOP)] = None,
    confirm_seeds: Annotated[int | None, typer.Option("--confirm-seeds", help="Seeds per confirmed cell.", show_default="3", rich_help_panel=_STOP)] = None,
    gpus_per_trial: Annotated[str | None, typer.Option("--gpus-per-trial", help="auto (1/8 of a GPU per trial where there are GPUs, none on a CPU-only machine or cluster) or GPUs per trial; fractions pack trials on a GPU.", show_default="auto", rich_help_panel=_WHERE)] = None,
    cpus_per_trial: Annotated[float | None, typer.Option("--cpus-per-trial", help="CPUs (and torch threads) per trial.", show_default="1", rich_help_panel=_WHERE)] = None,
    max_concurrent: Annotated[int | None, typer.Option("--max-concurrent", help="Trials at once.", show_default="as the resources allow", rich_help_panel=_WHERE)] = None,
    time_budget_s: Annotated[float | None, typer.Option("--time-budget-s", help="Stop the search after this many seconds (trials still running then are stopped, and --resume continues them).", rich_help_panel=_WHERE)] = None,
    mps: Annotated[bool | None, typer.Option("--mps/--no-mps", help="Run trials that share a GPU at once through CUDA MPS (a local search starts and stops its daemon).", show_default="on where trials share a local GPU and the daemon starts", rich_help_panel=_WHERE)] = None,
    address: Annotated[str | None, typer.Option("--address", help="auto, HOST:PORT or ray://HOST:PORT joins a Ray cluster.", show_default="a local Ray", rich_help_panel=_WHERE)] = None,
    out: Annotated[str | None, typer.Option("--out", help="Folder for the study, artifacts and trial files.", show_default="momnas-runs", rich_help_panel=_STORE)] = None,
    storage: Annotated[str | None, typer.Option("--storage", envvar=STORAGE_ENV, show_envvar=True, help="Optuna storage URL (sqlite:///..., postgresql+psycopg://..., journal:PATH).", show_default="OUT/optuna.db", rich_help_panel=_STORE)] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name.", show_default="SPACE-TASK", rich_help_panel=_STORE)] = None,
    resume: Annotated[bool | None, typer.Option("--resume/--no-resume", help="Continue an existing study: finished trials are kept, interrupted ones re-queued.", rich_help_panel=_STORE)] = None,
    log_to: Annotated[list[str] | None, typer.Option("--log-to", help="tensorboard, mlflow or wandb (repeatable): also record every trial's per-epoch curves there, under OUT/STUDY (MLFLOW_TRACKING_URI, WANDB_MODE and WANDB_DIR are followed).", rich_help_panel=_STORE)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A YAML file with any of these options (flags override it).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="A ready-made search: quickstart (a few minutes on a laptop CPU).")] = None,
) -> None:
    """Search cells with Optuna, trials run by Ray; ends with the Pareto set and what to open next."""
    from search import SearchConfig, run_search
    from search.cli._progress import Progress

    flags = {key: value for key, value in ctx.params.items() if key not in ("config", "preset")}
    if isinstance(flags.get("brackets"), str) and flags["brackets"].isdigit():
        flags["brackets"] = int(flags["brackets"])
    quiet_libraries()
    with user_errors():
        search_config = SearchConfig.resolve(preset=preset, file=config, flags=flags)
        with Progress(err_console) as progress:
            outcome = run_search(search_config, listener=progress)
    _summary(outcome, search_config)
    failed = [t for t in outcome.study.trials if t.state.name == "FAIL"]
    from search._record import TrialRecord

    failed = [r for r in map(TrialRecord.of, failed) if not r.interrupted]
    if outcome.stopped_by is not None:
        err_console.print(f"[yellow]{'interrupted' if outcome.stopped_by == 'SIGINT' else 'stopped (SIGTERM)'}: "
                          + _resume_hint(outcome.left_running) + "[/]")
        sys.exit(EXIT_BY_SIGNAL[outcome.stopped_by])
    if failed and not any(r.completed for r in map(TrialRecord.of, outcome.study.trials)):
        raise fail(_why_none_completed(failed), code=1)


def _resume_hint(left: int) -> str:
    from search._search import RESUME_HINT

    return RESUME_HINT.format(left=f"{left} trial(s) left running")


def _summary(outcome, config) -> None:
    """The Pareto set, where everything is, the confirmation, and what to run next."""
    from search import pareto_rows
    from search._study import has_password
    from search.cli._tables import confirmation_lines, pareto_table

    study = outcome.study
    err_console.print(pareto_table(pareto_rows(study), title=f"Pareto set of {study.study_name} "
                                                              f"(best {study.metric_names[0]} against instability)"))
    err_console.print(f"storage:   {outcome.storage}  (study {study.study_name})", highlight=False, soft_wrap=True)
    err_console.print(f"artifacts: {outcome.artifacts}", highlight=False, soft_wrap=True)
    err_console.print(f"trials:    {outcome.trials_dir}", highlight=False, soft_wrap=True)
    if outcome.plots:
        err_console.print(f"plots:     {outcome.plots[0].parent.resolve()}  (also attached to the study for the dashboard)",
                          highlight=False, soft_wrap=True)
    if outcome.confirmed is not None:
        for line in confirmation_lines(outcome.confirmed):
            err_console.print(line, highlight=False, soft_wrap=True)
    if outcome.budget_spent and outcome.left_running:
        err_console.print(f"[yellow]time budget of {config.resources.time_budget_s:g} s spent: "
                          + _resume_hint(outcome.left_running) + "[/]")
    momnas = momnas_command()
    flags = f"--out {config.store.out}" + _storage_flag(config.store.storage) + f" --study {study.study_name}"
    hints = [(f"{momnas} plot {flags}", "Pareto front, learning curves, gradient profiles, ..."),
             (f"{momnas} dashboard {flags}", "live Optuna dashboard")]
    if outcome.plots:  # nothing to export or confirm before a trial completed
        if outcome.confirmed is None:
            hints.append((f"{momnas} confirm {flags} --top 3 --seeds 3", "retrain the best cells with fresh seeds"))
        hints.append((f"{momnas} export {flags}", "the picked cell as best.json + weights"))
    err_console.print("\n".join(f"{'next:' if i == 0 else '     '} {command}   ({what})" for i, (command, what) in enumerate(hints)),
                      soft_wrap=True, highlight=False)
    if has_password(config.store.storage) and os.environ.get(STORAGE_ENV) != config.store.storage:
        err_console.print(f"      (the storage's password is not shown: pass the real URL with --storage, or set {STORAGE_ENV} to it)")


def _storage_flag(storage: str | None) -> str:
    """` --storage URL` for the `next:` hints: masked, and left out when MOMNAS_STORAGE supplies it."""
    from search._study import public_url

    if not storage or os.environ.get(STORAGE_ENV) == storage:
        return ""
    return f" --storage {public_url(storage)}"


def momnas_command() -> str:
    """How to call momnas again in this shell: `momnas` when it is on the PATH, else the path this
    process was started by (`.venv/bin/momnas` after `make quickstart` without an activated venv)."""
    started_as = Path(sys.argv[0])
    found = shutil.which("momnas")
    if started_as.name != "momnas" or (found and Path(found).resolve() == started_as.resolve()):
        return "momnas"
    relative = os.path.relpath(started_as)
    return relative if not relative.startswith("..") else str(started_as.resolve())


def _why_none_completed(failed: list) -> str:
    """One line on a search none of whose trials completed: how they ended, the first error, what to try."""
    from search.cli._progress import shorten

    statuses: dict[str, int] = {}
    for r in failed:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
    if set(statuses) == {"diverged"}:
        return (f"no trial completed ({counts}): every trial's loss or gradients blew up; "
                "try a smaller --lr, or a space with narrower ranges (a --config file's `clip:` caps the gradient norm)")
    first = next((r for r in failed if r.error), failed[0])
    return f"no trial completed ({counts}); trial {first.number}: {shorten(first.error or first.status)}"


def status_command(out: Out = Path("momnas-runs"), storage: Storage = None, study: Study = None) -> None:
    """Summarise a study: its target, trials by state and family, priors, rung-to-target rank correlation, Pareto set, confirmation."""
    from search import open_study, status_info
    from search.cli._tables import render_status

    with user_errors():
        info = status_info(open_study(out, storage, study))
    render_status(info, console)


def confirm_command(
    out: Out = Path("momnas-runs"),
    storage: Storage = None,
    study: Study = None,
    top: Annotated[int, typer.Option("--top", help="How many of the Pareto set (best validation metric first) to retrain.")] = 3,
    seeds: Annotated[int, typer.Option("--seeds", help="Fresh training seeds per cell.")] = 3,
    priors: Annotated[str, typer.Option("--priors", help="best: also the best prior (the papers' cell to beat); all; none.")] = "best",
    gpus_per_run: Annotated[str, typer.Option("--gpus-per-run", help="auto (packed as a search's trials) or GPUs per run.")] = "auto",
    cpus_per_run: Annotated[float, typer.Option("--cpus-per-run", help="CPUs (and torch threads) per run.")] = 1.0,
    address: Annotated[str | None, typer.Option("--address", help="auto, HOST:PORT or ray://HOST:PORT joins a Ray cluster.", show_default="a local Ray")] = None,
) -> None:
    """Retrain a study's best cells and its best prior with fresh seeds at the target budget (resumable); say which is better beyond the seed spread."""
    from search import open_study
    from search._config import Resources
    from search.cli._progress import Progress
    from search.cli._tables import confirmation_lines
    from search.confirm import confirm_study

    quiet_libraries()
    with user_errors():
        found = open_study(out, storage, study)
        resources = Resources(gpus_per_trial=gpus_per_run, cpus_per_trial=cpus_per_run, address=address)
        with Progress(err_console) as progress:
            confirmation = confirm_study(found, top=top, seeds=seeds, out_dir=out, resources=resources, listener=progress,
                                         priors=priors)
        from search.plots import write_plots

        write_plots(found, out / found.study_name / "plots")
    for line in confirmation_lines(confirmation):
        console.print(line, highlight=False, soft_wrap=True)
