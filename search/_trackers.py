"""Experiment trackers (`--log-to`): Ray Tune's own logger callbacks, recording each trial's curves.

    TRACKERS["tensorboard"]  ray.tune.logger.TBXLoggerCallback: OUT/STUDY/tensorboard/TRIAL/events.out.tfevents.*
    TRACKERS["mlflow"]       ray.air.integrations.mlflow.MLflowLoggerCallback: experiment STUDY in
                             sqlite:///OUT/STUDY/mlflow.db, or in $MLFLOW_TRACKING_URI where set
    TRACKERS["wandb"]        ray.air.integrations.wandb.WandbLoggerCallback: project STUDY, local files in
                             OUT/STUDY/wandb (or $WANDB_DIR/wandb); offline where WANDB_MODE=offline

Each trial is one run, named as Tune names it (search._ray.trial_name: `00012-momentum-lstm`),
with the trial's Tune config (its run config, never the storage URL) as its parameters. A run
records every evaluation of the trial at step = the evaluation's number (Tune's
`training_iteration`: the epoch, as trials evaluate once an epoch unless `eval_every` is set),
with what the evaluation reported: `val_<metric>` and `instability` (the two objectives),
`epoch`, `train_loss`, `lr`, ... The trial's closing report (how it ended) is not a point of
its curves, and Tune's and momnas's bookkeeping stays out.

Adding a tracker is one entry of TRACKERS. This module imports nothing heavy: the config checks
names and packages through it, and a tracker's Ray and client modules load when its callback is made.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from search.errors import BadInput


@dataclasses.dataclass(frozen=True)
class Tracker:
    """One choice of --log-to."""

    module: str                                    # what its Ray Tune callback writes with
    pip: str                                       # the package that brings it
    callback: Callable[[Path, str], Any]           # (the study's folder OUT/STUDY, the study's name) -> a Tune callback
    where: Callable[[Path, str], str]              # the same -> where it writes, in words


class _Curves:
    """Mixed into a Ray Tune LoggerCallback: only the trial's evaluations reach it, and of each
    only what the trial reported (and Tune's `training_iteration`, the step). Its `folder` is
    made when Tune sets the callback up, so that making the callback writes nothing."""

    folder: Path | None = None

    def setup(self, *args, **kwargs) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        super().setup(*args, **kwargs)

    def log_trial_result(self, iteration: int, trial, result: dict[str, Any]) -> None:
        if "epoch" not in result:  # the trial's closing report: how it ended, not a point of its curves
            return
        super().log_trial_result(iteration, trial, _evaluation(result))


def _evaluation(result: dict[str, Any]) -> dict[str, Any]:
    """What runs reported of one evaluation, plus the step: Tune's own keys (the trial's whole
    config among them) and momnas's bookkeeping (`momnas_*`) would be curves of their own."""
    from ray.tune.result import AUTO_RESULT_KEYS, DONE, TRAINING_ITERATION, TRIAL_ID

    tune_keys = {*AUTO_RESULT_KEYS, DONE, TRIAL_ID}
    kept = {k: v for k, v in result.items() if k not in tune_keys and not k.startswith("momnas_")}
    return {**kept, TRAINING_ITERATION: result[TRAINING_ITERATION]}


# ---------------------------------------------------------------------------- TensorBoard


def _tensorboard(folder: Path, study: str):
    from ray.tune.logger import TBXLoggerCallback

    class TensorBoard(_Curves, TBXLoggerCallback):
        """Tune's TensorBoard logger, writing each trial's event file into `logdir/TRIAL NAME`
        (Tune's own writes into its staging folder under /tmp/ray, copied to OUT/ray now and then)."""

        def __init__(self, logdir: Path):
            super().__init__()
            self.logdir = logdir

        def log_trial_start(self, trial) -> None:
            if trial in self._trial_writer:
                self._trial_writer[trial].close()
            self._trial_writer[trial] = self._summary_writer_cls(str(self.logdir / str(trial)), flush_secs=30)
            self._trial_result[trial] = {}

    return TensorBoard(folder / "tensorboard")


def _tensorboard_where(folder: Path, study: str) -> str:
    return f"tensorboard --logdir {(folder / 'tensorboard').resolve()}"


# ---------------------------------------------------------------------------- MLflow


_OUR_MLFLOW_URIS: set[str] = set()  # the stores this process chose (see _mlflow_uri)


def _mlflow_uri(folder: Path) -> str:
    """MLFLOW_TRACKING_URI where the user set it, else a SQLite store beside the study's figures.
    (MLflow 3 refuses its file store `mlruns/` unless told to: a database is its default. And
    MLflow copies the URI it is given into MLFLOW_TRACKING_URI: one of ours found there is not
    the user's, and the next study of this process gets its own.)"""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    if given and given not in _OUR_MLFLOW_URIS:
        return given
    uri = f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    _OUR_MLFLOW_URIS.add(uri)
    return uri


def _mlflow(folder: Path, study: str):
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class MLflow(_Curves, MLflowLoggerCallback):
        """Tune's MLflow logger: a run per trial in the study's experiment."""

    uri = _mlflow_uri(folder)
    callback = MLflow(tracking_uri=uri, experiment_name=study, tags={"momnas.study": study})
    if uri in _OUR_MLFLOW_URIS:
        callback.folder = folder  # the SQLite file's
    return callback


