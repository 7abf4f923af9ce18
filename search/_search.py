"""run_search: one search, from a SearchConfig to a finished study and what it left (SearchOutcome).

The library says what happens through a `Listener` (the command line's live progress is one;
without one, lines go to the `search` logger) and never prints, reads sys.argv or sets global
logging: what to show is the caller's choice (search/cli/).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from search import _record, _resources, _trackers
from search._config import SearchConfig
from search._prepare import PreparedStudy, prepare_study, train_defaults
from search._study import ARTIFACT_DIR, StoredStudy, public_url, storage_url

log = logging.getLogger("search")


class Listener(Protocol):
    """What a search tells whoever shows it: lines, and each trial drawn, started and finished."""

    def note(self, text: str) -> None: ...
    def search_started(self, *, total: int, done: int, metric: str, direction: str) -> None: ...
    def trial_drawn(self, number: int, family: str, prior: str | None) -> None: ...
    def trial_started(self, number: int) -> None: ...
    def trial_finished(self, number: int, family: str, status: str, values: list[float] | None,
                       seconds: float | None, error: str | None = None) -> None: ...


class LogListener:
    """A Listener that writes one log record per line and per finished trial (the default)."""

    def note(self, text: str) -> None:
        log.info(text)

    def search_started(self, *, total: int, done: int, metric: str, direction: str) -> None:
        log.info("%d of %d trials to run", total - done, total)

    def trial_drawn(self, number: int, family: str, prior: str | None) -> None:
        log.debug("trial %d drawn: %s%s", number, family, f" (prior: {prior})" if prior else "")

    def trial_started(self, number: int) -> None:
        log.debug("trial %d started", number)

    def trial_finished(self, number, family, status, values, seconds, error=None) -> None:
        log.info("trial %d %s %s%s", number, family, status, f" {values}" if values else f": {error}" if error else "")


@dataclasses.dataclass
class SearchOutcome:
    """What a search left: its study, and why it ended where it did."""

    study: optuna.Study
    ran: int                          # trials this search ran (or tried to)
    left_running: int                 # trials still RUNNING in the study (a stop, a time budget)
    budget_spent: bool                # the time budget ended it
    stopped_by: str | None            # "SIGINT" or "SIGTERM" when a signal stopped it early
    plots: list[Path]                 # the figures written (none before a trial completed)
    storage: str                      # the storage's URL, password masked
    artifacts: Path
    trials_dir: Path
    confirmed: Any = None             # search.confirm.Confirmation, with --confirm

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None


class _Signals:
    """SIGTERM during a search stops it as Ctrl-C does (Tune's graceful stop, then the summary),
    instead of Ray's handler ending the process with its stack dump; remembers which came."""

    def __init__(self):
        self.received: str | None = None
        self._previous = None

    def __enter__(self) -> "_Signals":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def reinstall(self) -> None:
        """Once more, after `ray.init` (which sets a SIGTERM handler of its own that exits at once)."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum, frame) -> None:
        self.received = "SIGTERM"
        handler = signal.getsignal(signal.SIGINT)  # inside Tune's run, its graceful stop; else KeyboardInterrupt
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class SearchInterrupted(KeyboardInterrupt):
    """A signal (Ctrl-C, SIGTERM) ended the search before it could say what it left."""

    def __init__(self, message: str, signal_name: str = "SIGINT"):
        super().__init__(message)
        self.signal_name = signal_name


def run_search(config: SearchConfig, *, listener: Listener | None = None) -> SearchOutcome:
    """Run a search: prepare its study (search.prepare_study), run the missing trials through
    Ray Tune, write its figures and, with `config.confirm`, confirm its best cells.

    Example:
        >>> from search import SearchConfig, run_search
        >>> config = SearchConfig.from_flat({"task": "adding", "T": 20, "n_train": 64, "n_val": 32, "n_test": 32,
        ...                                  "space": "small", "trials": 2, "epochs": 1, "hidden": 8, "seed": 0,
        ...                                  "out": "searched"})
        >>> outcome = run_search(config)
        >>> [t.state.name for t in outcome.study.trials], outcome.interrupted
        (['COMPLETE', 'COMPLETE'], False)

    A signal (Ctrl-C, SIGTERM) stops the trials gracefully and returns, with `stopped_by` set
    and the trials it cut left RUNNING; `resume=True` re-queues them. A second signal raises
    SearchInterrupted.
    """
    from search._cluster import prefer_token_mode

    prefer_token_mode(config.resources.address)  # before anything imports ray, which reads it then
    listener = listener or LogListener()
    with _Signals() as signals:
        try:
            return _run(config, listener, signals)
        except KeyboardInterrupt as exc:
            # A second signal, or one outside Tune's graceful stop: what was left is unknown here.
            raise SearchInterrupted("interrupted: " + RESUME_HINT.format(left="trials left running"),
                                    signals.received or "SIGINT") from exc


def _run(config: SearchConfig, listener: Listener, signals: "_Signals") -> SearchOutcome:
    # The trackers' callbacks come first: a W&B without its API key is refused before the study is touched.
    folder = Path(config.store.out) / config.study_name
    trackers = _trackers.callbacks(config.store.log_to, folder, config.study_name)
    prepared = prepare_study(config)
    ran, started = 0, time.monotonic()
    confirmed = None
    try:
        todo = prepared.todo
        listener.note(f"study {prepared.study.study_name}: task {prepared.task.name}, space {prepared.space.name} "
                      f"({len(prepared.space.families)} families), {config.sampler} sampler, target {config.epochs} "
                      f"epochs, {len(_record.finished_trials(prepared.study))} trials done, {max(todo, 0)} to run")
        for number in prepared.requeued:
            listener.note(f"resume: trial {number}, left running by a search that is gone, re-queued with the same parameters")
        _note_priors(prepared, listener)
        if todo > 0 or config.confirm:
            # The closing figures' modules are imported while the trials run, when this process waits on Ray.
            threading.Thread(target=importlib.import_module, args=("search.plots",), daemon=True).start()
            from search import _ray  # Ray only now: checking and reading stay light

            wanted = max(todo, config.confirm * config.confirm_seeds if config.confirm else 0, 1)  # trials, confirmation runs
            res = config.resources
            with _ray.session(res.address, **_ray.warm_pool(res.gpus_per_trial, res.cpus_per_trial, wanted, res.max_concurrent)):
                signals.reinstall()
                if todo > 0:
                    listener.note(f"early stopping: {prepared.early_stop}")
                    listener.search_started(total=config.trials, done=config.trials - todo, metric=prepared.task.metric,
                                            direction=prepared.task.direction)
                    ran = _run_trials(prepared, todo, listener, trackers)
                # Confirmed once the trials are done: all of them, or those the time budget let run.
                budget = config.resources.time_budget_s
                spent = budget is not None and time.monotonic() - started >= budget
                if config.confirm and signals.received is None and (spent or not _left_running(prepared)):
                    from search.confirm import confirm_study

                    confirmed = confirm_study(_written(prepared), top=config.confirm, seeds=config.confirm_seeds,
                                              out_dir=prepared.out, resources=config.resources, listener=listener,
                                              task=prepared.task, log_to=config.store.log_to)
            if config.store.log_to:
                listener.note(_trackers.where(config.store.log_to, folder, config.study_name))
    except BaseException:
        if not prepared.study.get_trials(deepcopy=False):
            prepared.abandon()
        raise
    finally:
        prepared.release()
    return _outcome(prepared, ran, started, signals.received, confirmed)


RESUME_HINT = ("{left}; run the same command with --resume to continue "
               "(finished trials are kept, interrupted ones are re-queued)")


def _note_priors(prepared: PreparedStudy, listener: Listener) -> None:
    if prepared.priors:
        listener.note(f"warm start ({prepared.warm_start}): {len(prepared.priors)} prior(s) first, each trained to the "
                      f"target: {', '.join(p.label for p in prepared.priors)}")
    for why in prepared.skipped:
        listener.note(f"warm start: left out {why}")


def _run_trials(prepared: PreparedStudy, todo: int, listener: Listener, trackers: tuple[Any, ...] = ()) -> int:
    """The missing trials, through Ray Tune, with the study's searcher (and its scheduler);
    `trackers`: the Tune callbacks of --log-to (search._trackers)."""
    from search import _ray
    from search._mps import mps_for_search
    from search._order import LOOKAHEAD, LongestFirst
    from search._searcher import StudySearcher, TrialSpace
    from search.mo_asha import MOASHA

    config, study = prepared.config, prepared.study
    task = prepared.task
    objectives = _record.objective_names(task.metric)
    gpus = _resources.ray_gpus()
    resources = _resources.trial_resources(config.resources.gpus_per_trial, config.resources.cpus_per_trial, gpus)
    local = config.resources.address is None
    if not local:
        from search._cluster import check_fits

        check_fits(resources.cpus, resources.gpus)
    import torch

    wants_mps = local and 0 < resources.gpus < 1 and torch.cuda.device_count() > 0
    scheduler = None
    if prepared.brackets is not None:
        scheduler = MOASHA(metrics=objectives, modes=["max" if d == "maximize" else "min" for d in (task.direction, "minimize")],
                           eta=config.early_stop.reduction_factor, family_until=config.early_stop.within_family * config.epochs,
                           rungs_key=_record.RUNGS_KEY, family_key=_record.FAMILY_KEY)
    space = TrialSpace(space=prepared.space, input_size=task.input_size, hidden=config.hidden, task=config.task.to_dict(),
                       train={**train_defaults(config), "threads": resources.threads},
                       trials_dir=str(prepared.trials_dir.resolve()), objectives=objectives)
    searcher = StudySearcher(
        space=space, storage=prepared.storage, study_name=study.study_name, sampler=prepared.sampler,
        task_metric=task.metric, artifact_dir=str((prepared.out / ARTIFACT_DIR).resolve()), brackets=prepared.brackets,
        listener=listener, stopped_at=None if scheduler is None else scheduler.stopped_at, total=config.trials)
    at_once = _ray.most_at_once(resources, config.resources.max_concurrent)
    order = LongestFirst(searcher, total=todo, lookahead=max(LOOKAHEAD, at_once), on_handout=searcher.handed_out)
    errors = _ray.TrialErrors(lambda tune_id, reason: searcher.trial_error(order.drawn_as(tune_id), reason))
    with mps_for_search(config.resources.mps, wanted=wants_mps) as mps:
        listener.note(resources.describe(config.resources.gpus_per_trial, gpus, mps if local else "as the cluster's nodes run it"))
        watcher = _watcher(prepared, listener)
        try:
            _ray.run_job(_ray.TuneJob(
                name=study.study_name, run_dir=prepared.out / "ray", resources=resources.as_tune(), num_samples=todo,
                search_alg=order, task=task, scheduler=scheduler, max_concurrent=at_once,
                time_budget_s=config.resources.time_budget_s, callbacks=(errors, *trackers), note=listener.note))
            # Drawn ahead but never started (Tune stopped at the time budget): not left RUNNING.
            # (Through Ray Client the order ran on the head, and this copy drew nothing.)
            for drawn_as in order.unstarted():
                searcher.put_back(drawn_as)
            searcher.close()
        finally:
            if watcher is not None:
                watcher.stop()
    return todo


def _watcher(prepared: PreparedStudy, listener: Listener):
    """Through Ray Client the searcher runs on the head: follow the study in its storage instead."""
    address = prepared.config.resources.address
    if not (address and address.startswith("ray://")):
        return None
    from search._watcher import StudyWatcher

    watcher = StudyWatcher(prepared.storage.get(), prepared.study.study_name, listener)
    watcher.start()
    return watcher


def _written(prepared: PreparedStudy) -> StoredStudy:
    """The study as this search wrote it: its trials' files are in this --out's artifacts, also
    where the study records another folder (a copied --out, resumed)."""
    return StoredStudy(prepared.study.study_name, prepared.storage.get(), (prepared.out / ARTIFACT_DIR).resolve())


def _left_running(prepared: PreparedStudy) -> int:
    return len([t for t in prepared.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if t.number >= prepared.n_before])


def _outcome(prepared: PreparedStudy, ran: int, started: float, received: str | None, confirmed) -> SearchOutcome:
    config = prepared.config
    study = _written(prepared)
    left = _left_running(prepared)
    budget = config.resources.time_budget_s
    budget_spent = ran > 0 and budget is not None and time.monotonic() - started >= budget
    stopped_by = received or ("SIGINT" if left and not budget_spent else None)
    plots: list[Path] = []
    if any(r.completed for r in _record.trials(study, states=(TrialState.COMPLETE,))):
        from search.plots import write_plots  # plotly only once there is something to draw

        plots = write_plots(study, prepared.out / study.study_name / "plots")
    return SearchOutcome(
        study=study, ran=ran, left_running=left, budget_spent=budget_spent, stopped_by=stopped_by, plots=plots,
        storage=public_url(storage_url(prepared.out, config.store.storage)),
        artifacts=(prepared.out / ARTIFACT_DIR).resolve(), trials_dir=prepared.trials_dir.resolve(), confirmed=confirmed)
