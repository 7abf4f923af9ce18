"""The one module of momnas that touches Ray: runs.train wrapped as a Tune trainable, the
Optuna searcher that records what each trial leaves in the study, and the Tuner that runs them.

The searcher (OptunaSearch) lives in the driver and owns the study's ask/tell; the trials
run in Ray workers, each reporting every evaluation through runs' report hook. Everything
the study stores is written by the driver, so one process writes the storage (SQLite stays
happy) while any number of workers train. Through Ray Client (--address ray://...) Tune
runs that driver on the head: the searcher, its storage and artifact store are pickled there
(so paths must be absolute and reachable from the head), and StudyWatcher shows the progress
here from the storage.
"""

from __future__ import annotations

import json
import math
import logging
import os
import pickle
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import optuna
import ray
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from search import _record, _resources
from search._order import LongestFirst

from search._record import OBJECTIVES_KEY, RUN_KEY, THREADS_KEY, TRIAL_DIR_KEY


def trainable(config: dict[str, Any]) -> None:
    """One trial: train the run config Optuna suggested, reporting every evaluation to Tune."""
    import torch

    import runs

    # One trial per CPU it was given: several trials share a machine without oversubscribing it.
    torch.set_num_threads(int(config[THREADS_KEY]))
    trial_dir = config[TRIAL_DIR_KEY]
    # Tune checks every report for the searcher's metrics: the last one carries them as NaN
    # where the run has none (the searcher decides the trial's state from momnas_status).
    final: dict[str, Any] = {_record.TRIAL_DIR: trial_dir, _record.NODE: ray.get_runtime_context().get_node_id(),
                             **{name: math.nan for name in config[OBJECTIVES_KEY]}}

    def report(snapshot: dict[str, Any]) -> bool:
        tune.report({k: float(v) for k, v in snapshot.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        return False

    try:
        run_config = runs.RunConfig.from_dict(_resources.trial_device(config[RUN_KEY]))
        result = runs.train(run_config, report=report, out_dir=trial_dir)
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


class StudySearch(OptunaSearch):
    """OptunaSearch that records each finished trial the way docs/architecture.md says:
    user attributes (status, metrics, gradient profile, artifacts), artifacts, and the state
    (COMPLETE / FAIL / PRUNED) from the run's own status rather than Tune's."""

    def __init__(self, *, space: Callable, task_metric: str, artifact_store, progress, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        self._task_metric = task_metric
        self._artifact_store = artifact_store
        self._progress = progress
        self._started: dict[str, float] = {}

    # Tune pickles the searcher (tuner.pkl, periodic searcher checkpoints): the live progress
    # display holds a terminal and locks, and stays with this process.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_progress"] = None
        return state

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__getstate__(), f)

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        if config is not None:
            ot_trial = self._ot_trials[trial_id]
            self._started[trial_id] = time.monotonic()
            if self._progress is not None:
                self._progress.trial_started(ot_trial.number, ot_trial.user_attrs.get("family", "?"))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        outcome = _record.outcome(result, metric=self._task_metric)
        if error and outcome.state == optuna.trial.TrialState.COMPLETE:
            outcome.state, outcome.values = optuna.trial.TrialState.FAIL, None
        _record.record(ot_trial, outcome, artifact_store=self._artifact_store, storage=self._ot_study._storage)
        self._ot_study.tell(ot_trial, outcome.values, state=outcome.state)
        self._completed_trials.add(trial_id)
        seconds = time.monotonic() - self._started.pop(trial_id, time.monotonic())
        if self._progress is not None:
            self._progress.trial_finished(
                ot_trial.number, ot_trial.user_attrs.get("family", "?"), outcome.attrs.get("status", "failed"),
                outcome.values, seconds, outcome.attrs.get("error"),
            )


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


def start_ray(address: str | None, *, num_cpus: int | None = None) -> bool:
    """Join `address` ("auto", "HOST:PORT", "ray://HOST:PORT") or start a quiet local Ray; True
    if this call connected (ray.shutdown() then only disconnects from a joined cluster)."""
    if ray.is_initialized():
        return False
    if address and "RAY_AUTH_MODE" not in os.environ:
        # A head started where a Ray token exists (~/.ray/auth_token, RAY_AUTH_TOKEN[_PATH])
        # demands it, and a driver sends it only in token mode (token-less clusters accept it too).
        _token_mode_if_token()
    # A local, private Ray needs no token.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        no_cluster = (f"no Ray cluster to join at {address!r} ({{}}); start one with `ray start --head` "
                      "or leave out --address for a local Ray")
        target = address
        if address.startswith("ray://"):
            try:
                import grpc  # noqa: F401  (Ray Client's transport: ray[client], a momnas dependency)
            except ImportError:
                raise ValueError(
                    f"--address {address} needs Ray Client, which this Python lacks: pip install grpcio "
                    f"(all that Ray's client extra adds, and a momnas dependency), or run momnas search on a cluster "
                    "node with --address auto"
                ) from None
            logging.getLogger("ray.util.client.logsclient").addFilter(_no_client_server_noise)
            target = address.removeprefix("ray://").split("/")[0]
            if not target.rpartition(":")[2].isdigit():
                target += ":10001"  # Ray Client's default port
        if target != "auto" and target.rpartition(":")[2].isdigit():
            # ray.init retries an unreachable GCS for minutes, logging every try, and Ray Client
            # for 30 s with a warning: refuse at once.
            host, _, port = target.rpartition(":")
            try:
                socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=5).close()
            except OSError as exc:
                raise ValueError(no_cluster.format(f"{type(exc).__name__}: {exc}")) from None
        no_token = (f"the Ray cluster at {address!r} uses token authentication and this machine lacks its "
                    "token: copy it to ~/.ray/auth_token or RAY_AUTH_TOKEN, and unset RAY_AUTH_MODE (or set it to token)")
        if address.startswith("ray://"):
            # Ray Client retries for 30 s whatever the server said, then says "connection timeout".
            refused = _ping_client_server(target)
            if refused == "UNAUTHENTICATED":
                raise ValueError(no_token)
            if refused == "UNIMPLEMENTED":
                raise ValueError(no_cluster.format(
                    "something listens there, but not a Ray Client server: give the head's client server port, "
                    "10001 unless `ray start --head --ray-client-server-port` said otherwise"))
        for attempt in (1, 2):
            try:
                ray.init(address=address, **kwargs)
                break
            except (ConnectionError, RuntimeError) as exc:
                if "InvalidAuthToken" in repr(exc.__cause__) + repr(exc.__cause__ and exc.__cause__.__cause__):
                    raise ValueError(no_token) from None
                # Ray Client starts a server per driver on the head, and that start has been seen
                # to fail at random ("Initialization failure from server", once in ~13 connections,
                # the next one fine): try once more before giving up.
                if attempt == 1 and address.startswith("ray://") and "Initialization failure from server" in str(exc):
                    continue
                raise ValueError(no_cluster.format(str(exc).splitlines()[0])) from None
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
    return True


