"""The study's Tune searcher on a real SQLite study, driven the way Tune drives it (no Ray run):
ask, per-epoch results, brackets and priors, pickling (no password, no listener), tell
COMPLETE / PRUNED / FAIL, and a trial whose worker died told with its reason."""

import json
import pickle
import time

import optuna
import pytest
from optuna.trial import TrialState

import spaces
from search import TrialRecord, _record, artifact_store, make_storage, storage_url
from search._brackets import Brackets
from search._prepare import recover_interrupted
from search._priors import Prior, enqueue
from search._searcher import StudySearcher, TrialSpace
from search._storage_ref import STORAGE_ENV, StorageRef
from search.errors import StorageError
from tests_search_helpers import Recorder

URL = "postgresql+psycopg://momnas:s3cr3t-pw@db.example:5432/studies"


def _space(tmp_path) -> TrialSpace:
    return TrialSpace(space=spaces.get_space("small"), input_size=2, hidden=8, task={"name": "adding", "T": 20},
                      train={"epochs": 3}, trials_dir=str(tmp_path / "trials"), objectives=["val_acc", "instability"])


def _searcher(tmp_path, url=None, **kw):
    storage = make_storage(storage_url(tmp_path))
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    _record.write_study_header(study, store=artifact_store(tmp_path), task={"name": "adding", "T": 20}, metric="acc",
                               direction="maximize", space="small", space_spec=spaces.get_space("small").to_data(),
                               artifact_dir=str((tmp_path / "artifacts").resolve()), config={}, target_epochs=3, rungs=[])
    stops: dict[str, float] = {}  # the scheduler's record of the trials it stopped
    made = StudySearcher(space=_space(tmp_path), storage=StorageRef(url or storage_url(tmp_path), storage), study_name="s",
                         sampler=optuna.samplers.RandomSampler(seed=0), task_metric="acc", artifact_dir=str(tmp_path / "artifacts"),
                         listener=Recorder(), stopped_at=stops.get, **kw)
    return made, stops, storage


@pytest.fixture
def searcher(tmp_path):
    return _searcher(tmp_path)


def _epoch(epoch, acc, instability):
    return {"epoch": epoch, "val_acc": acc, "instability": instability, "training_iteration": epoch}


def _final(acc, instability):
    metrics = {"status": "completed", "validation": {"acc": acc}, "stability": {"instability": instability}}
    return {_record.STATUS: "completed", _record.METRICS: json.dumps(metrics), "training_iteration": 3}


def _only(storage) -> TrialRecord:
    (record,) = _record.trials(optuna.load_study(study_name="s", storage=storage))
    return record


def test_completed_trial_is_told_complete_with_its_run_config_and_curve(searcher):
    s, _, storage = searcher
    config = s.suggest("t1")
    run = config[_record.RUN_KEY]
    assert run["cell"]["hidden_size"] == 8 and run["task"] == {"name": "adding", "T": 20} and run["train"]["epochs"] == 3
    assert config[_record.FAMILY_KEY] == spaces.family_name(run["cell"]["dynamics"], run["cell"]["core"])
    for epoch in (1, 2):
        s.on_trial_result("t1", _epoch(epoch, 0.5 + epoch / 10, 0.3))
    s.on_trial_complete("t1", result=_final(0.8, 0.25))
    record = _only(storage)
    assert record.state == TrialState.COMPLETE and record.values == [0.8, 0.25]
    assert record.run_config == run and record.family == config[_record.FAMILY_KEY]
    assert record.curve == [{"epoch": 1.0, "metric": 0.6, "instability": 0.3}, {"epoch": 2.0, "metric": 0.7, "instability": 0.3}]
    assert record.stopped_at is None and record.rungs == []
    assert s._listener.finished == [(0, "completed", [0.8, 0.25], None)]


def test_a_trial_the_scheduler_stopped_is_pruned_with_its_epoch_and_curve(searcher):
    s, stops, storage = searcher
    s.suggest("t1")
    s.on_trial_result("t1", _epoch(1, 0.4, 0.9))
    stops["t1"] = 3.0
    # Tune hands the stopping report to on_trial_complete only (not on_trial_result).
    s.on_trial_complete("t1", result=_epoch(3, 0.45, 0.8))
    record = _only(storage)
    assert record.state == TrialState.PRUNED and record.values is None
    assert record.status == "stopped" and record.stopped_at == 3.0
    assert [p["epoch"] for p in record.curve] == [1.0, 3.0]
    assert s._listener.finished == [(0, "stopped", None, None)]


