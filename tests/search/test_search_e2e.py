"""Real searches on CPU with a local Ray: tiny trials (adding T=20, hidden 8, one epoch)."""

import json

import optuna
import pytest
from optuna.artifacts import download_artifact
from optuna.trial import TrialState
from typer.testing import CliRunner

import spaces
from search import TrialRecord, _record, finished_trials, open_study, run_search, status_info, study_artifact_store
from search.cli import app
from search.errors import BadInput
from tests_search_helpers import TINY, Recorder, tiny

pytestmark = pytest.mark.slow


def _flags(**kw):
    cfg = {**TINY, **kw}
    out = []
    for key, value in cfg.items():
        out += [f"--{key.replace('_', '-')}" if key != "T" else "--T", str(value)]
    return out


def test_search_leaves_trials_objectives_and_attributes(ray_session, tmp_path):
    heard = Recorder()
    outcome = run_search(tiny(trials=3, out=str(tmp_path), study="e2e"), listener=heard)
    study = outcome.study
    assert not outcome.interrupted and outcome.ran == 3 and outcome.plots
    assert heard.started_with == {"total": 3, "done": 0, "metric": "mse", "direction": "minimize"}
    assert sorted(heard.started) == [0, 1, 2] and len(heard.finished) == 3
    assert study.metric_names == ["val_mse", "instability"]
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    from search import StudyRecord

    info = StudyRecord.of(study)
    assert info.task == {"name": "adding", "T": 20, "n_train": 256, "n_val": 64, "n_test": 64, "seed": 0}
    assert (info.metric, info.space, info.target_epochs) == ("mse", "small", 1)
    assert info.artifact_dir == str((tmp_path / "artifacts").resolve())
    assert info.config["trials"] == 3 and info.config["study"] == "e2e"

    again = open_study(out_dir=tmp_path)  # the way plots and export open it
    assert again.study_name == "e2e" and len(again.trials) == 3
    records = _record.trials(again)
    # What each trial's start cost, for the benchmarks. 3 trials, 2 at a time: a later trial
    # runs in the worker process of an earlier one, which paid the start once.
    assert min(r.worker_trial for r in records) == 1 and max(r.worker_trial for r in records) >= 2
    for r in records:
        assert r.startup_s >= r.metrics["startup_seconds"] > 0 and r.start_wait_s >= 0
    store = study_artifact_store(again)
    for r in records:
        assert r.state.is_finished()
        assert set(r.run_config) == {"cell", "task", "train"} and r.run_config["task"] == info.task
        assert r.cell["hidden_size"] == 8 and r.cell["input_size"] == 2
        assert r.family == r.params["family"] == f"{r.cell['dynamics']}-{r.cell['core']}"
        assert r.status == r.metrics["status"]
        if r.status == "completed":
            assert r.state == TrialState.COMPLETE
            assert r.values == [r.metrics["validation"]["mse"], r.metrics["stability"]["instability"]]
            assert len(r.grad_profile) == len(r.grad_profile_t) == 20
            assert {"run.json", "metrics.json", "curves.json", "checkpoint.pt"} <= set(r.artifacts)
        else:
            assert r.state == (TrialState.PRUNED if r.status == "stopped" else TrialState.FAIL)
        # artifacts are real files in the store, readable back
        path = tmp_path / f"metrics-{r.number}.json"
        download_artifact(artifact_store=store, artifact_id=r.artifacts["metrics.json"], file_path=str(path))
        assert json.loads(path.read_text()) == r.metrics
        # the trial's parameters are exactly what the space suggests for them
        assert spaces.get_space("small")(optuna.trial.FixedTrial(r.params))["cell"].items() <= r.cell.items()


def test_resume_keeps_finished_trials_and_requeues_interrupted_ones(ray_session, tmp_path):
    cfg = tiny(trials=2, out=str(tmp_path), study="r")
    first = run_search(cfg).study
    before = {t.number: (t.datetime_complete, t.values) for t in first.trials}
    assert len(finished_trials(first)) == 2

    # What a search killed mid-trial leaves behind: a RUNNING trial with its parameters drawn.
    stuck = first.ask()
    spaces.get_space("small")(stuck)
    stuck_params = first.trials[-1].params

    with pytest.raises(BadInput, match="add --resume to continue it"):
        run_search(cfg)

    result = CliRunner().invoke(app, ["search", *_flags(), "--trials", "4", "--resume", "--out", str(tmp_path), "--study", "r"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps lines
    assert f"resume: trial {stuck.number}, left running by a search that is gone, re-queued" in said
    assert "Pareto set of r" in said and "momnas plot" in said and "momnas confirm" in said

    study = open_study(out_dir=tmp_path, study="r")
    trials = study.trials
    for number, (done_at, values) in before.items():  # not re-run, not lost
        assert (trials[number].datetime_complete, trials[number].values) == (done_at, values)
    interrupted = TrialRecord.of(trials[stuck.number])
    assert interrupted.state == TrialState.FAIL and interrupted.interrupted
    counted = finished_trials(study)
    assert len(counted) == 4
    requeued = [r for r in counted if r.requeued_from == stuck.number]
    assert len(requeued) == 1 and requeued[0].params == stuck_params
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))

    status = CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--study", "r"])
    assert status.exit_code == 0, status.output
    said = " ".join(status.output.split())
    assert "1 interrupted: re-queued" in said and "Pareto set" in said and "target: 1 epochs" in said