def _ping_client_server(target: str) -> str | None:
    """The gRPC status name with which the Ray Client server at `target` refuses a ping (with
    this process's token, if any), or None if it answers or cannot be asked."""
    try:
        import grpc
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc
    except ImportError:  # another Ray: its ray.init says what is wrong, if slowly
        return None
    try:
        channel = init_grpc_channel(target, options=[], asynchronous=False)
    except Exception:  # another Ray's signature: leave it to ray.init
        return None
    try:
        ping = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
        ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(ping, timeout=10)
    except grpc.RpcError as exc:
        return exc.code().name
    finally:
        channel.close()
    return None


def _no_client_server_noise(record: logging.LogRecord) -> bool:
    # Ray Client streams the head's client server log here, which starts with its ray.init
    # in a thread saying that it sets no SIGTERM handler: nothing for the user.
    return "SIGTERM handler is not set" not in record.getMessage()


def _token_mode_if_token() -> None:
    """Ray's own rule for a new head: token mode when RAY_AUTH_MODE is unset and a token exists."""
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:  # a Ray without token authentication
        return
    quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        quiet.setLevel(level)


def check_fits(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Refuse trials that no node of the joined Ray cluster could host: Tune would wait for
    them forever. (A trial runs on one node, so the largest node counts, not the total.)"""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus_per_trial and r.get("GPU", 0) >= gpus_per_trial for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
    raise ValueError(
        f"no node of the Ray cluster has {cpus_per_trial:g} CPU(s) and {gpus_per_trial:g} GPU(s) for one trial "
        f"(largest node: {largest.get('CPU', 0):g} CPUs, {largest.get('GPU', 0):g} GPUs), so no trial could ever "
        "start; ask for less with --cpus-per-trial / --gpus-per-trial"
    )


def run_trials(
    *,
    space: Callable[[optuna.Trial], dict],
    storage: optuna.storages.BaseStorage,
    study_name: str,
    sampler: optuna.samplers.BaseSampler,
    metric: str,
    directions: list[str],
    n_trials: int,
    run_dir: Path,
    artifact_store,
    progress,
    cpus_per_trial: float,
    gpus_per_trial: float | str,
    max_concurrent: int | None,
    address: str | None,
    mps: str = "off",
    time_budget_s: float | None = None,
) -> None:
    """Run `n_trials` more trials of the (already created) study through Ray Tune."""
    # Tune's own tables stay off: with verbose=0 the legacy reporter prints nothing (the new
    # one still prints its configuration box); our Progress shows the search instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune's warnings point at Tuner.restore on Ctrl-C; a momnas search resumes with --resume
    # from the Optuna study instead (and says so when it ends).
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    started_ray = start_ray(address)
    try:
        gpus = _resources.ray_gpus()
        resources = _resources.trial_resources(gpus_per_trial, cpus_per_trial, gpus)
        if progress is not None:
            progress.console.print(resources.describe(gpus_per_trial, gpus, mps))
        check_fits(cpus_per_trial, resources.largest_gpus)
        searcher = StudySearch(
            space=space,
            metric=_record.objective_names(metric),
            mode=["max" if d == "maximize" else "min" for d in directions],
            sampler=sampler,
            study_name=study_name,
            storage=storage,
            task_metric=metric,
            artifact_store=artifact_store,
            progress=progress,
        )
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            tune_config=tune.TuneConfig(
                search_alg=LongestFirst(searcher, total=n_trials),
                num_samples=n_trials,
                max_concurrent_trials=max_concurrent,
                reuse_actors=True,
                time_budget_s=time_budget_s,
            ),
            run_config=tune.RunConfig(
                name=study_name,
                storage_path=str(run_dir.resolve()),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        # Through Ray Client, Tune runs the searcher on the head (it drops the progress when
        # pickled there): the study in the storage says what the trials did.
        watcher = StudyWatcher(storage, study_name, progress) if progress is not None and address and address.startswith("ray://") else None
        if watcher is not None:
            watcher.start()
        try:
            tuner.fit()
        finally:
            if watcher is not None:
                watcher.stop()
    finally:
        if started_ray:
            ray.shutdown()