def test_trials_are_spread_over_the_brackets_and_priors_train_to_the_target(tmp_path):
    plan = Brackets.hyperband(grace=1, eta=3, target=9)  # rungs [1, 3], [3], []
    s, _, storage = _searcher(tmp_path, brackets=plan)
    study = optuna.load_study(study_name="s", storage=storage)
    enqueue(study, [Prior("Momentum LSTM", {"family": "momentum-lstm", "momentum.mu": 0.6, "momentum.s": 0.6,
                                            "lstm.fg_init": 1.0, "lr": 1e-3})])
    configs = [s.suggest(f"t{i}") for i in range(12)]
    assert configs[0][_record.RUNGS_KEY] == []  # the prior: no rung, whatever the split
    assert configs[0][_record.RUN_KEY]["cell"]["mu"] == 0.6
    assert s._listener.drawn[0] == (0, "momentum-lstm", "Momentum LSTM")
    rungs = [tuple(c[_record.RUNGS_KEY]) for c in configs[1:]]
    assert rungs.count((1.0, 3.0)) == 6 and rungs.count((3.0,)) == 3 and rungs.count(()) == 2  # 9 : 4.5 : 3
    records = [TrialRecord.of(t) for t in optuna.load_study(study_name="s", storage=storage).trials]
    assert records[0].prior == "Momentum LSTM" and all(r.prior is None for r in records[1:])
    assert [tuple(r.rungs) for r in records[1:]] == rungs


def test_a_resumed_search_goes_on_with_the_studys_split(tmp_path):
    plan = Brackets.hyperband(grace=1, eta=3, target=9)
    s, _, storage = _searcher(tmp_path, brackets=plan)
    first = [tuple(s.suggest(f"t{i}")[_record.RUNGS_KEY]) for i in range(5)]
    again = StudySearcher(space=_space(tmp_path), storage=StorageRef(storage_url(tmp_path), storage), study_name="s",
                          sampler=optuna.samplers.RandomSampler(seed=1), task_metric="acc", artifact_dir=str(tmp_path / "artifacts"),
                          brackets=plan)
    later = [tuple(again.suggest(f"u{i}")[_record.RUNGS_KEY]) for i in range(6)]
    both = first + later
    assert both.count((1.0, 3.0)) == 6 and both.count((3.0,)) == 3 and both.count(()) == 2


def test_the_searcher_stops_drawing_when_the_study_has_its_trials(tmp_path):
    s, _, storage = _searcher(tmp_path, total=2)
    s.suggest("t1")
    s.suggest("t2")
    assert s.suggest("t3") == "FINISHED"


def test_what_a_trials_start_cost_is_kept_from_its_first_report(searcher):
    s, _, storage = searcher
    before = time.time()
    s.suggest("t1")
    entered = time.time() + 1.0  # its trainable, in a worker, started a second after it was drawn
    started = {_record.STARTUP: 2.5, _record.ENTERED_AT: entered, _record.WORKER_TRIAL: 1}
    s.on_trial_result("t1", {**_epoch(1, 0.4, 0.9), **started})
    running = _only(storage)
    assert running.state == TrialState.RUNNING  # there while it trains
    assert running.startup_s == 2.5 and running.worker_trial == 1
    assert 1.0 - 1e-3 <= running.start_wait_s <= entered - before + 1e-3
    s.on_trial_complete("t1", result={**_final(0.8, 0.25), **started})
    done = _only(storage)
    assert done.state == TrialState.COMPLETE
    assert (done.startup_s, done.worker_trial, done.start_wait_s) == (running.startup_s, running.worker_trial, running.start_wait_s)


def test_a_trial_whose_worker_died_waits_for_its_reason_then_fails_with_it(searcher):
    s, _, storage = searcher
    s.suggest("t1")
    s.on_trial_complete("t1", result=None, error=True)
    assert _only(storage).state == TrialState.RUNNING  # parked: Tune's error callback comes next
    s.trial_error("t1", "its worker died (ActorDiedError): killed by the OOM killer")
    record = _only(storage)
    assert record.state == TrialState.FAIL and record.status == "failed"
    assert record.error == "its worker died (ActorDiedError): killed by the OOM killer"
    assert s._listener.finished[-1][3] == record.error


