"""What a study stores about its trials and itself, in one place: written here, read through
`TrialRecord` and `StudyRecord`.

A trial's state and values are Optuna's; everything else a search learns about a trial is
named only in this module, in one of two homes (docs/architecture.md, "Studies"):

- user attributes, each a few words or numbers, since optuna-dashboard shows each on one line
  that does not wrap: a trial's family, status, how far it trained, its bracket, what its start
  cost; a study's task in words, metric, space name, target and rungs;
- JSON files uploaded as Optuna artifacts into the study's artifact folder, which the dashboard
  lists beside each trial and study: a trial's run config (`run_config.json`, at its draw), its
  learning curve (`learning_curve.json`, rewritten after every evaluation, so that a running
  trial shows it), gradient profile, metrics and a long error in full; a study's task config,
  space, search config and last confirmation.

Plots, status, export, confirmation and the watcher of a remote search read trials through
`trials(study)` / `TrialRecord.of(trial, store)`, which read those files on first use of a
field, so the storage layout can change here alone. Studies written when everything was a
user attribute read the same: a record takes a field from the user attribute where it is one.

The rules: completed runs are COMPLETE, diverged and failed runs FAIL, runs stopped early (by
the early-stopping scheduler) PRUNED, without objective values; a trial the search left
unfinished is FAIL with `interrupted` and its parameters queued again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
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
WORKER_READY_AT = "momnas_worker_ready_at"  # when its worker had imported a trial's modules (a local Ray's warm pool)

MAX_PROFILE_POINTS = 256
ERROR_CHARS = 72  # an error's first line, cut to fit the dashboard's line; error.txt keeps it whole
_STATES = {"completed": TrialState.COMPLETE, "stopped": TrialState.PRUNED}
# Optuna lists an artifact in its trial's or study's system attributes under this prefix (optuna.artifacts;
# tests/search/test_search_record.py checks it against get_all_artifact_meta).
_ARTIFACT_PREFIX = "artifacts:"
# Explicit types: the system's guess for .pt is a console's ROM format on some machines.
_MIMETYPES = {".json": "application/json", ".txt": "text/plain"}
_BINARY = "application/octet-stream"


class _Trial:
    """A trial's user-attribute and file names (nowhere else)."""

    FAMILY, STATUS, ERROR, EPOCHS = "family", "status", "error", "epochs"
    PRIOR, RUNGS, STOPPED_AT = "prior", "rungs", "stopped_at_epoch"
    INTERRUPTED, REQUEUED_FROM = "interrupted", "requeued_from"
    STARTUP_S, START_WAIT_S, WORKER_TRIAL, NODE = "startup_s", "start_wait_s", "worker_trial", "ray_node_id"
    WORKER_READY_S = "worker_ready_s"
    ARTIFACTS_MISSING = "artifacts_missing"
    RUN_CONFIG_FILE, METRICS_FILE, CURVE_FILE = "run_config.json", "metrics.json", "learning_curve.json"
    PROFILE_FILE, ERROR_FILE = "grad_profile.json", "error.txt"
    # What studies written before the files kept as user attributes.
    OLD_RUN_CONFIG, OLD_METRICS, OLD_CURVE = "run_config", "metrics", "curve"
    OLD_PROFILE, OLD_PROFILE_T, OLD_ARTIFACTS = "grad_profile", "grad_profile_t", "artifacts"


class _Study:
    """A study's user-attribute and file names (nowhere else)."""

    TASK, METRIC, DIRECTION, SPACE, SPACE_DIGEST = "task", "metric", "direction", "space", "space_digest"
    ARTIFACT_DIR, TARGET, RUNGS, CONFIRMATION = "artifact_dir", "target_epochs", "rungs", "confirmation"
    TASK_FILE, SPACE_FILE, CONFIG_FILE, CONFIRMATION_FILE = "task.json", "space.json", "search_config.json", "confirmation.json"
    # What studies written before the files kept as user attributes (`task` was the dict).
    OLD_SPACE_SPEC, OLD_CONFIG, OLD_CONFIRMED = "space_spec", "search_config", "confirmed"