def _mlflow_where(folder: Path, study: str) -> str:
    from search._study import public_url

    return f"mlflow {public_url(_mlflow_uri(folder))}, experiment {study}"


# ---------------------------------------------------------------------------- Weights & Biases


def _wandb_dir(folder: Path) -> Path:
    return Path(os.environ.get("WANDB_DIR") or folder).resolve()


# Ray versions [from, to) whose W&B logging actor (`_WandbLoggingActor`, internal) is known.
WANDB_ACTOR_TESTED = ((2, 40), (3, 0))


def _wandb(folder: Path, study: str):
    """Tune's W&B logger callback. One internal piece of Ray: its logging actor's class
    (`_WandbLoggingActor`, set through the callback's `_logger_actor_cls`), subclassed to wait
    for W&B's last write, only on the Ray versions it was tested with (WANDB_ACTOR_TESTED;
    tests/search/test_search_trackers.py checks it); elsewhere Ray's own actor is used."""
    import ray
    from ray.air.integrations.wandb import WandbLoggerCallback

    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if WANDB_ACTOR_TESTED[0] <= version < WANDB_ACTOR_TESTED[1]:
        from ray.air.integrations.wandb import _WandbLoggingActor
    else:
        _WandbLoggingActor = None

    class Logging(_WandbLoggingActor or object):
        """Ray's actor that makes a trial's W&B run, waiting at the end until W&B has written it:
        Ray kills the actor as soon as `run` returns, and wandb.finish() returns before wandb-core
        has written the run's file (so the last run of a job could be left empty, 7 bytes)."""

        def run(self) -> None:
            super().run()
            self._wandb.teardown()

    class WandB(_Curves, WandbLoggerCallback):
        """Tune's W&B logger: a run per trial (in a Ray actor of its own) in the study's project."""

    if _WandbLoggingActor is not None:
        WandB._logger_actor_cls = Logging  # Ray's (internal) hook for its logging actor's class

    # Each run is made in a Ray actor, whose environment is Ray's: the mode and folder go with it.
    kwargs = {"dir": str(_wandb_dir(folder))}
    if os.environ.get("WANDB_MODE"):
        kwargs["mode"] = os.environ["WANDB_MODE"]
    callback = WandB(project=study, **kwargs)
    callback.folder = Path(kwargs["dir"])  # wandb.init falls back to a temp folder where it is missing
    if not _wandb_credentials():  # now, before Ray starts: Tune's set-up of the callback would raise mid-job
        raise BadInput("search: --log-to wandb: no W&B API key; run `wandb login`, set WANDB_API_KEY, "
                       "or set WANDB_MODE=offline to write the runs locally (wandb sync uploads them later)")
    return callback


def _wandb_credentials() -> bool:
    """Whether W&B can record: offline or disabled, or an API key found without prompting for one
    (WANDB_API_KEY, W&B's settings, ~/.netrc)."""
    if os.environ.get("WANDB_MODE") in ("offline", "disabled"):
        return True
    import wandb

    return wandb.login(prompt=False, verify=False)


def _wandb_where(folder: Path, study: str) -> str:
    mode = os.environ.get("WANDB_MODE", "online")
    files = _wandb_dir(folder) / "wandb"
    if mode == "offline":
        return f"wandb project {study}, offline in {files} (wandb sync {files}/offline-run-* uploads them)"
    return f"wandb project {study} ({mode}), local files in {files}"


TRACKERS: dict[str, Tracker] = {
    "tensorboard": Tracker("tensorboardX", "tensorboardX", _tensorboard, _tensorboard_where),
    "mlflow": Tracker("mlflow", "mlflow-skinny", _mlflow, _mlflow_where),
    "wandb": Tracker("wandb", "wandb", _wandb, _wandb_where),
}


def check_log_to(value: Any) -> tuple[str, ...]:
    """`--log-to`'s trackers, each once in the order given; a BadInput for an unknown one or one
    whose package is not installed (found without importing it)."""
    names = [value] if isinstance(value, str) else [] if value is None else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise BadInput(f"search: `log_to` must be a list of trackers ({', '.join(TRACKERS)}), got {value!r}")
    for name in names:
        if name not in TRACKERS:
            raise BadInput(f"search: unknown tracker {name!r} for --log-to; choose among {', '.join(TRACKERS)}")
        tracker = TRACKERS[name]
        if importlib.util.find_spec(tracker.module) is None:
            # No brackets (momnas[trackers]): the command line's console would take them for markup.
            raise BadInput(f"search: --log-to {name} needs the {tracker.module} package: pip install {tracker.pip} "
                           "(momnas's `trackers` extra installs every tracker)")
    return tuple(dict.fromkeys(names))


def callbacks(log_to: tuple[str, ...], folder: Path, study: str) -> tuple[Any, ...]:
    """Fresh Tune callbacks for one job (a callback keeps its trials' writers and runs) of the
    trackers `log_to`, writing for `study` under its folder OUT/STUDY."""
    return tuple(TRACKERS[name].callback(folder, study) for name in check_log_to(log_to))


def where(log_to: tuple[str, ...], folder: Path, study: str) -> str:
    """One line: where each tracker of `log_to` wrote."""
    return "trackers: " + "; ".join(TRACKERS[name].where(folder, study) for name in log_to)
