"""prepare_study: everything a search checks and sets up before it starts Ray.

Every input is checked first, in one line each and before anything is written: the output
folder, the space and every value it can draw, whether its largest run fits in memory, the
task (loaded once, then shared with the trials), the resources a trial asks for. Then the study: created, or (with `resume`) continued,
under the study's lease (search._lease: one live search per study), with the trials a dead
search left running re-queued and, for a new study, the priors enqueued.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

import runs
import spaces
from search import _priors, _record
from search._config import SearchConfig
from search._lease import Lease
from search._samplers import make_sampler
from search._storage_ref import StorageRef
from search._study import ARTIFACT_DIR, DB_NAME, artifact_store, make_storage, public_url, storage_url
from search.errors import BadInput, bad_input
from search._brackets import Brackets


@dataclasses.dataclass
class PreparedStudy:
    """A study ready for its trials, and what the search needs to run them."""

    config: SearchConfig
    study: optuna.Study
    storage: StorageRef
    task: runs.Task
    space: spaces.Space
    sampler: optuna.samplers.BaseSampler
    brackets: Brackets | None      # None: no early stopping
    early_stop: str                # the line that says how trials stop early
    warm_start: str                # what the priors are ("paper", "none", "study:NAME")
    priors: list[_priors.Prior]    # enqueued now (a new study)
    skipped: list[str]             # priors the space cannot express, and why
    requeued: list[int]            # trials a dead search left running, re-queued
    n_before: int                  # trials the study had before this search
    created: bool                  # this search made the study
    lease: Lease
    new_files: list[Path]          # what this search created in --out (removed if it cannot start)

    @property
    def out(self) -> Path:
        return Path(self.config.store.out)

    @property
    def trials_dir(self) -> Path:
        return self.out / "trials" / self.study.study_name

    @property
    def todo(self) -> int:
        return self.config.trials - len(_record.finished_trials(self.study))

    def release(self) -> None:
        """End of the search: the lease goes, so the next --resume starts at once."""
        self.lease.release()

    def abandon(self) -> None:
        """A search that could not start leaves no empty study (which would block the next
        attempt with "already exists") and no folders it made."""
        if self.created and not self.study.get_trials(deepcopy=False):
            optuna.delete_study(study_name=self.study.study_name, storage=self.storage.get())
            for path in reversed(self.new_files):  # a folder after what it holds
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        self.release()


def check_out(out: Path) -> None:
    """An --out the search can make and write: not too long a name, not a file, not under one."""
    limit = os.pathconf(out.anchor or "/", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    if any(len(part.encode()) > limit for part in out.parts) or len(str(out.absolute()).encode()) > 3000:
        raise BadInput(f"search: --out {str(out)[:60]}... is longer than this filesystem allows a path; give a shorter --out")
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "is a file" if folder == out else f"lies under {folder}, a file"
                raise BadInput(f"search: --out {out} {where}; name a folder for the study's files")
            break


def check_space(space: spaces.Space, base: dict[str, Any], input_size: int) -> None:
    """Every value the space can draw makes a valid run config: each parameter at each end of its
    range (or each of its choices), the others as the space's first draw. Checked once here,
    rather than failing every trial the same way after Ray started."""
    def candidates(dist) -> list[Any]:
        if dist.kind == "categorical":
            return list(dist.choices)
        if dist.kind == "fixed":
            return [dist.value]
        return [dist.low, dist.high]

    for family in space.families:
        dynamics, core = spaces.split_family(family)
        tables = [("cell", k, d) for k, d in space.cell.items()] + [("train", k, d) for k, d in space.train.items()]
        tables += [("cell", name.split(".", 1)[1], d) for name, d in space.branches(family).items()]
        first = {(where, key): candidates(d)[0] for where, key, d in tables}

        def check(picked: dict) -> str | None:
            cell = {"core": core, "dynamics": dynamics, "input_size": input_size, "hidden_size": base["hidden"],
                    **{k: v for (w, k), v in picked.items() if w == "cell"}}
            drawn = {k: v for k, v in cell.items() if k in ("core", "dynamics") or _active(space, family, k, cell)}
            train = {**base["train"], **{k: v for (w, k), v in picked.items() if w == "train"}}
            try:
                runs.RunConfig.from_dict({"cell": drawn, "task": base["task"], "train": train})
            except (TypeError, ValueError) as exc:
                return str(exc)
            return None

        why = check(first)
        if why is not None:  # what every trial of the family draws (a fixed value, say) is already wrong
            raise BadInput(f"space {space.name!r}: no trial of {family} could train ({why}); change the space's values for it")
        for where, key, dist in tables:
            for value in candidates(dist):
                why = check({**first, (where, key): value})
                if why is not None:
                    raise BadInput(f"space {space.name!r}: {family} can draw {key}={value!r}, which no run accepts "
                                   f"({why}); narrow the space's range of {key}")


# The drawable values that make a run larger: each is taken at its largest for the memory check.
SIZE_KEYS = ("hidden_size", "batch_size", "layers")


def check_memory(config: SearchConfig, space: spaces.Space) -> None:
    """Refuse, before any data is made, a space whose largest run of a family cannot fit where the
    trials train (a GPU of this machine, or its RAM): the allocator would find it in every trial."""
    if config.resources.address is not None:
        return  # the cluster's nodes are not known before Ray joins them
    import torch

    on_gpu = config.resources.gpus_per_trial != 0 and torch.cuda.is_available()
    input_size = runs.task_input_size(config.task)
    train = train_defaults(config)
    for family in space.families:
        dynamics, core = spaces.split_family(family)
        cell = {"core": core, "dynamics": dynamics, "input_size": input_size, "hidden_size": config.hidden}
        largest = {**{k: d for k, d in space.cell.items()}, **{k: d for k, d in space.train.items()},
                   **{name.split(".", 1)[1]: d for name, d in space.branches(family).items()}}
        for key in SIZE_KEYS:
            dist = largest.get(key)
            if dist is None or dist.kind == "fixed":
                continue
            top = max(dist.choices) if dist.kind == "categorical" else dist.high
            (train if key == "batch_size" else cell)[key] = int(top)
        run = runs.RunConfig.from_dict({"cell": cell, "task": config.task.to_dict(), "train": train})
        runs.check_fits_memory(run, "cuda" if on_gpu else "cpu")


def _active(space: spaces.Space, family: str, key: str, cell: dict[str, Any]) -> bool:
    """Whether a cell value would be drawn for this family (its `when` condition holds)."""
    if key in ("input_size", "hidden_size"):
        return True
    for name, dist in space.branches(family).items():
        if name.split(".", 1)[1] == key:
            return dist.active(cell)
    return key in space.cell


def train_defaults(config: SearchConfig) -> dict[str, Any]:
    """The runs TrainConfig every trial starts from (the space overrides what it searches). A
    trial without a GPU of its own must not take one that Ray gave another trial: with
    `auto`, the trial itself decides (search._resources.trial_device)."""
    train = config.train.to_dict()
    train["device"] = "cpu" if config.resources.gpus_per_trial == 0 else "auto"
    return train


def prepare_study(config: SearchConfig) -> PreparedStudy:
    """Check everything, then create or continue the study under this search's lease.

    Example:
        >>> from search import SearchConfig, prepare_study
        >>> config = SearchConfig.from_flat({"task": "adding", "T": 20, "space": "small", "trials": 2, "out": "searched",
        ...                                  "study": "prepared"})
        >>> prepared = prepare_study(config)
        >>> prepared.study.study_name, prepared.todo, prepared.early_stop
        ('prepared', 2, 'none (auto: on from 16 trials of 3 epochs; --early-stop hyperband turns it on)')
        >>> prepared.release()

    Raises:
        BadInput: a task, space, folder, resource or study the search cannot use (nothing written).
        StorageError: the storage cannot be opened or written.
    """
    out = Path(config.store.out)
    check_out(out)
    with bad_input():
        space = spaces.get_space(config.space)
    with bad_input():
        input_size = runs.task_input_size(config.task)
    check_space(space, {"hidden": config.hidden, "task": config.task.to_dict(), "train": train_defaults(config)}, input_size)
    with bad_input():
        check_memory(config, space)  # sizes that cannot fit, before the task's data is made
        task = runs.load_task(config.task)
    from search._ray import check_resources  # Ray: only once a search prepares (search._cluster.prefer_token_mode first)

    check_resources(cpus_per_trial=config.resources.cpus_per_trial, gpus_per_trial=config.resources.gpus_per_trial,
                    mps=config.resources.mps, address=config.resources.address)
    warm_start = _priors.resolve(config.warm_start, space.name)

    url = storage_url(out, config.store.storage)
    new_files = [p for p in (out, out / DB_NAME, out / f".{DB_NAME}.lock", out / ARTIFACT_DIR) if not p.exists()]
    try:
        backend = make_storage(url)
    except Exception:
        _remove(new_files)
        raise
    name = config.study_name
    directions = [task.direction, "minimize"]
    existing = name in optuna.get_all_study_names(storage=backend)
    n_before = 0
    if existing:
        earlier = optuna.load_study(study_name=name, storage=backend)
        n_before = len(earlier.get_trials(deepcopy=False))
        if not config.store.resume:
            raise BadInput(f"study {name!r} already exists in {public_url(url)} ({len(_record.finished_trials(earlier))} "
                           "finished trials): add --resume to continue it, or give another --study")
        _check_same_search(earlier, config, directions, space)
    # A resumed search with a seed must not replay the first search's random draws.
    sampler = make_sampler(config.sampler, None if config.seed is None else config.seed + n_before)
    study = optuna.create_study(storage=backend, study_name=name, directions=directions, sampler=sampler,
                                load_if_exists=True)
    lease = Lease(backend, backend.get_study_id_from_name(name), name)
    lease.acquire()
    brackets, early_stop = early_stopping(config)
    prepared = PreparedStudy(
        config=config, study=study, storage=StorageRef(url, backend), task=task, space=space, sampler=sampler,
        brackets=brackets, early_stop=early_stop, warm_start=warm_start, priors=[], skipped=[], requeued=[],
        n_before=n_before, created=not existing, lease=lease, new_files=new_files)
    try:
        store = artifact_store(out.resolve())
        if existing:
            prepared.requeued = recover_interrupted(study, backend)
        else:
            _record.write_study_header(
                study, store=store, task=config.task.to_dict(), metric=task.metric, direction=task.direction, space=space.name,
                space_spec=space.to_data(), artifact_dir=str((out / ARTIFACT_DIR).resolve()), config=config.to_flat(),
                target_epochs=config.epochs, rungs=brackets.all_rungs if brackets else [])
            prepared.priors, prepared.skipped = _warm_start(warm_start, space, config, backend)
            _priors.enqueue(study, prepared.priors)
    except BaseException:
        prepared.abandon()
        raise
    return prepared


def _warm_start(warm_start: str, space: spaces.Space, config: SearchConfig, backend) -> tuple[list[_priors.Prior], list[str]]:
    if warm_start == "none":
        return [], []
    if warm_start == "paper":
        return _priors.paper_priors(space, config.task.name, config.hidden)
    other = warm_start[len(_priors.STUDY_PREFIX):]
    if other not in optuna.get_all_study_names(storage=backend):
        raise BadInput(f"--warm-start {warm_start}: no study {other!r} in this storage; name one of "
                       f"{', '.join(optuna.get_all_study_names(storage=backend)) or 'none'}")
    return _priors.study_priors(space, optuna.load_study(study_name=other, storage=backend))


def early_stopping(config: SearchConfig) -> tuple[Brackets | None, str]:
    """The brackets of the search (None: every trial trains to the target) and the line that says so."""
    es, target = config.early_stop, config.epochs
    if es.mode == "none":
        return None, "none (--early-stop none): every trial trains to the target"
    plan = Brackets.hyperband(grace=es.grace_epochs, eta=es.reduction_factor, target=target,
                              count=None if es.brackets == "auto" else es.brackets)
    if es.mode == "mo-asha":
        plan = Brackets.single(grace=es.grace_epochs, eta=es.reduction_factor, target=target)
    if not plan.all_rungs or (es.mode == "auto" and not (config.trials >= es.AUTO["trials"] and target >= es.AUTO["epochs"])):
        return None, (f"none (auto: on from {es.AUTO['trials']} trials of {es.AUTO['epochs']} epochs; "
                      "--early-stop hyperband turns it on)")
    within = es.within_family * target
    family = f"; before epoch {within:g} a trial is ranked within its family only" if within > min(plan.all_rungs) else ""
    how = "Hyperband brackets of MO-ASHA" if len(plan.rungs) > 1 else "MO-ASHA"
    return plan, (f"{how} towards the target of {target} epochs: {plan.describe()}; the top 1/{es.reduction_factor} "
                  f"of a rung go on{family}")


def recover_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Trials a search that is gone left RUNNING (its lease is ours now): FAIL (`interrupted`),
    their parameters re-enqueued, so this search runs them again. Returns their numbers."""
    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        _record.requeue(study, storage, t.number, t.params, status="interrupted")
        numbers.append(t.number)
    return numbers


