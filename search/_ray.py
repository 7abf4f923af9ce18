"""Ray for momnas: the one module that starts (or joins) Ray and runs Ray Tune jobs.

A search, a confirmation and a reproduction all train `runs` configs as Tune trials, through:

- `session(address, trials=, at_once=)`: a quiet local Ray, whose worker processes are warm
  before the first trial (search._pool), or a joined cluster (search._cluster), for the block;
- `check_resources(...)`: one check that a trial fits somewhere, before Ray starts (this
  machine) and after it has joined (the cluster's nodes), so Tune never waits forever;
- `trainable`: the one trial function. It trains the run config in the trial's Tune config
  into the trial's folder, reports every evaluation to Tune, and ends with a last report
  that says how the run ended; an exception is that report (status `failed`, the error),
  written to the folder's error.txt too, never a crash of the job;
- `TuneJob` + `run_job(job)`: what one Tune run needs, in one object;
- `TrialErrors`: a Tune callback for trials whose worker died (kill -9, the OOM killer, a
  segfault), the only errors left once the trainable catches its own: it hands the reason to
  the job's listener as one line.

The task's data travels with the trainable (`tune.with_parameters`, search._shared_task),
loaded once by the driver; Tune reuses a worker process for the next trial that asks for the
same resources, so a worker pays its imports once, and in a local Ray before its first trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune
from ray.exceptions import RayActorError
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

import runs
from search import _pool, _record, _resources
from search._cluster import start_ray
from search._shared_task import SharedTask
from search.errors import BadInput

# ---------------------------------------------------------------------------- session and resources

_warm: _pool.Pool | None = None  # the warm workers of the local Ray this process started


@contextlib.contextmanager
def session(address: str | None = None, *, trials: "_resources.TrialResources | None" = None,
            at_once: int | None = None) -> Iterator[bool]:
    """Ray for the block: joins `address` or starts a quiet local Ray, and leaves it at the end
    (only disconnects from a joined cluster). Inside a block that already has Ray, reuses it.
    Told what each of its `trials` asks for (and that at most `at_once` run at once), a local
    Ray is sized to the trials this machine runs at once and starts a warm worker process for
    each (search._pool); run_job draws its first trial once they are warm. Yields whether this
    block started (or joined) it."""
    global _warm
    local, pool = None, None
    if address is None and trials is not None and not ray.is_initialized():
        local, pool = _pool.ray_init_args(local_at_once(trials, at_once), trials.cpus)
    try:
        started = start_ray(address, local=local)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    finally:
        _pool.forget_env()
    _warm = pool if started else _warm
    try:
        with _pool.plain_trial_actors() if started and pool is not None else contextlib.nullcontext():
            yield started
    finally:
        if started:
            ray.shutdown()
            if pool is not None:
                pool.close()
                _warm = None


def machine_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def warm_pool(gpus_per_trial: float | str, cpus_per_trial: float, runs: int, max_concurrent: int | None) -> dict[str, Any]:
    """session()'s `trials` and `at_once` for `runs` trials of these resources (at most
    `max_concurrent` at once), `auto` resolved against the GPUs torch sees: what a local Ray
    needs to start their warm workers."""
    trials = _resources.trial_resources(gpus_per_trial, cpus_per_trial, torch.cuda.device_count())
    return {"trials": trials, "at_once": min(runs, max_concurrent or runs)}


def local_at_once(trials: "_resources.TrialResources", at_once: int | None = None) -> int:
    """How many `trials` a local Ray on this machine runs at once: as many as its CPUs and the
    GPUs torch sees hold, or `at_once` if fewer."""
    fits = trials.most_at_once([{"CPU": machine_cpus(), "GPU": torch.cuda.device_count()}])
    return max(1, min(fits, at_once or fits))


def check_resources(*, cpus_per_trial: float, gpus_per_trial: float | str, mps: str = "off",
                    address: str | None = None, unit: str = "trial") -> None:
    """Refuse trials that could never start, before Ray starts: a local Ray has this machine's
    CPUs and the GPUs torch sees. (Joined to a cluster, search._cluster.check_fits checks its
    nodes.) `unit` names the flags in the message (--cpus-per-trial, or -run for a reproduction)."""
    if address is not None:
        return
    cpus = machine_cpus()
    if cpus_per_trial > cpus:
        raise BadInput(f"--cpus-per-{unit} {cpus_per_trial:g} is more than the {cpus} CPU(s) of this machine, so no {unit} "
                       f"could ever start; ask for at most {cpus}, or join a cluster with --address")
    gpus = torch.cuda.device_count()
    if mps == "on" and gpus == 0:
        raise BadInput("--mps runs trials that share a GPU at once, and this machine has no GPU that torch can use; "
                       "leave out --mps")
    if gpus_per_trial != _resources.AUTO and gpus_per_trial > gpus:
        have = "no GPU" if gpus == 0 else f"{gpus} GPU(s)"
        raise BadInput(
            f"--gpus-per-{unit} {gpus_per_trial:g} but this machine has {have} that torch can use, so no {unit} "
            f"could ever start; " + (f"leave out --gpus-per-{unit} to train on the CPU" if gpus == 0 else f"ask for at most {gpus}")
            + ", or join a GPU cluster with --address")


def alive_nodes() -> list[dict[str, float]]:
    """The Ray resources of each live node of the Ray this process runs in."""
    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


# ---------------------------------------------------------------------------- the trial


_trials_in_this_process = 0  # Tune reuses a worker process (reuse_actors): its trials so far


def report_to_tune(snapshot: dict[str, Any]) -> bool:
    """runs.train's report hook inside a Tune trial: the snapshot's numbers go to Tune; the run
    goes on (Tune's scheduler stops a trial by ending its process, not through the hook)."""
    tune.report({k: float(v) for k, v in snapshot.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return False


def trainable(config: dict[str, Any], task: SharedTask | None = None) -> None:
    """One trial: train `config[RUN_KEY]` into `config[TRIAL_DIR_KEY]`, reporting every evaluation
    to Tune, then one last report of how it ended (search._record reads it). `task`: the job's
    task, already loaded (used when it is the trial's task)."""
    global _trials_in_this_process
    entered, clock = time.time(), time.perf_counter()
    _trials_in_this_process += 1
    trial_dir = config[_record.TRIAL_DIR_KEY]
    final: dict[str, Any] = {_record.TRIAL_DIR: trial_dir, _record.NODE: ray.get_runtime_context().get_node_id()}
    started = {_record.ENTERED_AT: entered, _record.WORKER_TRIAL: _trials_in_this_process}
    warmed = sys.modules.get("search._warmed")  # a pool worker's (search._pool)
    if warmed is not None and warmed.ready_at is not None:
        started[_record.WORKER_READY_AT] = warmed.ready_at
    before_train = 0.0

    def report(snapshot: dict[str, Any]) -> bool:
        # runs counts its start-up from its train() call; this trial's own set-up comes first.
        started[_record.STARTUP] = before_train + snapshot["startup_seconds"]
        return report_to_tune({**snapshot, **started})

    try:
        run_config = runs.RunConfig.from_dict(_resources.trial_device(config[_record.RUN_KEY]))
        loaded = task.for_config(run_config.task) if task is not None else None
        before_train = time.perf_counter() - clock
        result = runs.train(run_config, report=report, out_dir=trial_dir, task=loaded)
    except Exception as exc:  # a bad config or a crash is this trial's result, not the job's end
        Path(trial_dir).mkdir(parents=True, exist_ok=True)
        Path(trial_dir, "error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
        final.update({_record.STATUS: "failed", _record.ERROR: f"{type(exc).__name__}: {exc}"})
        tune.report(final)
        return
    if result.startup_seconds is not None:  # it took a step (a report may not have followed)
        final.update(started, **{_record.STARTUP: before_train + result.startup_seconds})
    ts, norms = result.profile(_record.MAX_PROFILE_POINTS)
    metrics = result.to_dict()
    objectives = dict(zip(config.get(_record.OBJECTIVES_KEY, ()), _record.objective_values(metrics, result.metric)))
    final.update({**objectives,
                  _record.STATUS: result.status,
                  _record.METRICS: json.dumps(metrics),
                  _record.GRAD_PROFILE: json.dumps({"t": ts, "norm": norms}) if norms else ""})
    tune.report(final)


def ran_as_planned(folder: Path, planned: dict[str, Any]) -> bool:
    """Whether `folder` holds a finished run (its metrics.json) of the `planned` run config. Where
    it ran is left out: a trial pins `auto` to the device Ray gave it (search._resources), and
    its threads are the CPUs it was given."""
    try:
        if not (folder / "metrics.json").is_file():
            return False
        written = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return False

    def without_device(run: dict[str, Any]) -> dict[str, Any]:
        return {**run, "train": {k: v for k, v in (run.get("train") or {}).items() if k not in ("device", "threads")}}

    return without_device(written) == without_device(planned)


def death_reason(exc: BaseException | None) -> str:
    """One line for a trial whose worker died. Ray's message is a header, tab-indented details of
    the actor, then why it died ("... Worker exit type: SYSTEM_ERROR Worker exit detail: ..."):
    the last line is kept."""
    if exc is None:
        return "its worker died (no reason recorded by Ray)"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith("\t")]
    why = lines[-1] if lines else ""
    return f"its worker died ({type(exc).__name__}): {why}".rstrip(": ")


def trial_exception(trial) -> BaseException | None:
    """The exception a Tune trial ended with: Tune pickles it beside the trial's local files
    (`Trial.pickled_error_file`) before it tells callbacks, and copies it to the storage later."""
    path = trial.pickled_error_file
    if path and os.path.isfile(path):
        import cloudpickle

        with open(path, "rb") as f:
            return cloudpickle.load(f)
    return trial.get_pickled_error()


class TrialErrors(tune.Callback):
    """Hands `on_error(trial_id, reason)` the one-line reason of each trial that ended in an
    error: with the trainable catching its own exceptions, a trial whose worker died."""

    def __init__(self, on_error: Callable[[str, str], None]):
        self.on_error = on_error

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        error = trial_exception(trial)
        cause = getattr(error, "cause", None)  # a RayTaskError carries the actor's death as its cause
        died = next((e for e in (error, cause) if isinstance(e, RayActorError)), None)
        if died is not None:
            self.on_error(trial.trial_id, death_reason(died))
        else:
            first = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
            self.on_error(trial.trial_id, f"Tune ended the trial ({type(error).__name__}): {first}".rstrip(": "))


# ---------------------------------------------------------------------------- a Tune job


@dataclasses.dataclass(frozen=True)
class TuneJob:
    """One Tune run: what the trials are, what each asks for, how many run, where Tune keeps its files."""

    name: str                                   # Tune's experiment name (a folder under run_dir)
    run_dir: Path                               # Tune's own files (result.json, progress.csv per trial)
    resources: Any                              # {"cpu", "gpu"} per trial, or a function of the trial's config
    num_samples: int                            # trials in all
    search_alg: Any = None                      # a ray.tune.search.Searcher that suggests the trials' configs ...
    configs: tuple[dict[str, Any], ...] = ()    # ... or these fixed trial configs, in order
    task: runs.Task | None = None               # the loaded task, shared with every trial through the object store
    scheduler: Any = None                       # stops trials early (search.mo_asha)
    max_concurrent: int | None = None           # trials at once (None: as the resources allow)
    time_budget_s: float | None = None
    callbacks: tuple[Any, ...] = ()
    note: Callable[[str], None] | None = None   # told how long the first trial waited for warm workers


def run_job(job: TuneJob) -> None:
    """Run `job` through Ray Tune in the Ray this process has (`session`), once its warm
    workers (if it started them) have imported what a trial needs."""
    if _warm is not None and _warm.waited_s is None:
        warm = _warm.wait()
        if job.note is not None:
            job.note(f"trial workers: {_warm.ready()} of {_warm.size} warm in {_warm.waited_s:.1f} s" if warm else
                     f"trial workers: {_warm.ready()} of {_warm.size} warm after {_warm.waited_s:.0f} s; "
                     "the first trials start as the rest come")
    # Tune's own tables stay off: with verbose=0 the legacy reporter prints nothing; the
    # job's listener shows the progress instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # A trial error is one line (TrialErrors), not Tune's traceback; and Tune's warnings point at
    # Tuner.restore, where a momnas job resumes from its study or its folder instead.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    # Tune's result.json and progress.csv per trial stay (a Ray user looks there); its
    # TensorBoard files go unless asked for (--log-to tensorboard: search._trackers).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    quiet = {name: logging.getLogger(name) for name in ("ray.tune", "ray.tune.tune")}
    levels = {name: logger.level for name, logger in quiet.items()}
    quiet["ray.tune"].setLevel(logging.ERROR)
    quiet["ray.tune.tune"].setLevel(logging.CRITICAL)  # "Trials did not complete": each has had its line
    search_alg = job.search_alg if job.search_alg is not None else FixedConfigs(job.configs)
    trainable_fn = tune.with_parameters(trainable, task=SharedTask(job.task)) if job.task is not None else trainable
    tuner = tune.Tuner(
        tune.with_resources(trainable_fn, job.resources),
        tune_config=tune.TuneConfig(
            search_alg=search_alg, scheduler=job.scheduler, num_samples=job.num_samples,
            max_concurrent_trials=job.max_concurrent, reuse_actors=True, time_budget_s=job.time_budget_s,
            trial_name_creator=trial_name),
        run_config=tune.RunConfig(
            name=job.name, storage_path=str(job.run_dir.resolve()), verbose=0,
            callbacks=[CSVLoggerCallback(), JsonLoggerCallback(), *job.callbacks],
            failure_config=tune.FailureConfig(max_failures=0)),
    )
    try:
        tuner.fit()
    finally:
        for name, logger in quiet.items():
            logger.setLevel(levels[name])


def trial_name(trial) -> str:
    """Tune's name of a trial, which its folder under OUT/ray and the trackers' runs show: a
    search trial's number and family (`00012-momentum-lstm`), else the last two parts of its
    folder (a confirmation's `trial-00012-seed-4`)."""
    folder = Path(trial.config.get(_record.TRIAL_DIR_KEY) or trial.trial_id)
    family = trial.config.get(_record.FAMILY_KEY)
    return f"{folder.name}-{family}" if family else "-".join(folder.parts[-2:])


class FixedConfigs(tune.search.Searcher):
    """Suggests the given trial configs, one each, in order (a confirmation's or a reproduction's runs)."""

    def __init__(self, configs: tuple[dict[str, Any], ...] | list[dict[str, Any]]):
        super().__init__(metric=None, mode=None)
        self.configs, self.next = list(configs), 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.next >= len(self.configs):
            return tune.search.Searcher.FINISHED
        self.next += 1
        return self.configs[self.next - 1]

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass


def most_at_once(resources: "_resources.TrialResources", max_concurrent: int | None) -> int:
    """Trials at once: `max_concurrent`, or as many as the live nodes hold at the tightest packing.
    (Told nothing, Tune keeps one trial pending at a time for a searcher of its own and starts
    each worker only once the previous one is up.)"""
    return max_concurrent or resources.most_at_once(alive_nodes())


class RunEvents(tune.Callback):
    """Tells a listener (search._search.Listener) of each fixed run started and finished, by the
    label of its folder: the progress of a confirmation or a reproduction."""

    def __init__(self, labels: dict[str, tuple[str, str]], listener, metric: str):
        self.labels, self.listener, self.metric = labels, listener, metric
        self.started: dict[str, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"labels": self.labels, "listener": None, "metric": self.metric, "started": {}}

    def _label(self, trial) -> tuple[str, str]:
        return self.labels.get(trial.config.get(_record.TRIAL_DIR_KEY, ""), ("?", "?"))

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        if self.listener is not None:
            number, label = self._label(trial)
            self.started[number] = time.monotonic()
            self.listener.trial_drawn(number, label, None)
            self.listener.trial_started(number)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        if self.listener is not None:
            number, label = self._label(trial)
            outcome = _record.outcome(trial.last_result or {}, metric=self.metric)
            seconds = time.monotonic() - self.started.pop(number, time.monotonic())
            self.listener.trial_finished(number, label, outcome.status, outcome.values, seconds, outcome.error)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        if self.listener is not None:
            number, label = self._label(trial)
            self.started.pop(number, None)
            self.listener.trial_finished(number, label, "failed", None, None, death_reason(trial_exception(trial)))
