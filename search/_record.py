"""What a study stores about its trials and itself, in one place: written here, read through
`TrialRecord` and `StudyRecord`.

A trial's state and values are Optuna's; everything else a search learns about a trial (its
run config, family, status, metrics, learning curve, gradient profile, what its start cost,
whether it was a prior, which bracket it ran in, where early stopping ended it) is a user
attribute, named only in this module. Plots, status, export, confirmation and the watcher of
a remote search read trials through `TrialRecord.of(trial)`, so the storage layout can change
here alone (docs/architecture.md, "Studies").

The rules: completed runs are COMPLETE, diverged and failed runs FAIL, runs stopped early (by
the early-stopping scheduler) PRUNED, without objective values; a trial the search left
unfinished is FAIL with `interrupted` and its parameters queued again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState

# Keys of a trial's Tune config, set by the search's define-by-run wrapper (search._trial).
RUN_KEY = "momnas_run"                # the trial's full run config {"cell", "task", "train"}
TRIAL_DIR_KEY = "momnas_trial_dir"    # where runs.train writes the trial's files
OBJECTIVES_KEY = "momnas_objectives"  # the study's metric names, which every Tune report carries
FAMILY_KEY = "momnas_family"          # the trial's family (the scheduler ranks within it early on)
RUNGS_KEY = "momnas_rungs"            # the epochs at which early stopping may rank the trial ([]: never)
PRIOR_KEY = "momnas_prior"            # the published cell the trial is, or None (priors start first)

# Keys of the trainable's last report (flat scalars and JSON strings, as Tune results want).
STATUS = "momnas_status"
METRICS = "momnas_metrics"
GRAD_PROFILE = "momnas_grad_profile"
ERROR = "momnas_error"
TRIAL_DIR = "momnas_trial_dir"
NODE = "momnas_node_id"               # the Ray node the trial ran on
# Carried by every report of a trial that took a training step (search._trial.trainable):
STARTUP = "momnas_startup_s"          # trainable entered -> first training step done, seconds
ENTERED_AT = "momnas_entered_at"      # when the trainable was entered (time.time() of its node)
WORKER_TRIAL = "momnas_worker_trial"  # 1 for the first trial of its worker process, 2 for the next, ...

MAX_PROFILE_POINTS = 256
_STATES = {"completed": TrialState.COMPLETE, "stopped": TrialState.PRUNED}


class _Trial:
    """A trial's user-attribute names (nowhere else)."""

    FAMILY, STATUS, ERROR, RUN_CONFIG, METRICS = "family", "status", "error", "run_config", "metrics"
    CURVE, PROFILE, PROFILE_T = "curve", "grad_profile", "grad_profile_t"
    PRIOR, RUNGS, STOPPED_AT = "prior", "rungs", "stopped_at_epoch"
    INTERRUPTED, REQUEUED_FROM = "interrupted", "requeued_from"
    STARTUP_S, START_WAIT_S, WORKER_TRIAL, NODE = "startup_s", "start_wait_s", "worker_trial", "ray_node_id"
    ARTIFACTS, ARTIFACTS_MISSING = "artifacts", "artifacts_missing"


class _Study:
    """A study's user-attribute names (nowhere else)."""

    TASK, METRIC, DIRECTION, SPACE, SPACE_SPEC = "task", "metric", "direction", "space", "space_spec"
    ARTIFACT_DIR, CONFIG, TARGET, RUNGS, CONFIRMED = "artifact_dir", "search_config", "target_epochs", "rungs", "confirmed"


def objective_names(metric: str) -> list[str]:
    """The study's metric names: the task's validation metric, then gradient instability."""
    return [f"val_{metric}", "instability"]