def _check_same_search(study: optuna.Study, config: SearchConfig, directions: list[str], space: spaces.Space) -> None:
    stored = _record.StudyRecord.of(study)
    if stored.space_digest is not None and stored.space_digest != _record.space_digest(space.to_data()):
        # Optuna cannot sample a parameter whose choices changed ("CategoricalDistribution does
        # not support dynamic value space"), and every new trial would fail after Ray started.
        raise BadInput(f"study {study.study_name!r} was made with space {stored.space or '?'!r}, and this search asks for "
                       f"{space.name!r} with other families or ranges; resume with the study's --space, or pick another --study")
    if stored.task_text is not None and stored.task_text != _record.task_text(config.task.to_dict()):
        raise BadInput(f"study {study.study_name!r} was made for task {stored.task_text!r}, this search asks for "
                       f"{_record.task_text(config.task.to_dict())!r}; pick another --study")
    if stored.target_epochs is not None and stored.target_epochs != config.epochs:
        raise BadInput(f"study {study.study_name!r} was made for a target of {stored.target_epochs} epochs, this search "
                       f"asks for {config.epochs}; resume with --epochs {stored.target_epochs}, or pick another --study")
    if [d.name.lower() for d in study.directions] != directions:
        raise BadInput(f"study {study.study_name!r} optimises {study.directions}, not {directions}; pick another --study")


def _remove(paths: list[Path]) -> None:
    for path in reversed(paths):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
