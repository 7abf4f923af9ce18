"""The study's Tune searcher on a real SQLite study, driven the way Tune drives it (no Ray run):
ask, per-epoch results, pickling (no password, no progress), tell COMPLETE / PRUNED / FAIL."""

import json
import pickle
import time

import optuna
import pytest
from optuna.trial import TrialState

from search import _record, make_storage, recover_interrupted, storage_url
from search._searcher import StudySearcher
from search._storage_ref import STORAGE_ENV, StorageRef

URL = "postgresql+psycopg://momnas:s3cr3t-pw@db.example:5432/studies"


def draw(trial: optuna.Trial) -> dict:
    """A define-by-run space: one parameter, the trial's family as the searcher's space sets it."""
    trial.set_user_attr("family", "momentum-lstm")
    return {"x": trial.suggest_float("x", 0.0, 1.0)}


class Recorder:
    """A progress display that only remembers what it was told (and refuses to be pickled)."""

    def __init__(self):
        self.started, self.finished = [], []

    def trial_started(self, number, family):
        self.started.append(number)

    def trial_finished(self, number, family, status, values, seconds, error=None):
        self.finished.append((number, status, values))

    def __reduce__(self):
        raise AssertionError("the progress display was pickled")


@pytest.fixture
def searcher(tmp_path):
    url = storage_url(tmp_path)
    storage = make_storage(url)
    optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    stops: dict[str, float] = {}  # the scheduler's record of the trials it stopped
    made = StudySearcher(
        space=draw, storage=StorageRef(url, storage), study_name="s", sampler=optuna.samplers.RandomSampler(seed=0),
        task_metric="acc", artifact_store=None, progress=Recorder(), stopped_at=stops.get,
    )
    return made, stops, storage


def _epoch(epoch, acc, instability):
    return {"epoch": epoch, "val_acc": acc, "instability": instability, "training_iteration": epoch}


def _final(acc, instability):
    metrics = {"status": "completed", "validation": {"acc": acc}, "stability": {"instability": instability}}
    return {_record.STATUS: "completed", _record.METRICS: json.dumps(metrics), "training_iteration": 3}


def test_completed_trial_is_told_complete_with_its_curve(searcher):
    s, _, storage = searcher
    config = s.suggest("t1")
    assert 0 <= config["x"] <= 1
    for epoch in (1, 2):
        s.on_trial_result("t1", _epoch(epoch, 0.5 + epoch / 10, 0.3))
    s.on_trial_complete("t1", result=_final(0.8, 0.25))
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == TrialState.COMPLETE and trial.values == [0.8, 0.25]
    assert trial.user_attrs["curve"] == [
        {"epoch": 1.0, "metric": 0.6, "instability": 0.3}, {"epoch": 2.0, "metric": 0.7, "instability": 0.3}]
    assert "stopped_at_epoch" not in trial.user_attrs
    assert s._progress.finished == [(0, "completed", [0.8, 0.25])]


def test_a_trial_the_scheduler_stopped_is_pruned_with_its_epoch_and_curve(searcher):
    s, stops, storage = searcher
    s.suggest("t1")
    s.on_trial_result("t1", _epoch(1, 0.4, 0.9))
    stops["t1"] = 3.0
    # Tune hands the stopping report to on_trial_complete only (not on_trial_result).
    s.on_trial_complete("t1", result=_epoch(3, 0.45, 0.8))
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == TrialState.PRUNED and trial.values is None
    assert trial.user_attrs["status"] == "stopped" and trial.user_attrs["stopped_at_epoch"] == 3.0
    assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1.0, 3.0]
    assert trial.user_attrs["curve"][-1] == {"epoch": 3.0, "metric": 0.45, "instability": 0.8}
    assert s._progress.finished == [(0, "stopped", None)]


