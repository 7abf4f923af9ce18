"""How a trial's last report becomes its state, values and attributes (architecture.md, Studies)."""

import json
import math

import pytest

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
    assert out.attrs == {"status": "completed"} and out.files == {"metrics.json": METRICS}


def test_diverged_and_failed_are_fail_stopped_is_pruned():
    diverged = _record.outcome(_final("diverged", {**METRICS, "validation": None}), metric="accuracy")
    assert diverged.state == TrialState.FAIL and diverged.values is None and diverged.attrs["status"] == "diverged"
    failed = _record.outcome(_final("failed", **{_record.ERROR: "ValueError: bad"}), metric="accuracy")
    assert failed.state == TrialState.FAIL and failed.attrs["error"] == "ValueError: bad" and "error.txt" not in failed.files
    assert _record.outcome(_final("stopped", METRICS), metric="accuracy").state == TrialState.PRUNED
    assert _record.outcome(None, metric="accuracy").state == TrialState.FAIL


def test_a_long_error_is_one_short_line_and_a_file_in_full():
    error = "RuntimeError: CUDA out of memory. " + "Tried to allocate 2.00 GiB; " * 10 + "\nTraceback ..."
    out = _record.outcome(_final("failed", **{_record.ERROR: error}), metric="accuracy")
    assert len(out.attrs["error"]) == _record.ERROR_CHARS and out.attrs["error"].startswith("RuntimeError: CUDA out of memory.")
    assert out.files["error.txt"] == error + "\n" and out.error == error


def test_completed_but_not_finite_fails():
    bad = {**METRICS, "stability": {"instability": math.inf}}
    out = _record.outcome(_final("completed", bad), metric="accuracy")
    assert out.state == TrialState.FAIL and "finite" in out.attrs["error"]


def test_grad_profile_thinned_to_256_points_with_time_steps():
    profile = _record.grad_profile_file({"t": list(range(1, 1001)), "norm": [float(i) for i in range(1000)]})["grad_profile.json"]
    assert len(profile["norm"]) == len(profile["t"]) == 256
    assert profile["t"][0] == 1 and profile["t"][-1] == 1000
    assert _record.grad_profile_file({"norm": [1.0, math.nan]}) == {"grad_profile.json": {"t": [1, 2], "norm": [1.0, None]}}


def _study(tmp_path, name="s"):
    import optuna

    from search import artifact_store, make_storage, storage_url

    study = optuna.create_study(storage=make_storage(storage_url(tmp_path)), study_name=name, directions=["maximize", "minimize"])
    store = artifact_store(tmp_path)
    _record.write_study_header(study, store=store, task={"name": "adding", "T": 20}, metric="accuracy", direction="maximize",
                               space="small", space_spec=SPACE, artifact_dir=str((tmp_path / "artifacts").resolve()),
                               config=CONFIG, target_epochs=2, rungs=[])
    return study, store


SPACE = {"name": "small", "families": ["plain-lstm", "momentum-lstm"], "params": {"lr": {"low": 1e-4, "high": 0.03, "log": True}}}
CONFIG = {"task": "adding", "T": 20, "space": "small", "trials": 4, "epochs": 2, "storage": None}
RUN = {"cell": {"core": "lstm", "dynamics": "plain", "input_size": 2, "hidden_size": 8},
       "task": {"name": "adding", "T": 20}, "train": {"lr": 0.01, "epochs": 2, "seed": 0}}
CURVE = [{"epoch": 1.0, "metric": 0.5, "instability": 1.0}, {"epoch": 2.0, "metric": 0.8, "instability": 0.7}]