def test_an_errored_trial_whose_reason_never_came_is_told_at_the_end(searcher):
    s, _, storage = searcher
    s.suggest("t1")
    s.on_trial_complete("t1", result=None, error=True)
    s.close()
    record = _only(storage)
    assert record.state == TrialState.FAIL and "no reason" in record.error


def test_pickled_searcher_holds_no_password_nor_listener(tmp_path):
    s, _, _ = _searcher(tmp_path, url=URL)
    s.suggest("t1")
    s.on_trial_result("t1", _epoch(1, 0.5, 0.2))
    data = pickle.dumps(s)
    assert b"s3cr3t-pw" not in data and b"momnas:***@db.example" in data
    assert pickle.loads(data)._listener is None


def test_unpickled_searcher_finishes_the_trials_it_asked_for(searcher):
    s, _, storage = searcher
    s.suggest("t1")
    s.on_trial_result("t1", _epoch(1, 0.5, 0.2))
    again = pickle.loads(pickle.dumps(s))  # e.g. sent to the head through Ray Client
    again.on_trial_result("t1", _epoch(2, 0.6, 0.2))
    again.on_trial_complete("t1", result=_final(0.7, 0.2))
    record = _only(storage)
    assert record.state == TrialState.COMPLETE and [p["epoch"] for p in record.curve] == [1.0, 2.0]


def test_storage_ref_takes_the_password_from_the_environment_only(monkeypatch):
    ref = pickle.loads(pickle.dumps(StorageRef(URL)))
    assert "s3cr3t" not in repr(ref) and ref.masked == "postgresql+psycopg://momnas:***@db.example:5432/studies"
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    with pytest.raises(StorageError, match=f"set {STORAGE_ENV} to the full URL"):
        ref.url
    monkeypatch.setenv(STORAGE_ENV, URL.replace("db.example", "other.host"))  # not this storage's URL
    with pytest.raises(StorageError, match=STORAGE_ENV):
        ref.url
    monkeypatch.setenv(STORAGE_ENV, URL)
    assert ref.url == URL
    plain = pickle.loads(pickle.dumps(StorageRef("sqlite:////tmp/optuna.db")))
    assert plain.url == "sqlite:////tmp/optuna.db"


def test_recover_interrupted_uses_the_storage_it_is_given_and_keeps_a_prior_a_prior(tmp_path):
    storage = make_storage(storage_url(tmp_path))
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    enqueue(study, [Prior("LSTM", {"x": 0.25})])
    stuck = study.ask()
    stuck.suggest_float("x", 0, 1)
    assert recover_interrupted(study, storage) == [0]
    old, new = map(TrialRecord.of, study.get_trials())
    assert old.state == TrialState.FAIL and old.interrupted and old.status == "interrupted" and not old.counts
    assert new.state == TrialState.WAITING and new.requeued_from == 0 and new.prior == "LSTM"
    assert study.ask().suggest_float("x", 0, 1) == 0.25  # the next search re-runs it


def test_confirmation_candidates_are_the_cells_nearest_the_knee_and_the_best_prior(tmp_path):
    from search._priors import Prior, enqueue
    from search.confirm import candidates

    storage = make_storage(storage_url(tmp_path))
    study = optuna.create_study(storage=storage, study_name="k", directions=["maximize", "minimize"])
    from search import _record as record

    record.write_study_header(study, store=artifact_store(tmp_path), task={"name": "adding"}, metric="acc",
                              direction="maximize", space="small", space_spec={},
                              artifact_dir=str((tmp_path / "artifacts").resolve()), config={}, target_epochs=3, rungs=[])
    enqueue(study, [Prior("DTRIV", {"x": 0.1}), Prior("coRNN", {"x": 0.2})])
    points = [(0.86, 1.6), (0.84, 0.27), (0.70, 0.10), (0.80, 0.50), (0.60, 0.09)]  # the first two are the priors
    for values in points:
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, list(values))
    chosen, best_prior = candidates(study, 2)
    # The best prior by accuracy (DTRIV, trial 0) is what the others are judged against. The rest of
    # the front is trials 1, 2 and 4 (3 is dominated by coRNN); scaled to [0, 1], trial 2 lies 0.58
    # from the ideal point, trials 1 and 4 at 1.0 each, the tie to the more accurate coRNN.
    assert best_prior == 0
    assert [r.number for r in chosen] == [2, 1, 0]