def test_a_moved_study_folder_resumes_and_reads_its_new_trials_files(ray_session, tmp_path):
    """`mv runs-a runs-b`, then --resume there: the study still records runs-a/artifacts; the
    search's own summary, plots and confirmation read the new trials' files from runs-b."""
    run_search(tiny(trials=1, out=str(tmp_path / "runs-a"), study="m"))
    moved = (tmp_path / "runs-a").rename(tmp_path / "runs-b")
    outcome = run_search(tiny(trials=2, out=str(moved), study="m", resume=True))
    records = _record.trials(outcome.study)
    assert _record.StudyRecord.of(outcome.study).artifact_dir == str((tmp_path / "runs-a" / "artifacts").resolve())
    assert len(records) == 2 and all(r.curve and r.run_config and r.metrics for r in records)


def test_cli_search_with_a_failing_space_records_the_failure(ray_session, tmp_path):
    # The orthogonal core's n_neg must be <= hidden_size (8): refused before Ray starts, in one line.
    space = tmp_path / "bad.yaml"
    space.write_text("families: [plain-orthogonal]\nparams:\n  orthogonal.param: cayley\n  orthogonal.n_neg: 100\n")
    config = tmp_path / "search.yaml"
    tiny(space=str(space), trials=1, out=str(tmp_path / "runs")).to_yaml(config)
    result = CliRunner().invoke(app, ["search", "--config", str(config), "--study", "bad"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "no trial of plain-orthogonal could train (CellConfig: n_neg=100" in lines[0], result.output
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_an_unknown_task_before_starting_anything(tmp_path):
    result = CliRunner().invoke(app, ["search", "--task", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "error:" in result.output and "nope" in result.output
    assert not (tmp_path / "optuna.db").exists()


def test_mo_asha_stops_trials_as_pruned_and_keeps_them_off_the_front(ray_session, tmp_path):
    from search.export import pick_trial
    from search.plots import write_plots

    # 3 epochs, a rung at epoch 1 where only the top quarter goes on: some of 8 trials stop there.
    result = CliRunner().invoke(app, ["search", *_flags(epochs=3), "--trials", "8", "--early-stop", "mo-asha",
                                      "--reduction-factor", "4", "--out", str(tmp_path), "--study", "asha"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "early stopping: MO-ASHA towards the target of 3 epochs: rungs 1 (100%); the top 1/4 of a rung go on" in said

    study = open_study(out_dir=tmp_path, study="asha")
    pruned = _record.trials(study, states=(TrialState.PRUNED,))
    complete = _record.trials(study, states=(TrialState.COMPLETE,))
    assert pruned and complete, [t.state for t in study.trials]
    assert "stopped early" in said and f"{len(pruned)} stopped" in said
    for r in pruned:
        assert r.values is None and r.status == "stopped" and r.stopped_at == 1 and r.rungs == [1.0]
        (point,) = r.curve  # evaluated once, at the rung, then stopped
        assert point["epoch"] == 1 and point["metric"] > 0 and point["instability"] >= 0
    for r in complete:  # every evaluation's objectives, the last one the trial's values
        assert [p["epoch"] for p in r.curve] == [1, 2, 3]
        assert [r.curve[-1]["metric"], r.curve[-1]["instability"]] == pytest.approx(r.values)

    numbers = {r.number for r in pruned}
    assert not numbers & {t.number for t in study.best_trials}
    status = CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--study", "asha"])
    assert status.exit_code == 0 and f"{len(pruned)} pruned" in " ".join(status.output.split())
    info = status_info(study)
    assert not numbers & {row["trial"] for row in info["pareto"]}
    assert [f["epoch"] for f in info["fidelity"]] == [1.0]
    assert pick_trial(study, "knee").state == TrialState.COMPLETE
    with pytest.raises(BadInput, match="stopped early"):
        pick_trial(study, f"trial:{min(numbers)}")
    assert write_plots(study, tmp_path / "plots")


def test_priors_train_to_the_target_and_a_later_study_warm_starts_from_this_one(ray_session, tmp_path):
    # The `paper` space on the adding task: the coRNN and LSTM of the coRNN paper's adding table.
    # Hyperband with a rung at epoch 1 where only the top quarter goes on, 10 trials of 3 epochs.
    heard = Recorder()
    config = tiny(space="paper", epochs=3, trials=10, early_stop="hyperband", reduction_factor=4,
                  out=str(tmp_path), study="warm")
    outcome = run_search(config, listener=heard)
    assert "warm start (paper): 2 prior(s) first, each trained to the target: coRNN, LSTM" in heard.notes
    records = _record.trials(outcome.study)
    priors = [r for r in records if r.prior]
    assert [(r.number, r.prior, r.family) for r in priors] == [(0, "coRNN", "plain-cornn"), (1, "LSTM", "plain-lstm")]
    assert priors[0].cell["dt"] == 0.06 and priors[0].cell["gamma"] == 66.0 and priors[0].run_config["train"]["lr"] == 0.02
    for r in priors:  # never stopped: the bracket without a rung, trained to the target
        assert r.rungs == [] and r.state == TrialState.COMPLETE and r.epochs_trained == 3
    others = [r for r in records if not r.prior]
    assert {tuple(r.rungs) for r in others} <= {(1.0,), ()} and any(r.rungs for r in others)
    assert [p["prior"] for p in status_info(outcome.study)["priors"]] == ["coRNN", "LSTM"]

    # A new study seeded with this one's Pareto set: those cells first, as priors.
    later = run_search(tiny(space="paper", epochs=3, trials=3, warm_start="study:warm", out=str(tmp_path), study="later"),
                       listener=(heard := Recorder()))
    front = sorted(t.number for t in outcome.study.best_trials)
    ran = [TrialRecord.of(t).prior for t in later.study.trials if t.state.is_finished()]
    assert ran == [f"study warm trial {n}" for n in front][:3] + [None] * (3 - len(front))
    assert f"warm start (study:warm): {len(front)} prior(s) first" in heard.notes


def test_confirm_retrains_with_fresh_seeds_resumes_and_export_prefers_it(ray_session, tmp_path):
    from search.confirm import confirm_study, stored
    from search.export import export_trial

    from search._knee import knee_order
    from search.confirm import candidates

    outcome = run_search(tiny(trials=3, epochs=2, out=str(tmp_path), study="c", warm_start="none"))
    study = outcome.study
    heard = Recorder()
    confirmation = confirm_study(study, top=2, seeds=2, out_dir=tmp_path, listener=heard)
    front = sorted(_record.best_trials(study), key=lambda r: r.number)
    nearest = [front[i] for i in knee_order([r.values for r in front])][:2]  # both minimised (mse, instability)
    assert [c.trial for c in confirmation.cells] == [r.number for r in nearest]
    assert candidates(study, 2)[1] is None and confirmation.best_prior is None  # no prior in this search
    for cell, record in zip(confirmation.cells, front):
        base = record.run_config["train"]["seed"]
        assert cell.seeds == (base + 1, base + 2)  # fresh: never the search's own seed
        assert len(cell.finite(0)) == 2 and cell.std(0) >= 0
        metrics = json.loads((tmp_path / "c" / "confirm" / f"trial-{cell.trial:05d}" / f"seed-{base + 1}" / "metrics.json").read_text())
        assert metrics["epochs"] == 2  # the target budget
    assert len(heard.finished) == 4
    assert stored(study).to_dict() == confirmation.to_dict()  # kept with the study

    # The same call again trains nothing: every run is there.
    again = confirm_study(open_study(tmp_path, study="c"), top=2, seeds=2, out_dir=tmp_path, listener=(heard := Recorder()))
    assert heard.finished == [] and again.cells == confirmation.cells

    done = export_trial(open_study(tmp_path, study="c"), tmp_path / "best.json")
    assert done.pick == "confirmed" and "confirmed cells' means over 2 fresh seeds" in done.why
    exported = json.loads((tmp_path / "best.json").read_text())
    assert exported["source"]["trial"] == confirmation.best().trial
    assert exported["metrics"]["confirmed"]["val_mse"]["seeds"] == list(confirmation.best().seeds)
    status = CliRunner().invoke(app, ["status", "--out", str(tmp_path), "--study", "c"])
    assert "confirmed at the target of 2 epochs" in status.output and "(n = 2)" in status.output