def _searched_trial(study, store, tmp_path):
    """One trial written as the searcher writes it: drawn, two live evaluations, then recorded with its run's folder."""
    from search._priors import Prior, enqueue

    enqueue(study, [Prior("LSTM", {"x": 0.5})])
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    _record.write_draw(trial, run_config=RUN, family="plain-lstm", rungs=[], store=store)
    _record.write_curve(trial, CURVE[:1], store=store)
    _record.write_curve(trial, CURVE, store=store)
    folder = tmp_path / "trials" / "00000"
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"weights")
    (folder / "metrics.json").write_text(json.dumps(METRICS))
    outcome = _record.outcome({**_final("completed", METRICS), _record.TRIAL_DIR: str(folder),
                               _record.GRAD_PROFILE: json.dumps({"t": [1, 2, 3], "norm": [0.1, 0.2, math.inf]}),
                               _record.NODE: "f" * 56}, metric="accuracy")
    outcome.with_curve(CURVE, {"startup_s": 1.5, "worker_trial": 1})
    _record.record(trial, outcome, artifact_store=store, storage=study._storage)
    study.tell(trial, outcome.values, state=outcome.state)
    return study.trials[0]


def test_a_trial_record_reads_what_the_search_wrote(tmp_path):
    study, store = _study(tmp_path)
    frozen = _searched_trial(study, store, tmp_path)
    (record,) = _record.trials(study)
    assert (record.family, record.status, record.prior, record.rungs, record.node) == ("plain-lstm", "completed", "LSTM", [], "f" * 56)
    assert record.completed and record.counts and record.epochs_trained == 2.0 and record.cell == RUN["cell"]
    assert record.run_config == RUN and record.metrics == METRICS and record.curve == CURVE
    assert (record.grad_profile_t, record.grad_profile) == ([1, 2, 3], [0.1, 0.2, None])
    assert record.recorded_values("accuracy") == (0.8, 0.7) and record.startup_s == 1.5
    # The long data are files the dashboard lists; the run's own metrics.json stands, once.
    assert sorted(record.artifacts) == ["checkpoint.pt", "grad_profile.json", "learning_curve.json", "metrics.json", "run_config.json"]
    # Every user attribute is a few words or numbers: optuna-dashboard shows each on one line that does not wrap.
    shown = {k: v if isinstance(v, str) else json.dumps(v) for k, v in frozen.user_attrs.items()}
    assert max(len(f"{k} {v}") for k, v in shown.items()) <= 80, shown
    assert set(shown) == {"family", "rungs", "status", "epochs", "startup_s", "worker_trial", "ray_node_id", "prior"}


def test_a_running_trials_curve_is_one_artifact_always_current(tmp_path):
    study, store = _study(tmp_path)
    trial = study.ask()
    _record.write_draw(trial, run_config=RUN, family="plain-lstm", rungs=[], store=store)
    for n in (1, 2):
        _record.write_curve(trial, CURVE[:n], store=store)
        (running,) = _record.trials(study)
        assert running.curve == CURVE[:n] and running.epochs_trained == CURVE[n - 1]["epoch"]
    assert sorted(running.artifacts) == ["learning_curve.json", "run_config.json"]  # one curve, rewritten in place


def test_artifact_listing_matches_optunas_and_skips_one_the_dashboard_deleted(tmp_path):
    from optuna.artifacts import get_all_artifact_meta

    study, store = _study(tmp_path)
    frozen = _searched_trial(study, store, tmp_path)
    record = _record.trials(study)[0]
    assert record.artifacts == {m.filename: m.artifact_id for m in get_all_artifact_meta(frozen, storage=study._storage)}
    assert _record.StudyRecord.of(study).artifacts == {m.filename: m.artifact_id for m in get_all_artifact_meta(study)}
    # optuna-dashboard deletes an artifact by setting its entry to null.
    deleted = record.artifacts["checkpoint.pt"]
    study._storage.set_study_system_attr(study._study_id, "artifacts:" + deleted, "null")  # a study's entry, likewise
    frozen.system_attrs["artifacts:" + deleted] = "null"
    assert "checkpoint.pt" not in _record.TrialRecord.of(frozen, store).artifacts


def test_a_checkpoint_downloads_as_binary_and_json_as_json(tmp_path):
    from optuna.artifacts import get_all_artifact_meta

    study, store = _study(tmp_path)
    frozen = _searched_trial(study, store, tmp_path)
    types = {m.filename: m.mimetype for m in get_all_artifact_meta(frozen, storage=study._storage)}
    # Before: the system's guess for .pt, application/vnd.snesdev-page-table.
    assert types["checkpoint.pt"] == "application/octet-stream" and types["metrics.json"] == "application/json"


