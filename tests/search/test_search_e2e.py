"""Real searches on CPU with a local Ray: tiny trials (adding T=20, hidden 8, one epoch)."""

import io
import json

import optuna
import pytest
from optuna.artifacts import download_artifact
from optuna.trial import TrialState
from rich.console import Console
from typer.testing import CliRunner

import spaces
from search import SearchConfig, finished_trials, open_study, run_search, study_artifact_store
from search.cli import app
from tests_search_helpers import TINY

pytestmark = pytest.mark.slow


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def _flags(**kw):
    cfg = {**TINY, **kw}
    out = []
    for key, value in cfg.items():
        out += [f"--{key.replace('_', '-')}" if key != "T" else "--T", str(value)]
    return out


def test_search_leaves_trials_objectives_and_attributes(ray_session, tmp_path):
    study = run_search(SearchConfig(**TINY, trials=3, out=str(tmp_path), study="e2e"), console=_quiet())
    assert study.metric_names == ["val_mse", "instability"]
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    attrs = study.user_attrs
    assert attrs["task"] == {"name": "adding", "T": 20, "n_train": 256, "n_val": 64, "n_test": 64, "seed": 0}
    assert (attrs["metric"], attrs["direction"], attrs["space"]) == ("mse", "minimize", "small")
    assert attrs["artifact_dir"] == str((tmp_path / "artifacts").resolve())

    again = open_study(out_dir=tmp_path)  # the way plots and export open it
    assert again.study_name == "e2e" and len(again.trials) == 3
    # What each trial's start cost, for the benchmarks. 3 trials, 2 at a time: a later trial
    # runs in the worker process of an earlier one, which paid the start once.
    worker_trials = [t.user_attrs["worker_trial"] for t in again.trials]
    assert min(worker_trials) == 1 and max(worker_trials) >= 2
    for trial in again.trials:
        assert trial.user_attrs["startup_s"] >= trial.user_attrs["metrics"]["startup_seconds"] > 0
        assert trial.user_attrs["start_wait_s"] >= 0
    store = study_artifact_store(again)
    for trial in again.trials:
        assert trial.state.is_finished()
        ua = trial.user_attrs
        run = ua["run_config"]
        assert set(run) == {"cell", "task", "train"} and run["task"] == attrs["task"]
        assert run["cell"]["hidden_size"] == 8 and run["cell"]["input_size"] == 2
        assert ua["family"] == trial.params["family"] == f"{run['cell']['dynamics']}-{run['cell']['core']}"
        assert ua["status"] == ua["metrics"]["status"]
        if ua["status"] == "completed":
            assert trial.state == TrialState.COMPLETE
            assert trial.values == [ua["metrics"]["validation"]["mse"], ua["metrics"]["stability"]["instability"]]
            assert len(ua["grad_profile"]) == len(ua["grad_profile_t"]) == 20
            assert {"run.json", "metrics.json", "curves.json", "checkpoint.pt"} <= set(ua["artifacts"])
        else:
            assert trial.state == (TrialState.PRUNED if ua["status"] == "stopped" else TrialState.FAIL)
        # artifacts are real files in the store, readable back
        path = tmp_path / f"metrics-{trial.number}.json"
        download_artifact(artifact_store=store, artifact_id=ua["artifacts"]["metrics.json"], file_path=str(path))
        assert json.loads(path.read_text()) == ua["metrics"]
        # the trial's parameters are exactly what the space suggests for them
        assert spaces.get_space("small")(optuna.trial.FixedTrial(trial.params))["cell"].items() <= run["cell"].items()


def test_resume_keeps_finished_trials_and_requeues_interrupted_ones(ray_session, tmp_path):
    cfg = SearchConfig(**TINY, trials=2, out=str(tmp_path), study="r")
    first = run_search(cfg, console=_quiet())
    before = {t.number: (t.datetime_complete, t.values) for t in first.trials}
    assert len(finished_trials(first)) == 2

    # What a search killed mid-trial leaves behind: a RUNNING trial with its parameters drawn.
    stuck = first.ask()
    spaces.get_space("small")(stuck)
    stuck_params = first.trials[-1].params

    with pytest.raises(FileExistsError, match="add --resume to continue it"):
        run_search(cfg, console=_quiet())

    result = CliRunner().invoke(app, ["search", *_flags(), "--trials", "4", "--resume", "--out", str(tmp_path), "--study", "r"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps lines
    assert "marked FAIL (interrupted) and re-queued" in said
    assert "Pareto set of r" in said and "momnas plot" in said

    study = open_study(out_dir=tmp_path, study="r")
    trials = study.trials
    for number, (done_at, values) in before.items():  # not re-run, not lost
        assert (trials[number].datetime_complete, trials[number].values) == (done_at, values)
    interrupted = trials[stuck.number]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["interrupted"] is True
    counted = finished_trials(study)
    assert len(counted) == 4
    requeued = [t for t in counted if t.user_attrs.get("requeued_from") == stuck.number]
    assert len(requeued) == 1 and requeued[0].params == stuck_params
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))

    status = CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--study", "r"])
    assert status.exit_code == 0, status.output
    said = " ".join(status.output.split())
    assert "1 interrupted" in said and "Pareto set" in said


