"""What a finished trial leaves in the study: its state, objective values, user attributes, artifacts.

Plain functions of the trainable's reports, so the rules (architecture.md, "Studies") live
in one place and are tested without Ray: completed runs are COMPLETE, diverged and failed
runs FAIL, runs stopped early (by the early-stopping scheduler, or by the run's report hook)
PRUNED; every trial keeps its per-evaluation objectives as its learning curve.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import TrialState

# Keys of a trial's Tune config, set by the search's define-by-run wrapper.
RUN_KEY = "momnas_run"            # the trial's full run config {"cell", "task", "train"}
TRIAL_DIR_KEY = "momnas_trial_dir"  # where runs.train writes the trial's files
THREADS_KEY = "momnas_threads"    # torch threads in the trial (its CPUs, at least 1)
OBJECTIVES_KEY = "momnas_objectives"  # the study's metric names, which every Tune report carries

# Keys of the trainable's last report (flat scalars and JSON strings, as Tune results want).
STATUS = "momnas_status"
METRICS = "momnas_metrics"
GRAD_PROFILE = "momnas_grad_profile"
ERROR = "momnas_error"
TRIAL_DIR = "momnas_trial_dir"
NODE = "momnas_node_id"  # the Ray node the trial ran on
# Carried by every report of a trial that took a training step (search._tune.trainable):
STARTUP = "momnas_startup_s"        # trainable entered -> first training step done, seconds
ENTERED_AT = "momnas_entered_at"    # when the trainable was entered (time.time() of its node)
WORKER_TRIAL = "momnas_worker_trial"  # 1 for the first trial of its worker process, 2 for the next, ...

# Trial user attributes written here besides the metrics.json ones.
CURVE = "curve"                       # [{"epoch", "metric", "instability"}, ...]: every evaluation's objectives
STOPPED_AT = "stopped_at_epoch"       # the rung (epochs) at which early stopping ended the trial

MAX_PROFILE_POINTS = 256
_STATES = {"completed": TrialState.COMPLETE, "stopped": TrialState.PRUNED}


@dataclass
class Outcome:
    state: TrialState
    values: list[float] | None
    attrs: dict[str, Any] = field(default_factory=dict)
    trial_dir: str | None = None


def objective_names(metric: str) -> list[str]:
    """The study's metric names: the task's validation metric, then gradient instability."""
    return [f"val_{metric}", "instability"]


def outcome(final: dict[str, Any] | None, *, metric: str) -> Outcome:
    """Turn the trainable's last report into the trial's state, values and user attributes."""
    if not final or STATUS not in final:
        return Outcome(TrialState.FAIL, None, {"status": "failed", "error": "the trial's process ended without a result (see the Ray logs)"})
    status = str(final[STATUS])
    attrs: dict[str, Any] = {"status": status}
    metrics = json.loads(final[METRICS]) if final.get(METRICS) else None
    if metrics is not None:
        attrs["metrics"] = metrics
    if final.get(GRAD_PROFILE):
        attrs.update(grad_profile_attrs(json.loads(final[GRAD_PROFILE])))
    if final.get(ERROR):
        attrs["error"] = str(final[ERROR])
    if final.get(NODE):
        attrs["ray_node_id"] = str(final[NODE])
    state = _STATES.get(status, TrialState.FAIL)
    values = None
    if state == TrialState.COMPLETE:
        values = _objectives(metrics, metric)
        if values is None:
            state = TrialState.FAIL
            attrs.setdefault("error", f"completed without finite val_{metric} and instability")
    return Outcome(state, values, attrs, final.get(TRIAL_DIR))


def stopped_early(epoch: float) -> Outcome:
    """A trial the early-stopping scheduler ended at `epoch`: PRUNED, without objective values
    (its truncated ones would sit on the Pareto front); its curve says how far it got."""
    return Outcome(TrialState.PRUNED, None, {"status": "stopped", STOPPED_AT: epoch})


def startup_attrs(report: dict[str, Any] | None, drawn_at: float | None) -> dict[str, Any]:
    """What a trial's start cost, from any of its reports (empty if it took no training step):
    `startup_s`, from its trainable's entry to its first training step done (imports, data,
    model, the first step with its kernels), `start_wait_s`, from the searcher drawing it
    (`drawn_at`, time.time()) to that entry (a free slot, Ray's worker process, the trainable's
    transfer), and `worker_trial`, 1 where the trial's worker process was new."""
    if not report or not isinstance(report.get(STARTUP), (int, float)):
        return {}
    attrs = {"startup_s": round(float(report[STARTUP]), 3), "worker_trial": int(report[WORKER_TRIAL])}
    if drawn_at is not None and isinstance(report.get(ENTERED_AT), (int, float)):
        attrs["start_wait_s"] = round(float(report[ENTERED_AT]) - drawn_at, 3)
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
    try:
        values = [float(metrics["validation"][metric]), float(metrics["stability"]["instability"])]
    except (KeyError, TypeError, ValueError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def grad_profile_attrs(profile: Any) -> dict[str, list]:
    """`grad_profile` (at most 256 norms) and `grad_profile_t` (their time steps).

    Accepts a list of norms, `{"t": [...], "norm": [...]}`-like mappings, or (t, norm) pairs.
    """
    t: list[int] | None = None
    if isinstance(profile, dict):
        norms = next((profile[k] for k in ("norm", "norms", "grad_norm", "values", "profile") if k in profile), None)
        t = next((profile[k] for k in ("t", "steps", "time") if k in profile), None)
    elif profile and isinstance(profile[0], (list, tuple)):
        t, norms = [p[0] for p in profile], [p[1] for p in profile]
    else:
        norms = profile
    if not norms:
        return {}
    norms = [float(v) for v in norms]
    t = list(range(1, len(norms) + 1)) if t is None else [int(v) for v in t]
    if len(norms) > MAX_PROFILE_POINTS:
        keep = sorted({round(i * (len(norms) - 1) / (MAX_PROFILE_POINTS - 1)) for i in range(MAX_PROFILE_POINTS)})
        norms, t = [norms[i] for i in keep], [t[i] for i in keep]
    # JSON has no inf / nan: store them as None.
    return {"grad_profile": [v if math.isfinite(v) else None for v in norms], "grad_profile_t": t}


def requeue(study: optuna.Study, storage, number: int, params: dict[str, Any], status: str) -> None:
    """A trial the search left unfinished (interrupted, or drawn but never started): FAIL with
    `status` and `interrupted` (so it does not count towards --trials), its parameters queued
    again for the next search of the study (--resume) to run first. `storage` is the study's."""
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)
    storage.set_trial_user_attr(trial_id, "interrupted", True)
    storage.set_trial_user_attr(trial_id, "status", status)
    study.tell(number, state=TrialState.FAIL)
    if params:
        study.enqueue_trial(params, user_attrs={"requeued_from": number}, skip_if_exists=False)


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
        trial.set_user_attr("artifacts_missing", f"{folder} is not visible where the search runs")
    trial.set_user_attr("artifacts", artifacts)
    return artifacts