def test_a_record_without_the_studys_store_refuses_to_guess(tmp_path):
    study, store = _study(tmp_path)
    frozen = _searched_trial(study, store, tmp_path)
    bare = _record.TrialRecord.of(frozen)
    assert bare.family == "plain-lstm" and bare.epochs_trained == 2.0  # user attributes need no store
    with pytest.raises(ValueError, match="run_config.json is an artifact"):
        bare.run_config
    elsewhere = _record.TrialRecord.of(frozen, None)  # the study's artifacts folder is not on this machine
    assert elsewhere.run_config == {} and elsewhere.curve == [] and elsewhere.files_elsewhere


def test_the_study_header_keeps_its_task_space_and_config_in_files(tmp_path):
    from search.confirm import Confirmation

    study, store = _study(tmp_path)
    info = _record.StudyRecord.of(study)
    assert info.space_spec == SPACE and info.config == CONFIG and info.space_digest == _record.space_digest(SPACE)
    assert info.space_digest != _record.space_digest({**SPACE, "families": ["plain-lstm"]})
    assert info.task == {"name": "adding", "T": 20} and info.task_text == "adding T=20"
    assert _record.task_text({"name": "adding", "T": 20, "seed": 1}) != info.task_text
    assert sorted(info.artifacts) == ["search_config.json", "space.json", "task.json"]
    # A few words or numbers each (artifact_dir is a path, as long as the folder's)
    assert max(len(f"{k} {json.dumps(v)}") for k, v in study.user_attrs.items() if k != "artifact_dir") <= 80
    for seconds in (1.0, 2.0):  # a second confirmation replaces the first
        confirmation = Confirmation("s", 2, ("val_accuracy", "instability"), True, (), str(tmp_path), seconds)
        _record.write_confirmed(study, confirmation.to_dict(), headline=confirmation.headline(), store=store)
    info = _record.StudyRecord.of(study)
    assert info.confirmed["seconds"] == 2.0 and sorted(info.artifacts).count("confirmation.json") == 1


def test_a_study_written_before_the_files_reads_the_same(tmp_path):
    """Studies whose long data were user attributes (run_config, metrics, curve, grad_profile,
    space_spec, search_config, confirmed) are read from them."""
    import optuna

    from search import make_storage, storage_url

    study = optuna.create_study(storage=make_storage(storage_url(tmp_path)), study_name="old", directions=["maximize", "minimize"])
    for key, value in {"task": {"name": "adding", "T": 20}, "metric": "accuracy", "space": "small", "space_spec": SPACE,
                       "search_config": CONFIG, "confirmed": {"study": "old"}, "artifact_dir": str(tmp_path / "gone")}.items():
        study.set_user_attr(key, value)
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.COMPLETE, values=[0.8, 0.7], params={}, distributions={},
        user_attrs={"run_config": RUN, "family": "plain-lstm", "status": "completed", "metrics": METRICS, "curve": CURVE,
                    "grad_profile": [0.1, None], "grad_profile_t": [1, 2], "artifacts": {"checkpoint.pt": "abc"}}))
    info = _record.StudyRecord.of(study)
    assert (info.space_spec, info.config, info.confirmed) == (SPACE, CONFIG, {"study": "old"})
    assert (info.task, info.task_text) == ({"name": "adding", "T": 20}, "adding T=20")
    assert info.space_digest == _record.space_digest(SPACE) and info.store is None
    (record,) = _record.trials(study)
    assert (record.run_config, record.metrics, record.curve) == (RUN, METRICS, CURVE)
    assert (record.grad_profile, record.grad_profile_t, record.epochs_trained) == ([0.1, None], [1, 2], 2.0)
    assert record.artifacts == {"checkpoint.pt": "abc"} and not record.files_elsewhere


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
