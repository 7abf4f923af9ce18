"""How a trial's last report becomes its state, values and attributes (architecture.md, Studies)."""

import json
import math

from optuna.trial import TrialState

from search import _record


def _final(status, metrics=None, **extra):
    out = {_record.STATUS: status, _record.TRIAL_DIR: "/x"}
    if metrics is not None:
        out[_record.METRICS] = json.dumps(metrics)
    out.update(extra)
    return out


METRICS = {"status": "completed", "validation": {"accuracy": 0.8, "loss": 0.5}, "stability": {"instability": 0.7}}


def test_completed_is_complete_with_both_objectives():
    out = _record.outcome(_final("completed", METRICS), metric="accuracy")
    assert out.state == TrialState.COMPLETE and out.values == [0.8, 0.7]
    assert out.attrs["status"] == "completed" and out.attrs["metrics"] == METRICS


def test_diverged_and_failed_are_fail_stopped_is_pruned():
    diverged = _record.outcome(_final("diverged", {**METRICS, "validation": None}), metric="accuracy")
    assert diverged.state == TrialState.FAIL and diverged.values is None and diverged.attrs["status"] == "diverged"
    failed = _record.outcome(_final("failed", **{_record.ERROR: "ValueError: bad"}), metric="accuracy")
    assert failed.state == TrialState.FAIL and failed.attrs["error"] == "ValueError: bad"
    assert _record.outcome(_final("stopped", METRICS), metric="accuracy").state == TrialState.PRUNED
    assert _record.outcome(None, metric="accuracy").state == TrialState.FAIL


def test_completed_but_not_finite_fails():
    bad = {**METRICS, "stability": {"instability": math.inf}}
    out = _record.outcome(_final("completed", bad), metric="accuracy")
    assert out.state == TrialState.FAIL and "finite" in out.attrs["error"]


def test_grad_profile_thinned_to_256_points_with_time_steps():
    attrs = _record.grad_profile_attrs({"t": list(range(1, 1001)), "norm": [float(i) for i in range(1000)]})
    assert len(attrs["grad_profile"]) == len(attrs["grad_profile_t"]) == 256
    assert attrs["grad_profile_t"][0] == 1 and attrs["grad_profile_t"][-1] == 1000
    assert _record.grad_profile_attrs({"norm": [1.0, math.nan]}) == {"grad_profile": [1.0, None], "grad_profile_t": [1, 2]}


def test_a_trial_record_reads_what_the_search_wrote(tmp_path):
    import optuna

    from search import TrialRecord, make_storage, storage_url
    from search._priors import Prior, enqueue

    study = optuna.create_study(storage=make_storage(storage_url(tmp_path)), study_name="s", directions=["maximize", "minimize"])
    enqueue(study, [Prior("LSTM", {"x": 0.5})])
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    _record.write_draw(trial, run_config={"cell": {"core": "lstm"}}, family="plain-lstm", rungs=[])
    _record.write_curve(trial, [{"epoch": 1.0, "metric": 0.5, "instability": 1.0}])
    outcome = _record.outcome(_final("completed", METRICS), metric="accuracy")
    outcome.with_curve([{"epoch": 1.0, "metric": 0.5, "instability": 1.0}, {"epoch": 2.0, "metric": 0.8, "instability": 0.7}], {})
    _record.record(trial, outcome, artifact_store=None, storage=study._storage)
    study.tell(trial, outcome.values, state=outcome.state)
    record = TrialRecord.of(study.trials[0])
    assert (record.family, record.status, record.prior, record.rungs) == ("plain-lstm", "completed", "LSTM", [])
    assert record.completed and record.counts and record.epochs_trained == 2.0 and record.cell == {"core": "lstm"}
    assert record.recorded_values("accuracy") == (0.8, 0.7)


def test_no_module_but_the_record_names_a_trials_attributes():
    """Plots, status, export, confirmation and the watcher read a trial through TrialRecord:
    the storage layout of what a search records lives in search/_record.py alone."""
    import re
    from pathlib import Path

    import search

    root = Path(search.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if path.name == "_record.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.user_attrs\b|set_user_attr\(", line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
