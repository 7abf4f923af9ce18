"""Ray Tune running a search: runs.train wrapped as a Tune trainable, and the Tuner that runs
it with the study's searcher (search._searcher) and, where asked, MO-ASHA (search.mo_asha).

The trials run in Ray workers, each reporting every evaluation through runs' report hook
(with what its start cost: search._record.startup_attrs); the searcher in the driver writes
the study. The task's data comes with the trainable, loaded once by the driver
(search._shared_task), and Tune reuses a worker process for the next trial that asks for the
same resources, so a worker pays its imports and its kernels' loading once. Through Ray Client (--address ray://...) Tune
runs that driver on the head: the searcher and its artifact store are pickled there (so
paths must be absolute and reachable from the head), and StudyWatcher shows the progress
here from the storage. Joining Ray and its checks: search._cluster.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

import optuna
import ray
import torch
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

import runs
from search import _record, _resources
from search._cluster import check_fits, start_ray
from search._order import LOOKAHEAD, LongestFirst
from search._record import OBJECTIVES_KEY, RUN_KEY, THREADS_KEY, TRIAL_DIR_KEY
from search._searcher import StudySearcher
from search._shared_task import SharedTask
from search._storage_ref import StorageRef
from search._worker_deaths import WorkerDeaths
from search.mo_asha import MOASHA


def report_to_tune(snapshot: dict[str, Any]) -> bool:
    """runs.train's report hook inside a Tune trial: the snapshot's numbers go to Tune; the run
    goes on (Tune's scheduler stops a trial by ending its process, not through the hook)."""
    tune.report({k: float(v) for k, v in snapshot.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return False


_trials_in_this_process = 0  # Tune reuses a worker process (reuse_actors): its trials so far


def trainable(config: dict[str, Any], task: SharedTask | None = None) -> None:
    """One trial: train the run config Optuna suggested, reporting every evaluation to Tune.
    `task`: the search's task, already loaded (used when it is the trial's task)."""
    global _trials_in_this_process
    entered, clock = time.time(), time.perf_counter()
    _trials_in_this_process += 1
    # One trial per CPU it was given: several trials share a machine without oversubscribing it.
    torch.set_num_threads(int(config[THREADS_KEY]))
    trial_dir = config[TRIAL_DIR_KEY]
    # The last report: the searcher decides the trial's state from its momnas_status.
    final: dict[str, Any] = {_record.TRIAL_DIR: trial_dir, _record.NODE: ray.get_runtime_context().get_node_id()}
    started = {_record.ENTERED_AT: entered, _record.WORKER_TRIAL: _trials_in_this_process}

    def report(snapshot: dict[str, Any]) -> bool:
        # runs counts its start-up from its train() call; this trial's own set-up comes first.
        started[_record.STARTUP] = before_train + snapshot["startup_seconds"]
        return report_to_tune({**snapshot, **started})

    try:
        run_config = runs.RunConfig.from_dict(_resources.trial_device(config[RUN_KEY]))
        loaded = task.for_config(run_config.task) if task is not None else None
        before_train = time.perf_counter() - clock
        result = runs.train(run_config, report=report, out_dir=trial_dir, task=loaded)
        if result.startup_seconds is not None:  # it took a step (a report may not have followed)
            final.update(started, **{_record.STARTUP: before_train + result.startup_seconds})
    except Exception as exc:  # a bad config or a crash is this trial's result, not the search's end
        Path(trial_dir).mkdir(parents=True, exist_ok=True)
        Path(trial_dir, "error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
        final.update({_record.STATUS: "failed", _record.ERROR: f"{type(exc).__name__}: {exc}"})
        tune.report(final)
        return
    ts, norms = result.profile(_record.MAX_PROFILE_POINTS)
    metrics = result.to_dict()
    objectives = dict(zip(config[OBJECTIVES_KEY], _record.objective_values(metrics, result.metric)))
    final.update({**objectives,
        _record.STATUS: result.status,
        _record.METRICS: json.dumps(metrics),
        _record.GRAD_PROFILE: json.dumps({"t": ts, "norm": norms}) if norms else "",
    })
    tune.report(final)


class StudyWatcher(threading.Thread):
    """The live progress of a search joined through Ray Client (ray://): Tune then runs its
    driver, and the searcher with it, on the head, away from this terminal. Follows the study
    in its storage instead (the storage the search itself reads here), every `every` seconds
    and once more at the end."""

    def __init__(self, storage: optuna.storages.BaseStorage, study_name: str, progress, every: float = 2.0):
        super().__init__(name="momnas-study-watcher", daemon=True)
        self._study = optuna.load_study(study_name=study_name, storage=storage)
        self._progress, self._every = progress, every
        self._halt = threading.Event()
        self._seen = {t.number for t in self._study.get_trials(deepcopy=False) if t.state.is_finished()}
        self._running: set[int] = set()

    def poll(self) -> None:
        for t in self._study.get_trials(deepcopy=False):
            family = t.user_attrs.get("family")
            if t.number in self._seen or family is None:  # family: set once the searcher has drawn the trial
                continue
            if t.state == optuna.trial.TrialState.RUNNING and t.number not in self._running:
                self._running.add(t.number)
                self._progress.trial_started(t.number, family)
            elif t.state.is_finished():
                self._seen.add(t.number)
                self._running.discard(t.number)
                seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
                values = t.values if t.state == optuna.trial.TrialState.COMPLETE else None
                self._progress.trial_finished(t.number, family, t.user_attrs.get("status", "failed"), values, seconds, t.user_attrs.get("error"))

    def run(self) -> None:
        while not self._halt.wait(self._every):
            try:
                self.poll()
            except Exception:  # e.g. SQLite busy while the head writes: the next poll catches up
                pass

    def stop(self) -> None:
        self._halt.set()
        self.join()
        try:
            self.poll()
        except Exception:  # the summary that follows reads the storage again
            pass


def run_trials(
    *,
    space: Callable[[optuna.Trial], dict],
    task,
    storage: StorageRef,
    study_name: str,
    sampler: optuna.samplers.BaseSampler,
    metric: str,
    n_trials: int,
    run_dir: Path,
    artifact_store,
    progress,
    cpus_per_trial: float,
    gpus_per_trial: float | str,
    max_concurrent: int | None,
    address: str | None,
    scheduler: MOASHA | None = None,
    mps: str = "off",
    time_budget_s: float | None = None,
) -> None:
    """Run `n_trials` more trials of the (already created) study through Ray Tune; `task` is
    the search's runs.Task, loaded (shared with the trials); `scheduler` stops trials early
    (their searcher tells the study they were PRUNED)."""
    # Tune's own tables stay off: with verbose=0 the legacy reporter prints nothing (the new
    # one still prints its configuration box); our Progress shows the search instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune's warnings point at Tuner.restore on Ctrl-C; a momnas search resumes with --resume
    # from the Optuna study instead (and says so when it ends).
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    # Tune's result.json and progress.csv per trial stay (a Ray user looks there); its
    # TensorBoard files go: the study holds every curve, and writing them took 4 of the driver's
    # 5 ms per result (profiled on the CPU), time in which every trial waiting on a report waits.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    started_ray = start_ray(address)
    try:
        # A trial whose worker died gets its one line (through the searcher), not Ray's traceback.
        with WorkerDeaths() as worker_deaths:
            gpus = _resources.ray_gpus()
            resources = _resources.trial_resources(gpus_per_trial, cpus_per_trial, gpus)
            if progress is not None:
                progress.console.print(resources.describe(gpus_per_trial, gpus, mps))
            check_fits(cpus_per_trial, resources.largest_gpus)
            # Tune keeps one trial pending at a time for a searcher of its own (as ours) unless
            # told how many may run at once: each worker then started only once the previous
            # one was up (~2 s apart here, 16 per GPU with auto packing). With this bound it
            # asks for every worker the resources allow together.
            at_once = max_concurrent or resources.most_at_once([n["Resources"] for n in ray.nodes() if n.get("Alive")])
            searcher = StudySearcher(
                space=space, storage=storage, study_name=study_name, sampler=sampler, task_metric=metric,
                artifact_store=artifact_store, progress=progress,
                stopped_at=None if scheduler is None else scheduler.stopped_at,
                worker_death=worker_deaths.take,
            )
            order = LongestFirst(searcher, total=n_trials, lookahead=max(LOOKAHEAD, at_once))
            tuner = tune.Tuner(
                # The task goes to Ray's object store once, not to every trial's files.
                tune.with_resources(tune.with_parameters(trainable, task=SharedTask(task)), resources),
                tune_config=tune.TuneConfig(
                    search_alg=order,
                    scheduler=scheduler,
                    num_samples=n_trials,
                    max_concurrent_trials=at_once,
                    reuse_actors=True,
                    time_budget_s=time_budget_s,
                ),
                run_config=tune.RunConfig(
                    name=study_name,
                    callbacks=[CSVLoggerCallback(), JsonLoggerCallback()],
                    storage_path=str(run_dir.resolve()),
                    verbose=0,
                    failure_config=tune.FailureConfig(max_failures=0),
                ),
            )
            # Through Ray Client, Tune runs the searcher on the head (it drops the progress when
            # pickled there): the study in the storage says what the trials did.
            watcher = StudyWatcher(storage.get(), study_name, progress) if progress is not None and address and address.startswith("ray://") else None
            if watcher is not None:
                watcher.start()
            try:
                tuner.fit()
                # Drawn ahead but never started (Tune stopped at the time budget): not left RUNNING.
                # (Through Ray Client the order ran on the head, and this copy drew nothing.)
                for drawn_as in order.unstarted():
                    searcher.put_back(drawn_as)
            finally:
                if watcher is not None:
                    watcher.stop()
    finally:
        if started_ray:
            ray.shutdown()