def objective_names(metric: str) -> list[str]:
    """The study's metric names: the task's validation metric, then gradient instability."""
    return [f"val_{metric}", "instability"]


def _finite(values: Any) -> bool:
    return values is not None and all(v is not None and math.isfinite(v) for v in values)


def space_digest(spec: dict[str, Any]) -> str:
    """A short fingerprint of a space's data: a resumed search compares it with the study's own."""
    canonical = json.dumps(json.loads(json.dumps(spec)), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def task_text(task: dict[str, Any]) -> str:
    """A task config in words, every key set: `adding T=20 n_train=256 ...` (a resumed search compares them)."""
    rest = " ".join(f"{k}={v}" for k, v in task.items() if k != "name" and v is not None)
    return f"{task.get('name', '?')} {rest}".strip()


def short_error(error: str) -> str:
    """An error's first line, at most ERROR_CHARS long."""
    line = (error.strip().splitlines() or [""])[0]
    return line if len(line) <= ERROR_CHARS else line[:ERROR_CHARS - 1] + "…"


# ---------------------------------------------------------------------------- artifacts


def _listed(system_attrs: dict[str, Any]) -> dict[str, str]:
    """File name -> artifact id of the artifacts listed in a trial's or study's system attributes
    (one deleted in the dashboard is listed as null)."""
    found = {}
    for key, value in system_attrs.items():
        if key.startswith(_ARTIFACT_PREFIX) and value:
            meta = json.loads(value)
            if meta:
                found[meta["filename"]] = meta["artifact_id"]
    return found


def _system_attrs(owner) -> dict[str, Any]:
    """The system attributes of a FrozenTrial, a live Trial, a Study or a FrozenStudy (a Study
    has no public accessor for them: optuna.artifacts reads them through its storage, as here)."""
    if isinstance(owner, optuna.Trial):
        return owner.storage.get_trial_system_attrs(owner._trial_id)
    if isinstance(owner, optuna.Study):
        return owner._storage.get_study_system_attrs(owner._study_id)
    return owner.system_attrs


def _read(store, artifact_id: str | None) -> Any:
    """An artifact's JSON, None where it is not in `store` or not whole (being rewritten)."""
    if store is None or artifact_id is None:
        return None
    from optuna.artifacts.exceptions import ArtifactNotFound

    try:
        with store.open_reader(artifact_id) as f:
            body = f.read()
    except (ArtifactNotFound, OSError):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _put(owner, name: str, data: Any, store, listed: dict[str, str]) -> str:
    """Write `data` as the artifact `name` of a live trial or a study: its content replaced where it
    has one of that name already (so the dashboard lists one, always current), else uploaded."""
    body = data.encode() if isinstance(data, str) else json.dumps(data, indent=2).encode()
    if name in listed:
        store.write(listed[name], io.BytesIO(body))
        return listed[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(body)
        listed[name] = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=owner,
                                       mimetype=_MIMETYPES.get(path.suffix, _BINARY))
    return listed[name]


def _upload_file(trial, path: Path, store, storage) -> str:
    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial, storage=storage,
                           mimetype=_MIMETYPES.get(path.suffix, _BINARY))


def folder_store(folder: str | Path | None) -> FileSystemArtifactStore | None:
    """The artifact store over `folder`, None where there is no such folder here."""
    return FileSystemArtifactStore(str(folder)) if folder and Path(folder).is_dir() else None


# ---------------------------------------------------------------------------- reading


_NOT_GIVEN = object()  # TrialRecord.of without a store (None: the study's artifacts are not on this machine)


