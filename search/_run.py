"""run_search: one search, from a SearchConfig to a finished Optuna study."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console

import spaces
from search import _record
from search._config import SearchConfig
from search._mps import mps_for_search
from search._progress import Progress
from search._resources import AUTO, packs_several
from search._samplers import make_sampler
from search._study import ARTIFACT_DIR, DB_NAME, STORAGE_ENV, artifact_store, has_password, make_storage, open_study, public_url, storage_url
from search._summary import pareto_table, render_status, status_info

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that count towards `--trials`: finished, not interrupted ones."""
    return [t for t in study.get_trials(deepcopy=False, states=FINISHED) if not t.user_attrs.get("interrupted")]


def recover_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Mark trials an interrupted search left RUNNING as FAIL (`interrupted`) and re-enqueue
    their parameters, so the next search runs them again. `storage` is the study's. Returns
    their numbers."""
    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        _record.requeue(study, storage, t.number, t.params, status="interrupted")
        numbers.append(t.number)
    return numbers


@dataclasses.dataclass(frozen=True)
class TrialSpace:
    """The define-by-run function the searcher calls: the space's suggestion laid over the
    search's defaults, as the trial's full run config. Suggests and returns; trains nothing.
    (A class, not a closure: Tune pickles the searcher that holds it; so `config` holds the
    storage URL with its password masked.)"""

    config: SearchConfig
    space: spaces.Space
    input_size: int
    trials_dir: str
    objectives: list[str]

    def train_defaults(self) -> dict[str, Any]:
        c = self.config
        return {
            "epochs": c.epochs, "lr": c.lr, "batch_size": c.batch_size, "optimizer": c.optimizer, "seed": c.seed or 0,
            **({"compile": c.compile} if c.compile != "off" else {}),
            # A trial without a GPU of its own must not take one that Ray gave to another (with
            # `auto` the trial itself decides: search._resources.trial_device).
            "device": "cpu" if c.gpus_per_trial == 0 else "auto",
            **({"clip": c.clip} if c.clip is not None else {}),
            **c.train,
        }

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        drawn = self.space(trial)
        run_config = {
            "cell": {"input_size": self.input_size, "hidden_size": self.config.hidden, **drawn["cell"]},
            "task": self.config.task_dict(),
            "train": {**self.train_defaults(), **drawn["train"]},
        }
        trial.set_user_attr("run_config", run_config)
        trial.set_user_attr("family", spaces.family_name(drawn["cell"]["dynamics"], drawn["cell"]["core"]))
        return {
            _record.RUN_KEY: run_config,
            _record.TRIAL_DIR_KEY: str(Path(self.trials_dir) / f"{trial.number:05d}"),
            _record.THREADS_KEY: max(1, int(self.config.cpus_per_trial)),
            _record.OBJECTIVES_KEY: self.objectives,
        }


def _check_same_search(study: optuna.Study, config: SearchConfig, directions: list[str], space: spaces.Space | None = None) -> None:
    stored_space = study.user_attrs.get("space_spec")
    if space is not None and stored_space is not None:
        def canonical(data: Any) -> str:
            return json.dumps(json.loads(json.dumps(data)), sort_keys=True)
        if canonical(stored_space) != canonical(space.to_data()):
            # Optuna cannot sample a parameter whose choices changed ("CategoricalDistribution does
            # not support dynamic value space"), and every new trial would fail after Ray started.
            raise ValueError(
                f"study {study.study_name!r} was made with space {study.user_attrs.get('space', '?')!r}, and this search "
                f"asks for {space.name!r} with other families or ranges; resume with the study's --space, or pick another --study"
            )
    stored = study.user_attrs.get("task")
    if stored is not None and stored != config.task_dict():
        raise ValueError(
            f"study {study.study_name!r} was made for task {json.dumps(stored)}, this search asks for "
            f"{json.dumps(config.task_dict())}; pick another --study"
        )
    if [d.name.lower() for d in study.directions] != directions:
        raise ValueError(f"study {study.study_name!r} optimises {study.directions}, not {directions}; pick another --study")


def _check_train(config: SearchConfig, space: spaces.Space, input_size: int) -> None:
    """Each trial's training options (optimizer, lr, `train:` ...) are checked once, here, rather
    than failing every trial the same way."""
    import runs

    defaults = TrialSpace(config, space, input_size, "", []).train_defaults()
    try:
        runs.TrainConfig.from_dict(defaults)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"search: {exc}") from None


def _check_resources(config: SearchConfig) -> None:
    """A local Ray with fewer CPUs or GPUs than one trial asks for would wait forever: refuse now.
    (On a cluster, --address, the resources are known only once Ray has joined it: see
    search._cluster.check_fits.)"""
    if config.address is not None:
        return
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if config.cpus_per_trial > cpus:
        raise ValueError(
            f"--cpus-per-trial {config.cpus_per_trial:g} is more than the {cpus} CPU(s) of this machine, so no trial "
            f"could ever start; ask for at most {cpus}, or join a cluster with --address"
        )
    import torch

    gpus = torch.cuda.device_count()
    if config.mps == "on" and gpus == 0:
        raise ValueError("--mps runs trials that share a GPU at once, and this machine has no GPU that torch can use; "
                         "leave out --mps")
    if config.gpus_per_trial != AUTO and config.gpus_per_trial > gpus:
        have = "no GPU" if gpus == 0 else f"{gpus} GPU(s)"
        raise ValueError(
            f"--gpus-per-trial {config.gpus_per_trial:g} but this machine has {have} that torch can use, so no trial "
            f"could ever start; " + ("leave out --gpus-per-trial to train on the CPU" if gpus == 0 else f"ask for at most {gpus}")
            + ", or join a GPU cluster with --address"
        )


def run_search(config: SearchConfig, *, console: Console | None = None) -> optuna.Study:
    """Run a search and return its study.

    Creates (or, with `resume`, continues) the study in `config.storage` (default SQLite in
    `config.out`), runs the missing trials through Ray Tune with live progress, and ends
    with the Pareto set and the paths it wrote.

    Example:
        >>> from search import SearchConfig, run_search
        >>> config = SearchConfig(task="adding", T=20, n_train=64, n_val=32, n_test=32, space="small",
        ...                       trials=2, epochs=1, hidden=8, seed=0, out="searched")
        >>> study = run_search(config)            # progress and the Pareto set go to stderr
        >>> [t.state.name for t in study.trials]
        ['COMPLETE', 'COMPLETE']

    Raises:
        SearchInterrupted: Ctrl-C stopped it (a KeyboardInterrupt, raised after the summary says
            which trials were left running; `resume=True` re-queues them).
    """
    from search._cluster import prefer_token_mode

    prefer_token_mode(config.address)  # before anything imports ray, which reads it then
    import torch

    import runs  # torch: only when a search runs, so that reading studies stays light

    console = console or Console(stderr=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Check everything the user gave before starting Ray: task, space, storage.
    task = runs.load_task(runs.TaskConfig.from_dict(config.task_dict()))
    space = spaces.get_space(config.space)
    _check_train(config, space, task.input_size)
    _check_resources(config)
    out = Path(config.out)
    for folder in (out, *out.parents):  # trials, artifacts and plots go here: a file in the way fails now
        if folder.exists():
            if not folder.is_dir():
                where = "is a file" if folder == out else f"lies under {folder}, a file"
                raise ValueError(f"search: --out {out} {where}; name a folder for the study's files")
            break
    url = storage_url(out, config.storage)
    new_files = [p for p in (out, out / DB_NAME, out / f".{DB_NAME}.lock", out / ARTIFACT_DIR) if not p.exists()]
    storage = make_storage(url)
    name = config.study_name
    directions = [task.direction, "minimize"]

    existing = set(optuna.get_all_study_names(storage=storage))
    n_before = 0
    if name in existing:
        earlier = optuna.load_study(study_name=name, storage=storage)
        n_before = len(earlier.get_trials(deepcopy=False))
        if not config.resume:
            raise FileExistsError(
                f"study {name!r} already exists in {public_url(url)} ({len(finished_trials(earlier))} finished trials): "
                "add --resume to continue it, or give another --study"
            )
    # A resumed search with a seed must not replay the first search's random draws.
    sampler = make_sampler(config.sampler, None if config.seed is None else config.seed + n_before)
    study = optuna.create_study(
        storage=storage, study_name=name, directions=directions, sampler=sampler, load_if_exists=True
    )
    store = artifact_store(out.resolve())  # absolute: through Ray Client the searcher writes it from the head
    if name in existing:
        _check_same_search(study, config, directions, space)
        requeued = recover_interrupted(study, storage)
        if requeued:
            console.print(
                f"resume: {len(requeued)} trial(s) left running by an interrupted search "
                f"({', '.join(map(str, requeued))}) marked FAIL (interrupted) and re-queued with the same parameters"
            )
    else:
        study.set_metric_names(_record.objective_names(task.metric))
        for key, value in {
            "task": config.task_dict(), "metric": task.metric, "direction": task.direction,
            "space": space.name, "space_spec": space.to_data(),
            "artifact_dir": str((out / ARTIFACT_DIR).resolve()),
            "search_config": {**config.to_dict(), "storage": public_url(config.storage)},  # served by the dashboard
        }.items():
            study.set_user_attr(key, value)

    done = len(finished_trials(study))
    todo = config.trials - done
    trials_dir = out / "trials" / name
    console.print(
        f"[bold]momnas search[/] study {name}: task {task.name}, space {space.name} ({len(space.families)} families), "
        f"{config.sampler} sampler, {done} trials done, {max(todo, 0)} to run"
    )
    if todo > 0:
        from search import _tune  # Ray only now: reading and checking stay light

        from search._storage_ref import StorageRef
        from search.mo_asha import MOASHA

        early_stop, why = config.early_stopping()
        console.print(f"early stopping: {why}")
        scheduler = None
        if early_stop == "mo-asha":
            scheduler = MOASHA(
                metrics=_record.objective_names(task.metric),
                modes=["max" if d == "maximize" else "min" for d in directions],
                max_epochs=config.epochs, grace=config.grace_epochs, eta=config.reduction_factor,
            )
        masked = config.replace(storage=public_url(config.storage))  # pickled with the searcher: no password
        progress = Progress(total=config.trials, done=done, metric=task.metric, direction=task.direction, console=console)
        # MPS where trials share a local GPU (auto: if its daemon starts); Ray starts after it.
        wants_mps = config.address is None and packs_several(config.gpus_per_trial) and torch.cuda.device_count() > 0
        started = time.monotonic()
        # The closing plots' modules (plotly, 2.4 of a 64-trial search's 3.6 s of plots on a laptop
        # CPU) are imported while the trials run, when this process mostly waits on Ray.
        threading.Thread(target=importlib.import_module, args=("search.plots",), daemon=True).start()
        try:
            with mps_for_search(config.mps, wanted=wants_mps) as mps, progress:
                _tune.run_trials(
                    space=TrialSpace(masked, space, task.input_size, str(trials_dir.resolve()), _record.objective_names(task.metric)),
                    task=task,
                    storage=StorageRef(url, storage), study_name=name, sampler=sampler, metric=task.metric,
                    n_trials=todo, run_dir=out / "ray",
                    artifact_store=store, progress=progress, cpus_per_trial=config.cpus_per_trial,
                    gpus_per_trial=config.gpus_per_trial, max_concurrent=config.max_concurrent,
                    address=config.address, scheduler=scheduler, time_budget_s=config.time_budget_s,
                    mps=mps if config.address is None else "as the cluster's nodes run it",
                )
        except KeyboardInterrupt:
            # A second Ctrl-C, or one before Tune's own handler: Tune did not stop gracefully.
            raise SearchInterrupted("interrupted: " + RESUME_HINT.format(left="trials left running")) from None
        except Exception:
            # A search that could not start (no cluster, ...) leaves no empty study behind to
            # block the next attempt with "already exists".
            if name not in existing and not study.get_trials(deepcopy=False):
                optuna.delete_study(study_name=name, storage=storage)
                _remove_new_files(new_files)
            raise
    study = optuna.load_study(study_name=name, storage=storage)
    left = len([t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t.number >= n_before])
    # Trials left running after Tune returned: its time budget ran out, or Ctrl-C stopped it.
    budget_spent = todo > 0 and config.time_budget_s is not None and time.monotonic() - started >= config.time_budget_s
    console.print(pareto_table(status_info(study)["pareto"], title=f"Pareto set of {name} (best {study.metric_names[0]} against instability)"))
    console.print(f"storage:   {public_url(url)}  (study {name})")
    console.print(f"artifacts: {(out / ARTIFACT_DIR).resolve()}")
    console.print(f"trials:    {trials_dir.resolve()}")
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        from search.plots import write_plots  # plotly only once there is something to draw

        plots = write_plots(study, out / name / "plots")
        console.print(f"plots:     {plots[0].parent.resolve()}  (also attached to the study for the dashboard)")
    completed = bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    momnas = momnas_command()
    if left:
        why = f"time budget of {config.time_budget_s:g} s spent" if budget_spent else "interrupted"
        console.print(f"[yellow]{why}: " + RESUME_HINT.format(left=f"{left} trial(s) left running") + "[/]")
    flags = f"--out {config.out}" + _storage_flag(config.storage) + f" --study {name}"
    hints = [(f"{momnas} plot {flags}", "Pareto front, gradient profiles"), (f"{momnas} dashboard {flags}", "live Optuna dashboard")]
    if completed:  # nothing to export before a trial completed
        hints.append((f"{momnas} export {flags}", "best cell as best.json + weights"))
    console.print("\n".join(f"{'next:' if i == 0 else '     '} {command}   ({what})" for i, (command, what) in enumerate(hints)),
                  soft_wrap=True)
    if has_password(config.storage) and os.environ.get(STORAGE_ENV) != config.storage:
        console.print(f"      (the storage's password is not shown: pass the real URL with --storage, or set {STORAGE_ENV} to it)")
    if left and not budget_spent:
        raise SearchInterrupted(f"search interrupted with {left} trial(s) left running")
    return study


RESUME_HINT = ("{left}; run the same command with --resume to continue "
               "(finished trials are kept, interrupted ones are re-queued)")


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the search (what it left was reported): the command exits 130, as the shell's convention for SIGINT."""


def _storage_flag(storage: str | None) -> str:
    """` --storage URL` for the `next:` hints: masked, and left out when MOMNAS_STORAGE supplies it."""
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


def _remove_new_files(paths: list[Path]) -> None:
    """Remove what a search that could not start created (`--out`, its optuna.db, artifacts/)."""
    for path in reversed(paths):  # the folder last: what it held goes first
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def show_status(*, out_dir: str, storage: str | None, study: str | None, console: Console) -> dict[str, Any]:
    """`momnas status`: summarise a stored study; returns the data it printed."""
    info = status_info(open_study(out_dir=out_dir, storage=storage, study=study))
    render_status(info, console)
    return info
