"""What a study holds, as plain data: for `momnas status`, the end of a search, and anyone in Python.

`status_info(study)` reads trials only through search._record; the command line formats it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
from optuna.trial import TrialState

from search import _record
from search._fidelity import rung_fidelity


def pareto_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The Pareto set (best validation metric against instability), one row per trial, best first."""
    best = _record.best_trials(study)
    info = _record.StudyRecord.of(study)
    best = sorted((r for r in best if r.completed), key=lambda r: -r.values[0] if info.maximize else r.values[0])
    names = info.metric_names
    return [{"trial": r.number, "family": r.family, "prior": r.prior, names[0]: r.values[0], names[1]: r.values[1],
             "params": {k: v for k, v in r.params.items() if k != "family"}} for r in best]


def status_info(study: optuna.Study) -> dict[str, Any]:
    """Counts by state, status and family (with how far each family trained), the priors, the
    Pareto set, the rung-to-target rank correlations, the confirmation and where things are."""
    from search.confirm import stored

    info = _record.StudyRecord.of(study)
    records = _record.trials(study)
    families: dict[str, dict[str, Any]] = {}
    for r in records:
        if not r.drawn:  # queued again, not drawn yet: its family is still to be drawn
            continue
        fam = families.setdefault(r.family, {"trials": 0, "complete": 0, "stopped": 0, "furthest": None, "best": None})
        fam["trials"] += 1
        if r.epochs_trained is not None:
            fam["furthest"] = max(fam["furthest"] or 0.0, r.epochs_trained)
        if r.state == TrialState.PRUNED:
            fam["stopped"] += 1
        if r.completed:
            fam["complete"] += 1
            v = r.values[0]
            if fam["best"] is None or (v > fam["best"] if info.maximize else v < fam["best"]):
                fam["best"] = v
    starts = [r.trial.datetime_start for r in records if r.trial.datetime_start]
    ends = [r.trial.datetime_complete for r in records if r.trial.datetime_complete]
    confirmation = stored(study)
    return {
        "study": study.study_name,
        "task": info.task_text,
        "space": info.space,
        "metric_names": info.metric_names,
        "directions": info.directions,
        "target_epochs": info.target_epochs,
        "rungs": info.rungs,
        "trials": len(records),
        "states": dict(Counter(r.state.name for r in records)),
        "statuses": dict(Counter(r.status for r in records if r.state.is_finished())),
        "requeued": sum(1 for r in records if r.interrupted and r.status == "interrupted"),
        "not_started": sum(1 for r in records if r.interrupted and r.status == "not started"),
        "families": dict(sorted(families.items())),
        "priors": [{"trial": r.number, "prior": r.prior, "state": r.state.name, "epochs": r.epochs_trained,
                    "values": r.values} for r in records if r.prior and not r.interrupted],
        "pareto": pareto_rows(study),
        "fidelity": [{"epoch": f.epoch, "trials": f.trials, "spearman": f.spearman} for f in rung_fidelity(study)],
        "confirmed": confirmation,
        "artifact_dir": info.artifact_dir,
        "wall_seconds": (max(ends) - min(starts)).total_seconds() if starts and ends else None,
    }