def test_cli_search_with_a_failing_space_records_the_failure(ray_session, tmp_path):
    # n_neg must be <= hidden_size (8): every trial's cell is invalid, and says so.
    space = tmp_path / "bad.yaml"
    space.write_text("families: [plain-orthogonal]\nparams:\n  orthogonal.param: cayley\n  orthogonal.n_neg: 100\n")
    config = tmp_path / "search.yaml"
    SearchConfig(**{**TINY, "space": str(space)}, trials=1, out=str(tmp_path / "runs")).to_yaml(config)
    result = CliRunner().invoke(app, ["search", "--config", str(config), "--study", "bad"])
    # The trial's failure is recorded, shown with its reason, and a search with no completed
    # trial ends with exit code 1 and one error line naming the first failure.
    output = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "1 failed" in output and "failed: ValueError: CellConfig: n_neg=100" in output
    assert "error: no trial completed (1 failed); trial 0: ValueError: CellConfig: n_neg=100" in output
    (trial,) = open_study(out_dir=tmp_path / "runs").trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["status"] == "failed"
    assert "n_neg" in trial.user_attrs["error"]
    assert "error.txt" in trial.user_attrs["artifacts"]


def test_cli_refuses_an_unknown_task_before_starting_anything(tmp_path):
    result = CliRunner().invoke(app, ["search", "--task", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "error:" in result.output and "nope" in result.output
    assert not (tmp_path / "optuna.db").exists()


def test_mo_asha_stops_trials_as_pruned_and_keeps_them_off_the_front(ray_session, tmp_path):
    from search.export import pick_trial
    from search.plots import write_plots

    # 3 epochs, a rung at epoch 1 where only the top quarter goes on: some of 8 trials stop there.
    flags = _flags(epochs=3)
    result = CliRunner().invoke(app, ["search", *flags, "--trials", "8", "--early-stop", "mo-asha", "--reduction-factor", "4",
                                      "--out", str(tmp_path), "--study", "asha"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "early stopping: MO-ASHA: at epoch(s) 1 the top 1/4 on both objectives go on" in said

    study = open_study(out_dir=tmp_path, study="asha")
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned and complete, [t.state for t in study.trials]
    assert "stopped early" in said and f"{len(pruned)} stopped" in said
    for trial in pruned:
        ua = trial.user_attrs
        assert trial.values is None and ua["status"] == "stopped" and ua["stopped_at_epoch"] == 1
        (point,) = ua["curve"]  # evaluated once, at the rung, then stopped
        assert point["epoch"] == 1 and point["metric"] > 0 and point["instability"] >= 0
    for trial in complete:  # every evaluation's objectives, the last one the trial's values
        curve = trial.user_attrs["curve"]
        assert [p["epoch"] for p in curve] == [1, 2, 3]
        assert [curve[-1]["metric"], curve[-1]["instability"]] == pytest.approx(trial.values)

    numbers = {t.number for t in pruned}
    assert not numbers & {t.number for t in study.best_trials}
    status = CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--study", "asha"])
    assert status.exit_code == 0 and f"{len(pruned)} pruned" in " ".join(status.output.split())
    assert not numbers & {row["trial"] for row in search_status(tmp_path)["pareto"]}
    assert pick_trial(study, "knee").state == TrialState.COMPLETE
    with pytest.raises(ValueError, match="stopped early"):
        pick_trial(study, f"trial:{min(numbers)}")
    assert write_plots(study, tmp_path / "plots")


def search_status(out):
    from search._summary import status_info

    return status_info(open_study(out_dir=out, study="asha"))