def test_what_a_trials_start_cost_is_kept_from_its_first_report(searcher):
    s, _, storage = searcher
    before = time.time()
    s.suggest("t1")
    entered = time.time() + 1.0  # its trainable, in a worker, started a second after it was drawn
    started = {_record.STARTUP: 2.5, _record.ENTERED_AT: entered, _record.WORKER_TRIAL: 1}
    s.on_trial_result("t1", {**_epoch(1, 0.4, 0.9), **started})
    (running,) = optuna.load_study(study_name="s", storage=storage).trials
    assert running.state == TrialState.RUNNING  # there while it trains
    assert running.user_attrs["startup_s"] == 2.5 and running.user_attrs["worker_trial"] == 1
    assert 1.0 - 1e-3 <= running.user_attrs["start_wait_s"] <= entered - before + 1e-3
    s.on_trial_complete("t1", result={**_final(0.8, 0.25), **started})
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == TrialState.COMPLETE
    assert {k: trial.user_attrs[k] for k in ("startup_s", "worker_trial", "start_wait_s")} == \
        {k: running.user_attrs[k] for k in ("startup_s", "worker_trial", "start_wait_s")}


def test_a_trial_without_a_final_report_fails(searcher):
    s, _, storage = searcher
    s.suggest("t1")
    s.on_trial_complete("t1", result=None, error=True)
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["status"] == "failed"


def test_pickled_searcher_holds_no_password_nor_progress(tmp_path):
    storage = make_storage(storage_url(tmp_path))
    optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    # A storage URL with a password, as --storage gives it; the storage object is the SQLite one.
    s = StudySearcher(space=draw, storage=StorageRef(URL, storage), study_name="s", sampler=optuna.samplers.RandomSampler(),
                      task_metric="acc", artifact_store=None, progress=Recorder())
    s.suggest("t1")
    s.on_trial_result("t1", _epoch(1, 0.5, 0.2))
    data = pickle.dumps(s)
    assert b"s3cr3t-pw" not in data and b"momnas:***@db.example" in data
    assert pickle.loads(data)._progress is None


def test_unpickled_searcher_finishes_the_trials_it_asked_for(searcher):
    s, _, storage = searcher
    s.suggest("t1")
    s.on_trial_result("t1", _epoch(1, 0.5, 0.2))
    again = pickle.loads(pickle.dumps(s))  # e.g. sent to the head through Ray Client
    again.on_trial_result("t1", _epoch(2, 0.6, 0.2))
    again.on_trial_complete("t1", result=_final(0.7, 0.2))
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == TrialState.COMPLETE and [p["epoch"] for p in trial.user_attrs["curve"]] == [1.0, 2.0]


def test_storage_ref_takes_the_password_from_the_environment_only(monkeypatch):
    ref = pickle.loads(pickle.dumps(StorageRef(URL)))
    assert "s3cr3t" not in repr(ref) and ref.masked == "postgresql+psycopg://momnas:***@db.example:5432/studies"
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    with pytest.raises(ValueError, match=f"set {STORAGE_ENV} to the full URL"):
        ref.url
    monkeypatch.setenv(STORAGE_ENV, URL.replace("db.example", "other.host"))  # not this storage's URL
    with pytest.raises(ValueError, match=STORAGE_ENV):
        ref.url
    monkeypatch.setenv(STORAGE_ENV, URL)
    assert ref.url == URL
    plain = pickle.loads(pickle.dumps(StorageRef("sqlite:////tmp/optuna.db")))
    assert plain.url == "sqlite:////tmp/optuna.db"


def test_recover_interrupted_uses_the_storage_it_is_given(tmp_path):
    storage = make_storage(storage_url(tmp_path))
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    stuck = study.ask()
    stuck.suggest_float("x", 0, 1)
    assert recover_interrupted(study, storage) == [0]
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs == {"interrupted": True, "status": "interrupted"}
    assert trials[1].state == TrialState.WAITING and trials[1].user_attrs == {"requeued_from": 0}
    assert study.ask().suggest_float("x", 0, 1) == trials[0].params["x"]  # the next search re-runs it
