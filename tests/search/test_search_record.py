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
    assert _record.grad_profile_attrs([1.0, math.nan])["grad_profile"] == [1.0, None]