def _finite(values: Any) -> bool:
    return values is not None and all(v is not None and math.isfinite(v) for v in values)


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """A typed view of one trial of a momnas study (read-only; `TrialRecord.of(trial)`)."""

    number: int
    state: TrialState
    values: list[float] | None
    params: dict[str, Any]
    family: str
    status: str                       # completed, stopped, diverged, failed, interrupted, not started, or the state
    run_config: dict[str, Any]        # {"cell", "task", "train"} as the trial trained it
    metrics: dict[str, Any] | None    # its metrics.json
    curve: list[dict[str, Any]]       # [{"epoch", "metric", "instability"}, ...]: every evaluation's objectives
    grad_profile: list[float | None]  # ‖∂L/∂h_t‖ of its last evaluation (None: not finite) ...
    grad_profile_t: list[int]         # ... at these time steps
    error: str | None
    prior: str | None                 # the published cell this trial is (a warm start), else None
    rungs: list[float] | None         # the epochs early stopping could rank it at ([]: never; None: unknown)
    stopped_at: float | None          # the rung at which early stopping ended it
    interrupted: bool                 # left unfinished by its search (FAIL) and re-queued
    requeued_from: int | None
    startup_s: float | None
    start_wait_s: float | None
    worker_trial: int | None
    node: str | None
    artifacts: dict[str, str]         # file name -> artifact id
    artifacts_missing: str | None
    trial: FrozenTrial

    @classmethod
    def of(cls, trial: FrozenTrial) -> "TrialRecord":
        a = trial.user_attrs
        return cls(
            number=trial.number, state=trial.state, values=trial.values, params=dict(trial.params),
            family=str(a.get(_Trial.FAMILY, "?")), status=str(a.get(_Trial.STATUS, trial.state.name.lower())),
            run_config=a.get(_Trial.RUN_CONFIG) or {}, metrics=a.get(_Trial.METRICS),
            curve=list(a.get(_Trial.CURVE) or []), grad_profile=list(a.get(_Trial.PROFILE) or []),
            grad_profile_t=list(a.get(_Trial.PROFILE_T) or []), error=a.get(_Trial.ERROR),
            prior=a.get(_Trial.PRIOR), rungs=a.get(_Trial.RUNGS), stopped_at=a.get(_Trial.STOPPED_AT),
            interrupted=bool(a.get(_Trial.INTERRUPTED)), requeued_from=a.get(_Trial.REQUEUED_FROM),
            startup_s=a.get(_Trial.STARTUP_S), start_wait_s=a.get(_Trial.START_WAIT_S),
            worker_trial=a.get(_Trial.WORKER_TRIAL), node=a.get(_Trial.NODE),
            artifacts=dict(a.get(_Trial.ARTIFACTS) or {}), artifacts_missing=a.get(_Trial.ARTIFACTS_MISSING),
            trial=trial,
        )

    @property
    def completed(self) -> bool:
        """COMPLETE with finite objective values: a point a Pareto front can be made of."""
        return self.state == TrialState.COMPLETE and _finite(self.values)

    @property
    def counts(self) -> bool:
        """Whether it counts towards `--trials`: finished, and not left unfinished by its search."""
        return self.state.is_finished() and not self.interrupted

    @property
    def cell(self) -> dict[str, Any]:
        return self.run_config.get("cell") or {}

    @property
    def epochs_trained(self) -> float | None:
        """How far it trained: its curve's last epoch (None: no evaluation yet)."""
        return self.curve[-1]["epoch"] if self.curve else None

    @property
    def seconds(self) -> float | None:
        t = self.trial
        return (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None

    def recorded_values(self, metric: str) -> tuple[float | None, float | None]:
        """Its objective values; for a trial without values, what its metrics.json recorded, or
        where it has none (early stopping ended it), its learning curve's last point."""
        if self.values is not None and len(self.values) == 2:
            return self.values[0], self.values[1]
        if self.metrics is None and self.curve:
            return self.curve[-1].get("metric"), self.curve[-1].get("instability")
        metrics = self.metrics or {}
        return (metrics.get("validation") or {}).get(metric), (metrics.get("stability") or {}).get("instability")


@dataclasses.dataclass(frozen=True)
class StudyRecord:
    """A typed view of what a momnas search stored about its study."""

    name: str
    metric_names: list[str]
    directions: list[str]             # "maximize" / "minimize", per objective
    task: dict[str, Any] | None
    metric: str | None
    space: str | None
    space_spec: dict[str, Any] | None
    artifact_dir: str | None
    config: dict[str, Any] | None     # the search's flat config, storage masked
    target_epochs: int | None         # the epochs a trial trains unless stopped early
    rungs: list[float]                # every rung of the search's brackets, in epochs
    confirmed: dict[str, Any] | None  # the last confirmation's summary (search.confirm)

    @classmethod
    def of(cls, study: optuna.Study) -> "StudyRecord":
        """Of a study, or of the FrozenStudy a storage lists (`storage.get_all_studies()`)."""
        a = study.user_attrs
        metric = a.get(_Study.METRIC)
        names = list(getattr(study, "metric_names", None) or objective_names(metric or "metric"))
        return cls(
            name=study.study_name, metric_names=names,
            directions=["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions],
            task=a.get(_Study.TASK), metric=metric, space=a.get(_Study.SPACE), space_spec=a.get(_Study.SPACE_SPEC),
            artifact_dir=a.get(_Study.ARTIFACT_DIR), config=a.get(_Study.CONFIG), target_epochs=a.get(_Study.TARGET),
            rungs=list(a.get(_Study.RUNGS) or []), confirmed=a.get(_Study.CONFIRMED),
        )

    @property
    def maximize(self) -> bool:
        return bool(self.directions) and self.directions[0] == "maximize"


def trials(study: optuna.Study, states: tuple[TrialState, ...] | None = None) -> list[TrialRecord]:
    """The study's trials as records (in number order)."""
    return [TrialRecord.of(t) for t in study.get_trials(deepcopy=False, states=states)]


def finished_trials(study: optuna.Study) -> list[TrialRecord]:
    """Trials that count towards `--trials`: finished, not interrupted ones."""
    return [r for r in trials(study) if r.counts]


# ---------------------------------------------------------------------------- writing: the study


def write_study_header(study: optuna.Study, *, task: dict[str, Any], metric: str, direction: str, space: str,
                       space_spec: dict[str, Any], artifact_dir: str, config: dict[str, Any], target_epochs: int,
                       rungs: list[float]) -> None:
    """What a new study records about the search that made it (served by the dashboard)."""
    with warnings.catch_warnings():  # set_metric_names is "experimental" since Optuna 3.2: it is what the dashboard reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective_names(metric))
    for key, value in {_Study.TASK: task, _Study.METRIC: metric, _Study.DIRECTION: direction, _Study.SPACE: space,
                       _Study.SPACE_SPEC: space_spec, _Study.ARTIFACT_DIR: artifact_dir, _Study.CONFIG: config,
                       _Study.TARGET: target_epochs, _Study.RUNGS: rungs}.items():
        study.set_user_attr(key, value)


def write_confirmed(study: optuna.Study, summary: dict[str, Any]) -> None:
    study.set_user_attr(_Study.CONFIRMED, summary)


# ---------------------------------------------------------------------------- writing: a trial


def write_draw(trial: optuna.Trial, *, run_config: dict[str, Any], family: str, rungs: list[float]) -> None:
    """What a trial is, once the space has drawn it."""
    trial.set_user_attr(_Trial.RUN_CONFIG, run_config)
    trial.set_user_attr(_Trial.FAMILY, family)
    trial.set_user_attr(_Trial.RUNGS, rungs)


def prior_of(trial: optuna.Trial | FrozenTrial) -> str | None:
    """The published cell a trial was enqueued as (a warm start), or None."""
    return trial.user_attrs.get(_Trial.PRIOR)


def prior_attrs(label: str) -> dict[str, Any]:
    """The user attributes an enqueued prior carries from the start (`study.enqueue_trial(user_attrs=...)`)."""
    return {_Trial.PRIOR: label}


def write_curve(trial: optuna.Trial, curve: list[dict[str, Any]]) -> None:
    """The learning curve so far (written live, so that a study read mid-search shows it)."""
    trial.set_user_attr(_Trial.CURVE, curve)


def write_startup(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def write_failed_draw(trial: optuna.Trial, error: str) -> None:
    trial.set_user_attr(_Trial.STATUS, "failed")
    trial.set_user_attr(_Trial.ERROR, error)


@dataclasses.dataclass
class Outcome:
    state: TrialState
    values: list[float] | None
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    trial_dir: str | None = None

    @property
    def status(self) -> str:
        return self.attrs.get(_Trial.STATUS, "failed")

    @property
    def error(self) -> str | None:
        return self.attrs.get(_Trial.ERROR)

    def fail(self, error: str | None = None) -> None:
        """Make it a FAIL (an errored trial), keeping what it reported."""
        self.state, self.values = TrialState.FAIL, None
        if error is not None:
            self.attrs[_Trial.ERROR] = error
        if self.attrs.get(_Trial.STATUS) in (None, "completed"):
            self.attrs[_Trial.STATUS] = "failed"

    def with_curve(self, curve: list[dict[str, Any]], startup: dict[str, Any]) -> "Outcome":
        self.attrs[_Trial.CURVE] = curve
        self.attrs.update(startup)
        return self


def outcome(final: dict[str, Any] | None, *, metric: str) -> Outcome:
    """Turn the trainable's last report into the trial's state, values and user attributes."""
    if not final or STATUS not in final:
        return Outcome(TrialState.FAIL, None, {_Trial.STATUS: "failed",
                                               _Trial.ERROR: "the trial's process ended without a result (see the Ray logs)"})
    status = str(final[STATUS])
    attrs: dict[str, Any] = {_Trial.STATUS: status}
    metrics = json.loads(final[METRICS]) if final.get(METRICS) else None
    if metrics is not None:
        attrs[_Trial.METRICS] = metrics
    if final.get(GRAD_PROFILE):
        attrs.update(grad_profile_attrs(json.loads(final[GRAD_PROFILE])))
    if final.get(ERROR):
        attrs[_Trial.ERROR] = str(final[ERROR])
    if final.get(NODE):
        attrs[_Trial.NODE] = str(final[NODE])
    state = _STATES.get(status, TrialState.FAIL)
    values = None
    if state == TrialState.COMPLETE:
        values = _objectives(metrics, metric)
        if values is None:
            state = TrialState.FAIL
            attrs.setdefault(_Trial.ERROR, f"completed without finite val_{metric} and instability")
    return Outcome(state, values, attrs, final.get(TRIAL_DIR))


def stopped_early(epoch: float) -> Outcome:
    """A trial the early-stopping scheduler ended at `epoch`: PRUNED, without objective values
    (its truncated ones would sit on the Pareto front); its curve says how far it got."""
    return Outcome(TrialState.PRUNED, None, {_Trial.STATUS: "stopped", _Trial.STOPPED_AT: epoch})


def startup_attrs(report: dict[str, Any] | None, drawn_at: float | None) -> dict[str, Any]:
    """What a trial's start cost, from any of its reports (empty if it took no training step):
    `startup_s`, from its trainable's entry to its first training step done (imports, data,
    model, the first step with its kernels), `start_wait_s`, from the searcher drawing it
    (`drawn_at`, time.time()) to that entry (a free slot, Ray's worker process, the trainable's
    transfer), and `worker_trial`, 1 where the trial's worker process was new."""
    if not report or not isinstance(report.get(STARTUP), (int, float)):
        return {}
    attrs = {_Trial.STARTUP_S: round(float(report[STARTUP]), 3), _Trial.WORKER_TRIAL: int(report[WORKER_TRIAL])}
    if drawn_at is not None and isinstance(report.get(ENTERED_AT), (int, float)):
        attrs[_Trial.START_WAIT_S] = round(float(report[ENTERED_AT]) - drawn_at, 3)
    return attrs


def curve_point(report: dict[str, Any] | None, objectives: list[str]) -> dict[str, Any] | None:
    """One point of a learning curve from a per-evaluation report: its epoch, the validation
    metric and the instability (None where missing or not finite); None for other reports."""
    if not report or not isinstance(report.get("epoch"), (int, float)):
        return None
    metric, instability = (report.get(name) for name in objectives)

    def finite(value: Any) -> float | None:
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    return {"epoch": float(report["epoch"]), "metric": finite(metric), "instability": finite(instability)}


def objective_values(metrics: dict[str, Any] | None, metric: str) -> list[float]:
    """[validation metric, instability] of a metrics.json, NaN where missing."""
    out = []
    for path in (("validation", metric), ("stability", "instability")):
        try:
            out.append(float(metrics[path[0]][path[1]]))
        except (KeyError, TypeError, ValueError):
            out.append(math.nan)
    return out


def _objectives(metrics: dict[str, Any] | None, metric: str) -> list[float] | None:
    values = objective_values(metrics, metric)
    return values if all(math.isfinite(v) for v in values) else None


def grad_profile_attrs(profile: dict[str, list]) -> dict[str, list]:
    """`grad_profile` and `grad_profile_t` from the trainable's `{"t": [...], "norm": [...]}`
    (at most MAX_PROFILE_POINTS of them; JSON has no inf / nan: those are stored as None)."""
    norms = [float(v) for v in profile.get("norm") or []]
    if not norms:
        return {}
    t = [int(v) for v in profile.get("t") or range(1, len(norms) + 1)]
    if len(norms) > MAX_PROFILE_POINTS:
        keep = sorted({round(i * (len(norms) - 1) / (MAX_PROFILE_POINTS - 1)) for i in range(MAX_PROFILE_POINTS)})
        norms, t = [norms[i] for i in keep], [t[i] for i in keep]
    return {_Trial.PROFILE: [v if math.isfinite(v) else None for v in norms], _Trial.PROFILE_T: t}


def requeue(study: optuna.Study, storage, number: int, params: dict[str, Any], status: str) -> None:
    """A trial the search left unfinished (interrupted, or drawn but never started): FAIL with
    `status` and `interrupted` (so it does not count towards --trials), its parameters queued
    again for the next search of the study (--resume) to run first, a prior still a prior.
    `storage` is the study's."""
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)
    prior = storage.get_trial(trial_id).user_attrs.get(_Trial.PRIOR)
    storage.set_trial_user_attr(trial_id, _Trial.INTERRUPTED, True)
    storage.set_trial_user_attr(trial_id, _Trial.STATUS, status)
    study.tell(number, state=TrialState.FAIL)
    if params:
        attrs = {_Trial.REQUEUED_FROM: number, **(prior_attrs(prior) if prior else {})}
        study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)


def record(trial: optuna.Trial, result: Outcome, *, artifact_store, storage) -> dict[str, str]:
    """Write a finished trial's user attributes and upload its files as artifacts (before `tell`)."""
    for key, value in result.attrs.items():
        trial.set_user_attr(key, value)
    artifacts: dict[str, str] = {}
    folder = Path(result.trial_dir) if result.trial_dir else None
    if folder is not None and folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file():
                artifacts[path.name] = upload_artifact(
                    artifact_store=artifact_store, file_path=str(path), study_or_trial=trial, storage=storage
                )
    elif folder is not None:
        # On a cluster without a shared --out folder the files stay on the worker's machine.
        trial.set_user_attr(_Trial.ARTIFACTS_MISSING, f"{folder} is not visible where the search runs")
    trial.set_user_attr(_Trial.ARTIFACTS, artifacts)
    return artifacts