def _no_store(trial: FrozenTrial, name: str):
    raise ValueError(f"trial {trial.number}'s {name} is an artifact: read the trials through search.finished_trials(study) "
                     "(or search._record.trials), or TrialRecord.of(trial, StudyRecord.of(study).store)")


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """A typed view of one trial of a momnas study (read-only; `TrialRecord.of(trial, store)`).

    `run_config`, `metrics`, `curve`, `grad_profile` and `grad_profile_t` are read from the
    trial's artifacts on first use."""

    number: int
    state: TrialState
    values: list[float] | None
    params: dict[str, Any]
    family: str
    status: str                       # completed, stopped, diverged, failed, interrupted, not started, or the state
    error: str | None                 # its first line (error.txt, an artifact, holds a long one whole)
    prior: str | None                 # the published cell this trial is (a warm start), else None
    rungs: list[float] | None         # the epochs early stopping could rank it at ([]: never; None: unknown)
    stopped_at: float | None          # the rung at which early stopping ended it
    interrupted: bool                 # left unfinished by its search (FAIL) and re-queued
    requeued_from: int | None
    startup_s: float | None
    start_wait_s: float | None
    worker_trial: int | None
    worker_ready_s: float | None      # its worker's imports done, from its draw (a warm pool's: negative)
    node: str | None
    artifacts: dict[str, str]         # file name -> artifact id
    artifacts_missing: str | None
    trial: FrozenTrial
    store: Any = dataclasses.field(default=_NOT_GIVEN, repr=False, compare=False)

    @classmethod
    def of(cls, trial: FrozenTrial, store=_NOT_GIVEN) -> "TrialRecord":
        """`store`: the study's artifact store on this machine (`StudyRecord.of(study).store`; None
        where it is not here: the fields it holds read as absent). Without it, reading a field the
        trial keeps in a file raises: only its user attributes are read."""
        a = trial.user_attrs
        return cls(
            number=trial.number, state=trial.state, values=trial.values, params=dict(trial.params),
            family=str(a.get(_Trial.FAMILY, "?")), status=str(a.get(_Trial.STATUS, trial.state.name.lower())),
            error=a.get(_Trial.ERROR), prior=a.get(_Trial.PRIOR), rungs=a.get(_Trial.RUNGS),
            stopped_at=a.get(_Trial.STOPPED_AT), interrupted=bool(a.get(_Trial.INTERRUPTED)),
            requeued_from=a.get(_Trial.REQUEUED_FROM), startup_s=a.get(_Trial.STARTUP_S),
            start_wait_s=a.get(_Trial.START_WAIT_S), worker_trial=a.get(_Trial.WORKER_TRIAL),
            worker_ready_s=a.get(_Trial.WORKER_READY_S), node=a.get(_Trial.NODE),
            artifacts={**_listed(trial.system_attrs), **(a.get(_Trial.OLD_ARTIFACTS) or {})},
            artifacts_missing=a.get(_Trial.ARTIFACTS_MISSING), trial=trial, store=store,
        )

    def _field(self, old_key: str, name: str) -> Any:
        """A user attribute of the old layout where the trial has it, else its artifact `name`."""
        if old_key in self.trial.user_attrs:
            return self.trial.user_attrs[old_key]
        if name not in self.artifacts:
            return None
        if self.store is _NOT_GIVEN:
            _no_store(self.trial, name)
        return _read(self.store, self.artifacts[name])

    @functools.cached_property
    def run_config(self) -> dict[str, Any]:
        """{"cell", "task", "train"} as the trial trained it ({} where it was never drawn)."""
        return self._field(_Trial.OLD_RUN_CONFIG, _Trial.RUN_CONFIG_FILE) or {}

    @functools.cached_property
    def metrics(self) -> dict[str, Any] | None:
        """Its metrics.json (None: the run wrote none)."""
        return self._field(_Trial.OLD_METRICS, _Trial.METRICS_FILE)

    @functools.cached_property
    def curve(self) -> list[dict[str, Any]]:
        """[{"epoch", "metric", "instability"}, ...]: every evaluation's objectives (None where not finite)."""
        return list(self._field(_Trial.OLD_CURVE, _Trial.CURVE_FILE) or [])

    @functools.cached_property
    def _profile(self) -> dict[str, list]:
        if _Trial.OLD_PROFILE in self.trial.user_attrs:
            a = self.trial.user_attrs
            return {"norm": list(a.get(_Trial.OLD_PROFILE) or []), "t": list(a.get(_Trial.OLD_PROFILE_T) or [])}
        return self._field(_Trial.OLD_PROFILE, _Trial.PROFILE_FILE) or {}

    @property
    def grad_profile(self) -> list[float | None]:
        """‖∂L/∂h_t‖ of its last evaluation (None: not finite) ..."""
        return list(self._profile.get("norm") or [])

    @property
    def grad_profile_t(self) -> list[int]:
        """... at these time steps."""
        return list(self._profile.get("t") or [])

    @property
    def files_elsewhere(self) -> bool:
        """Whether its run config is in a file that is not on this machine (the study's artifacts
        folder is elsewhere: another machine's --out)."""
        return (self.store is None and _Trial.RUN_CONFIG_FILE in self.artifacts
                and _Trial.OLD_RUN_CONFIG not in self.trial.user_attrs)

    @property
    def drawn(self) -> bool:
        """Whether the search has drawn its run config (a trial asked for but not drawn yet has none)."""
        return _Trial.FAMILY in self.trial.user_attrs

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
        """How far it trained: its last evaluation's epoch (None: no evaluation yet)."""
        epochs = self.trial.user_attrs.get(_Trial.EPOCHS)
        if epochs is not None or _Trial.OLD_CURVE not in self.trial.user_attrs:
            return epochs
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
    """A typed view of what a momnas search stored about its study.

    `space_spec`, `config` and `confirmed` are read from the study's artifacts on first use."""

    name: str
    metric_names: list[str]
    directions: list[str]             # "maximize" / "minimize", per objective
    task_text: str | None             # the task config in words (`task_text`)
    metric: str | None
    space: str | None
    artifact_dir: str | None          # the folder the search recorded for the study's artifacts
    target_epochs: int | None         # the epochs a trial trains unless stopped early
    rungs: list[float]                # every rung of the search's brackets, in epochs
    study: Any = dataclasses.field(repr=False, compare=False)  # the optuna Study (or FrozenStudy) it views

    @classmethod
    def of(cls, study: optuna.Study) -> "StudyRecord":
        """Of a study, or of the FrozenStudy a storage lists (`storage.get_all_studies()`)."""
        a = study.user_attrs
        metric = a.get(_Study.METRIC)
        names = list(getattr(study, "metric_names", None) or objective_names(metric or "metric"))
        return cls(
            name=study.study_name, metric_names=names,
            directions=["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions],
            task_text=task_text(a[_Study.TASK]) if isinstance(a.get(_Study.TASK), dict) else a.get(_Study.TASK),
            metric=metric, space=a.get(_Study.SPACE),
            artifact_dir=a.get(_Study.ARTIFACT_DIR), target_epochs=a.get(_Study.TARGET),
            rungs=list(a.get(_Study.RUNGS) or []), study=study,
        )

    @property
    def maximize(self) -> bool:
        return bool(self.directions) and self.directions[0] == "maximize"

    @functools.cached_property
    def store(self) -> FileSystemArtifactStore | None:
        """The study's artifact store on this machine: the folder beside the --out it was opened from
        (search.open_study), else the one the search recorded; None where neither is here."""
        here = getattr(self.study, "artifact_folder", None)
        return folder_store(here) or folder_store(self.artifact_dir)

    @functools.cached_property
    def _user_attrs(self) -> dict[str, Any]:
        return self.study.user_attrs

    @functools.cached_property
    def artifacts(self) -> dict[str, str]:
        """The study's own artifacts: file name -> artifact id."""
        return _listed(_system_attrs(self.study))

    def _field(self, old_key: str, name: str) -> Any:
        if isinstance(self._user_attrs.get(old_key), dict):
            return self._user_attrs[old_key]
        return _read(self.store, self.artifacts.get(name))

    @functools.cached_property
    def task(self) -> dict[str, Any] | None:
        """The runs TaskConfig dict (paths absolute)."""
        return self._field(_Study.TASK, _Study.TASK_FILE)

    @functools.cached_property
    def space_spec(self) -> dict[str, Any] | None:
        """The space as data (spaces.Space.to_data)."""
        return self._field(_Study.OLD_SPACE_SPEC, _Study.SPACE_FILE)

    @functools.cached_property
    def space_digest(self) -> str | None:
        """The fingerprint of the space it was made with (`space_digest`)."""
        digest = self._user_attrs.get(_Study.SPACE_DIGEST)
        if digest is None and isinstance(self._user_attrs.get(_Study.OLD_SPACE_SPEC), dict):
            digest = space_digest(self._user_attrs[_Study.OLD_SPACE_SPEC])
        return digest

    @functools.cached_property
    def config(self) -> dict[str, Any] | None:
        """The search's flat config, storage masked."""
        return self._field(_Study.OLD_CONFIG, _Study.CONFIG_FILE)

    @functools.cached_property
    def confirmed(self) -> dict[str, Any] | None:
        """The last confirmation's summary (search.confirm)."""
        return self._field(_Study.OLD_CONFIRMED, _Study.CONFIRMATION_FILE)


def trials(study: optuna.Study, states: tuple[TrialState, ...] | None = None) -> list[TrialRecord]:
    """The study's trials as records (in number order)."""
    store = StudyRecord.of(study).store
    return [TrialRecord.of(t, store) for t in study.get_trials(deepcopy=False, states=states)]


def best_trials(study: optuna.Study) -> list[TrialRecord]:
    """The study's Pareto set as records ([] before a trial completed)."""
    try:
        best = study.best_trials
    except (ValueError, RuntimeError):
        return []
    store = StudyRecord.of(study).store
    return [TrialRecord.of(t, store) for t in best]


def finished_trials(study: optuna.Study) -> list[TrialRecord]:
    """Trials that count towards `--trials`: finished, not interrupted ones."""
    return [r for r in trials(study) if r.counts]


# ---------------------------------------------------------------------------- writing: the study


def write_study_header(study: optuna.Study, *, store, task: dict[str, Any], metric: str, direction: str, space: str,
                       space_spec: dict[str, Any], artifact_dir: str, config: dict[str, Any], target_epochs: int,
                       rungs: list[float]) -> None:
    """What a new study records about the search that made it (served by the dashboard)."""
    with warnings.catch_warnings():  # set_metric_names is "experimental" since Optuna 3.2: it is what the dashboard reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective_names(metric))
    for key, value in {_Study.TASK: task_text(task), _Study.METRIC: metric, _Study.DIRECTION: direction, _Study.SPACE: space,
                       _Study.SPACE_DIGEST: space_digest(space_spec), _Study.ARTIFACT_DIR: artifact_dir,
                       _Study.TARGET: target_epochs, _Study.RUNGS: rungs}.items():
        study.set_user_attr(key, value)
    listed = _listed(_system_attrs(study))
    _put(study, _Study.TASK_FILE, task, store, listed)
    _put(study, _Study.SPACE_FILE, space_spec, store, listed)
    _put(study, _Study.CONFIG_FILE, config, store, listed)


def write_confirmed(study: optuna.Study, summary: dict[str, Any], *, headline: str, store) -> None:
    """The confirmation's summary (confirmation.json, replacing an earlier one) and its one line."""
    _put(study, _Study.CONFIRMATION_FILE, summary, store, _listed(_system_attrs(study)))
    study.set_user_attr(_Study.CONFIRMATION, headline)


# ---------------------------------------------------------------------------- writing: a trial


def write_draw(trial: optuna.Trial, *, run_config: dict[str, Any], family: str, rungs: list[float], store) -> None:
    """What a trial is, once the space has drawn it."""
    _put(trial, _Trial.RUN_CONFIG_FILE, run_config, store, {})
    trial.set_user_attr(_Trial.FAMILY, family)
    trial.set_user_attr(_Trial.RUNGS, rungs)


def prior_of(trial: optuna.Trial | FrozenTrial) -> str | None:
    """The published cell a trial was enqueued as (a warm start), or None."""
    return trial.user_attrs.get(_Trial.PRIOR)


def prior_attrs(label: str) -> dict[str, Any]:
    """The user attributes an enqueued prior carries from the start (`study.enqueue_trial(user_attrs=...)`)."""
    return {_Trial.PRIOR: label}


def write_curve(trial: optuna.Trial, curve: list[dict[str, Any]], *, store) -> None:
    """The learning curve so far (written live, so that a study read mid-search shows it)."""
    _put(trial, _Trial.CURVE_FILE, curve, store, _listed(_system_attrs(trial)))
    if curve:
        trial.set_user_attr(_Trial.EPOCHS, curve[-1]["epoch"])


def write_startup(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def write_failed_draw(trial: optuna.Trial, error: str) -> None:
    trial.set_user_attr(_Trial.STATUS, "failed")
    trial.set_user_attr(_Trial.ERROR, short_error(error))


@dataclasses.dataclass
class Outcome:
    """A finished trial's state and values, its user attributes and the files to upload with it."""

    state: TrialState
    values: list[float] | None
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    files: dict[str, Any] = dataclasses.field(default_factory=dict)  # artifact name -> its JSON (or text)
    trial_dir: str | None = None
    error: str | None = None  # in full

    @property
    def status(self) -> str:
        return self.attrs.get(_Trial.STATUS, "failed")

    def set_error(self, error: str) -> None:
        self.error = error
        self.attrs[_Trial.ERROR] = short_error(error)
        if self.attrs[_Trial.ERROR] != error.strip():
            self.files[_Trial.ERROR_FILE] = error.rstrip() + "\n"

    def fail(self, error: str | None = None) -> None:
        """Make it a FAIL (an errored trial), keeping what it reported."""
        self.state, self.values = TrialState.FAIL, None
        if error is not None:
            self.set_error(error)
        if self.attrs.get(_Trial.STATUS) in (None, "completed"):
            self.attrs[_Trial.STATUS] = "failed"

    def with_curve(self, curve: list[dict[str, Any]], startup: dict[str, Any]) -> "Outcome":
        if curve:
            self.files[_Trial.CURVE_FILE] = curve
            self.attrs[_Trial.EPOCHS] = curve[-1]["epoch"]
        self.attrs.update(startup)
        return self


def outcome(final: dict[str, Any] | None, *, metric: str) -> Outcome:
    """Turn the trainable's last report into the trial's state, values, user attributes and files."""
    if not final or STATUS not in final:
        result = Outcome(TrialState.FAIL, None, {_Trial.STATUS: "failed"})
        result.set_error("the trial's process ended without a result (see the Ray logs)")
        return result
    status = str(final[STATUS])
    result = Outcome(_STATES.get(status, TrialState.FAIL), None, {_Trial.STATUS: status}, trial_dir=final.get(TRIAL_DIR))
    metrics = json.loads(final[METRICS]) if final.get(METRICS) else None
    if metrics is not None:
        result.files[_Trial.METRICS_FILE] = metrics
    if final.get(GRAD_PROFILE):
        result.files.update(grad_profile_file(json.loads(final[GRAD_PROFILE])))
    if final.get(ERROR):
        result.set_error(str(final[ERROR]))
    if final.get(NODE):
        result.attrs[_Trial.NODE] = str(final[NODE])
    if result.state == TrialState.COMPLETE:
        result.values = _objectives(metrics, metric)
        if result.values is None:
            result.state = TrialState.FAIL
            if result.error is None:
                result.set_error(f"completed without finite val_{metric} and instability")
    return result


def stopped_early(epoch: float) -> Outcome:
    """A trial the early-stopping scheduler ended at `epoch`: PRUNED, without objective values
    (its truncated ones would sit on the Pareto front); its curve says how far it got."""
    return Outcome(TrialState.PRUNED, None, {_Trial.STATUS: "stopped", _Trial.STOPPED_AT: epoch})


def startup_attrs(report: dict[str, Any] | None, drawn_at: float | None) -> dict[str, Any]:
    """What a trial's start cost, from any of its reports (empty if it took no training step):
    `startup_s`, from its trainable's entry to its first training step done (imports, data,
    model, the first step with its kernels), `start_wait_s`, from the searcher drawing it
    (`drawn_at`, time.time()) to that entry (a free slot, Ray's worker process, the trainable's
    transfer), `worker_trial`, 1 where the trial's worker process was new, and in a local
    Ray's warm pool `worker_ready_s`, when that process had its imports done, from the draw
    (negative: before it)."""
    if not report or not isinstance(report.get(STARTUP), (int, float)):
        return {}
    attrs = {_Trial.STARTUP_S: round(float(report[STARTUP]), 3), _Trial.WORKER_TRIAL: int(report[WORKER_TRIAL])}
    if drawn_at is not None and isinstance(report.get(ENTERED_AT), (int, float)):
        attrs[_Trial.START_WAIT_S] = round(float(report[ENTERED_AT]) - drawn_at, 3)
    if drawn_at is not None and isinstance(report.get(WORKER_READY_AT), (int, float)):
        attrs[_Trial.WORKER_READY_S] = round(float(report[WORKER_READY_AT]) - drawn_at, 3)
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


def grad_profile_file(profile: dict[str, list]) -> dict[str, dict[str, list]]:
    """{"grad_profile.json": {"t": [...], "norm": [...]}} from the trainable's profile (at most
    MAX_PROFILE_POINTS of them; JSON has no inf / nan: those are stored as None); {} without one."""
    norms = [float(v) for v in profile.get("norm") or []]
    if not norms:
        return {}
    t = [int(v) for v in profile.get("t") or range(1, len(norms) + 1)]
    if len(norms) > MAX_PROFILE_POINTS:
        keep = sorted({round(i * (len(norms) - 1) / (MAX_PROFILE_POINTS - 1)) for i in range(MAX_PROFILE_POINTS)})
        norms, t = [norms[i] for i in keep], [t[i] for i in keep]
    return {_Trial.PROFILE_FILE: {"t": t, "norm": [v if math.isfinite(v) else None for v in norms]}}


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


def record(trial: optuna.Trial, result: Outcome, *, artifact_store, storage) -> None:
    """Write a finished trial's user attributes, upload its run's files and write its own (before `tell`).

    A file the run wrote (its metrics.json) is the one kept where the search has the same from
    the trial's report; the report's stand in where the run's folder is not visible here."""
    for key, value in result.attrs.items():
        trial.set_user_attr(key, value)
    listed = _listed(_system_attrs(trial))
    folder = Path(result.trial_dir) if result.trial_dir else None
    if folder is not None and folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name not in listed:
                listed[path.name] = _upload_file(trial, path, artifact_store, storage)
    elif folder is not None:
        # On a cluster without a shared --out folder the run's files stay on the worker's machine.
        trial.set_user_attr(_Trial.ARTIFACTS_MISSING, "its run's folder is not visible where the search runs")
    written = set(listed) - {_Trial.CURVE_FILE}  # the live curve is rewritten with its last point
    for name, data in result.files.items():
        if name not in written:
            _put(trial, name, data, artifact_store, listed)
