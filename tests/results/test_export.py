"""`momnas export`: which trial it picks, what it refuses, and that the exported cell is the trained one."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import optuna
import pytest
import torch
from typer.testing import CliRunner

import cells
import runs
import search
from search import _record
from search import export as ex
from search.cli import app

DIGITS = {"name": "digits", "n_train": 128, "n_val": 64, "n_test": 64}
TRAIN = {"steps": 4, "batch_size": 32, "device": "cpu", "seed": 0}


@pytest.fixture
def picks_study(tmp_path, make_study, trial_spec):
    """Accuracy maximised. Pareto set {0, 1, 5, 6}; normalised over it (acc 0.60..0.95, instability
    0.05..0.90) the distances to the ideal point are 0.548, 0.463, 1, 1: the knee is trial 1.
    Trials 3, 4 and 7 look best of all but failed, stopped early, or diverged: never picked."""
    return make_study(
        tmp_path,
        [
            trial_spec("momentum-lstm", (0.90, 0.50), mu=0.6, s=0.6),  # 0
            trial_spec("plain-lstm", (0.80, 0.20)),  # 1  knee
            trial_spec("momentum-lstm", (0.70, 0.60), mu=0.1, s=0.9),  # 2  dominated
            trial_spec("momentum-lstm", state="fail", mu=0.9, s=1.0, recorded=(0.99, 0.01)),  # 3
            trial_spec("adam-gru", state="pruned", mu=0.3, s=0.3, recorded=(0.99, 0.01)),  # 4
            trial_spec("momentum-lstm", (0.95, 0.90), mu=0.9, s=0.9),  # 5  best accuracy
            trial_spec("plain-lstm", (0.60, 0.05)),  # 6  most stable
            trial_spec("momentum-lstm", (0.99, 0.01), mu=0.5, s=0.5, status="diverged"),  # 7: COMPLETE but diverged
        ],
    )


@pytest.mark.parametrize(
    "pick, number",
    [("knee", 1), ("best:val_acc", 5), ("best:acc", 5), ("best:0", 5), ("best:instability", 6), ("trial:2", 2)],
)
def test_pick(picks_study, pick, number):
    assert ex.pick_trial(picks_study, pick).number == number


@pytest.mark.parametrize(
    "pick, words",
    [
        ("trial:3", ["trial 3", "failed", "diverged", "only completed trials"]),
        ("trial:4", ["trial 4", "stopped early"]),
        ("trial:7", ["trial 7", "diverged"]),
        ("trial:99", ["no trial 99"]),
        ("trial:x", ["trial number"]),
        ("best:loss", ["unknown objective 'loss'", "val_acc, instability"]),
        ("best", ["unknown --pick"]),
        ("middle", ["unknown --pick 'middle'", "knee"]),
    ],
)
def test_pick_refuses_with_a_reason(picks_study, pick, words):
    with pytest.raises(ValueError) as err:
        ex.pick_trial(picks_study, pick)
    for word in words:
        assert word in str(err.value)


def test_knee_with_a_minimised_metric(tmp_path, make_study, trial_spec):
    # mse minimised. Pareto {0, 1, 2}: normalised (0, 1), (0.25, 0.125), (1, 0): the knee is trial 1.
    study = make_study(
        tmp_path,
        [trial_spec("plain-rnn", (0.10, 0.90)), trial_spec("plain-rnn", (0.15, 0.20)), trial_spec("plain-rnn", (0.30, 0.10)),
         trial_spec("plain-rnn", (0.40, 0.95))],
        metric="mse", direction="minimize",
    )
    assert ex.pick_trial(study, "knee").number == 1
    assert ex.pick_trial(study, "best:mse").number == 0
    assert ex.pick_trial(study, "best:instability").number == 2


def test_no_eligible_trial_is_one_clear_line(tmp_path, make_study, trial_spec):
    out = tmp_path / "runs"
    make_study(out, [trial_spec("plain-lstm", state="fail"), trial_spec("plain-lstm", state="pruned", recorded=(0.5, 0.5))], name="bad")
    result = CliRunner().invoke(app, ["export", "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "error: study 'bad' has no completed trial to export" in lines[0]
    assert "1 failed (diverged)" in lines[0] and "1 was stopped early)" in lines[0]
    assert "momnas search --resume" in lines[0]  # what to do
    assert not (out / "bad" / "best.json").exists()


def test_export_json_without_checkpoint(picks_study, tmp_path):
    # The CLI, defaults: knee, OUT/STUDY/best.json.
    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "study" / "best.json"
    assert "trial 1 (knee)" in result.stdout and "kept no checkpoint" in result.stderr
    data = json.loads(path.read_text())
    trial = _record.trials(picks_study)[1]
    assert data["cell"] == trial.run_config["cell"] and data["cell"]["core"]
    assert data["task"] == trial.run_config["task"]
    assert data["train"] == trial.run_config["train"]
    assert data["metrics"] == trial.metrics and data["metrics"]["validation"]
    assert data["source"] == {"study": "study", "trial": 1, "storage": search.storage_url(tmp_path), "pick": "knee",
                              "why": "nearest the ideal point of 5 Pareto trials"}
    assert "weights" not in data
    # A run file that runs reads, and a cell that cells rebuilds (fresh: no weights).
    config = runs.RunConfig.from_file(path)
    assert config.cell == cells.CellConfig.from_dict(data["cell"])
    assert cells.load(path).config == config.cell


def test_export_never_replaces_a_file_without_overwrite(picks_study, tmp_path):
    runner = CliRunner()
    target = tmp_path / "mine.json"
    target.write_text("my notes")
    result = runner.invoke(app, ["export", "--out", str(tmp_path), "--to", str(target)])
    assert result.exit_code == 2 and "already exists: add --overwrite" in " ".join(result.output.split())
    assert target.read_text() == "my notes"
    result = runner.invoke(app, ["export", "--out", str(tmp_path), "--to", str(target), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["source"]["trial"] == 1


def test_export_to_a_folder_or_under_a_file_writes_nothing(picks_study, tmp_path):
    runner = CliRunner()
    folder = tmp_path / "runs"
    folder.mkdir()
    result = runner.invoke(app, ["export", "--out", str(tmp_path), "--to", str(folder)])
    # Before: success was printed and a stray temporary file was left in the folder.
    assert result.exit_code == 2 and "is a folder; name the JSON file" in " ".join(result.output.split())
    assert list(folder.iterdir()) == []
    (tmp_path / "afile").write_text("x")
    result = runner.invoke(app, ["export", "--out", str(tmp_path), "--to", str(tmp_path / "afile" / "best.json")])
    assert result.exit_code == 2 and "is a file, so the folder cannot be made" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_export_hides_the_storage_password(picks_study, tmp_path):
    done = ex.export_trial(picks_study, tmp_path / "best.json", storage="postgresql+psycopg://momnas:s3/cr@t@db.example/momnas")
    assert json.loads(done.path.read_text())["source"]["storage"] == "postgresql+psycopg://momnas:***@db.example/momnas"


def test_torch_export_needs_a_checkpoint(picks_study, tmp_path):
    with pytest.raises(ValueError, match="kept no checkpoint"):
        ex.export_trial(picks_study, tmp_path / "best.json", pick="knee", fmt="torch-export")


# ---------------------------------------------------------------------------- really trained trials


@pytest.fixture(scope="module")
def trained(tmp_path_factory, make_study, add_trained_trial):
    """A study of two really trained trials (digits, hidden 8, 4 steps), checkpoints kept as artifacts."""
    out = tmp_path_factory.mktemp("trained")
    study = make_study(out, [], name="trained", metric="accuracy", direction="maximize", task=DIGITS)
    numbers = [
        add_trained_trial(study, {"cell": cell, "task": DIGITS, "train": TRAIN}, out / f"trial{i}")
        for i, cell in enumerate([
            {"core": "lstm", "dynamics": "momentum", "input_size": 1, "hidden_size": 8, "mu": 0.6, "s": 0.6},
            {"core": "gru", "dynamics": "adam", "input_size": 1, "hidden_size": 8, "mu": 0.3, "s": 0.9, "beta": 0.1},
        ])
    ]
    return out, study, numbers


@pytest.mark.slow
def test_exported_cell_is_the_trained_one(trained, tmp_path):
    out, study, numbers = trained
    for number in numbers:
        done = ex.export_trial(study, tmp_path / f"t{number}" / "best.json", pick=f"trial:{number}", storage=search.storage_url(out))
        assert done.weights == tmp_path / f"t{number}" / "best.pt"
        data = json.loads(done.path.read_text())
        assert data["weights"] == "best.pt"
        assert data["metrics"]["validation"]["accuracy"] == study.trials[number].values[0]

        trained_model = runs.load(out / f"trial{numbers.index(number)}" / "checkpoint.pt")  # what the trial trained
        cell = cells.load(done.path)
        x = torch.rand(3, 64, 1, generator=torch.Generator().manual_seed(number))
        with torch.no_grad():
            expected, _ = trained_model.cell(x)
            got, _ = cell(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        # ...and its training configuration is the trial's: `momnas train best.json` retrains it.
        assert runs.RunConfig.from_file(done.path) == runs.RunConfig.from_dict(_record.trials(study)[number].run_config)


@pytest.mark.slow
def test_exported_run_file_retrains(trained, tmp_path):
    out, study, numbers = trained
    done = ex.export_trial(study, tmp_path / "best.json", pick="trial:0")
    result = CliRunner().invoke(app, ["train", str(done.path), "--out", str(tmp_path / "retrain"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "retrain" / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    # The same seed, data and steps: retraining from scratch gives the trial's numbers again.
    assert metrics["validation"]["accuracy"] == pytest.approx(study.trials[0].values[0])
    assert metrics["stability"]["instability"] == pytest.approx(study.trials[0].values[1], rel=1e-4)


@pytest.mark.slow
def test_torch_export_program_matches_the_trained_model(trained, tmp_path):
    out, study, numbers = trained
    result = CliRunner().invoke(
        app, ["export", "--out", str(out), "--pick", "best:accuracy", "--format", "torch-export", "--to", str(tmp_path / "best.json")]
    )
    assert result.exit_code == 0, result.output + result.stderr
    program = tmp_path / "best.pt2"
    assert f"torch.export program: {program}" in result.stdout
    picked = json.loads((tmp_path / "best.json").read_text())["source"]["trial"]
    assert picked == ex.pick_trial(study, "best:accuracy").number

    loaded = torch.export.load(program).module()  # no momnas needed to run it
    model = runs.load(tmp_path / "best.pt").eval()
    for batch in (4, 3):  # the example's batch, and another: the batch dimension is left free
        x = torch.rand(batch, 64, 1, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)


class _HostBranchLSTM(cells.cores.LSTMCell):
    """A cell implementation a user might register: it branches on its input's values in
    Python, which torch.export cannot trace (a data-dependent guard)."""

    def forward(self, x, state=None):
        if x.sum() >= 0:
            return super().forward(x, state)
        return super().forward(-x, state)


@pytest.mark.slow
def test_torch_export_of_a_model_that_cannot_be_exported_is_refused_in_one_line(tmp_path, make_study, add_trained_trial):
    cells.register_impl("host-branch", _HostBranchLSTM)
    out = tmp_path / "study"
    study = make_study(out, [], name="unexportable", metric="accuracy", direction="maximize", task=DIGITS)
    cell = {"core": "lstm", "dynamics": "plain", "input_size": 1, "hidden_size": 8}
    add_trained_trial(study, {"cell": cell, "task": DIGITS, "train": {**TRAIN, "impl": "host-branch"}}, out / "trial0")
    to = tmp_path / "export" / "best.json"
    result = CliRunner().invoke(app, ["export", "--out", str(out), "--format", "torch-export", "--to", str(to)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "plain-lstm cannot be exported with torch.export" in message and "--format json" in message
    assert "Traceback" not in result.output
    assert not to.exists() and not to.with_suffix(".pt2").exists()  # no run file naming a missing program


def test_knee_of_two_pareto_trials_is_the_more_accurate(tmp_path, make_study, trial_spec):
    """Two Pareto points both lie at distance 1 from the ideal point: the tie goes to the primary
    objective (the quickstart's knee was trial 6, val 0.597, instead of 0.882), and export says why."""
    study = make_study(tmp_path, [
        trial_spec("plain-lstm", (0.597, 0.10)),  # 0: a little more stable, much less accurate
        trial_spec("momentum-lstm", (0.882, 0.20), mu=0.6, s=0.6),  # 1
    ])
    assert ex.pick_trial(study, "knee").number == 1
    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path), "--to", str(tmp_path / "x" / "best.json")])
    assert result.exit_code == 0, result.output + result.stderr
    assert "trial 1 (knee)" in result.stdout
    assert "2 of 2 Pareto trials tie" in result.stderr and "best on the primary objective" in result.stderr


def test_best_json_has_the_mode_of_the_weights_beside_it(picks_study, tmp_path):
    done = ex.export_trial(picks_study, tmp_path / "best.json")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o666 & ~umask


def _study_folder_copy(trained_out: Path, folder: Path) -> Path:
    """A copy of the trained study's folder that records itself as its artifact folder, as a search there would."""
    shutil.copytree(trained_out, folder)
    storage = search.make_storage(search.storage_url(folder), create=False)
    study = optuna.load_study(study_name="trained", storage=storage)
    study.set_user_attr("artifact_dir", str((folder / "artifacts").resolve()))
    return folder


@pytest.mark.slow
def test_export_after_the_study_folder_moved(trained, tmp_path):
    out, study, numbers = trained
    before = _study_folder_copy(out, tmp_path / "runs-a")
    moved = before.rename(tmp_path / "runs-b")  # `mv runs-a runs-b`: the recorded artifact folder is gone
    result = CliRunner().invoke(app, ["export", "--out", str(moved), "--pick", "trial:0", "--to", str(tmp_path / "best.json")])
    assert result.exit_code == 0, result.output + result.stderr + repr(result.exception)
    assert (tmp_path / "best.pt").is_file() and runs.load(tmp_path / "best.pt") is not None


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "torch-export"])
def test_export_of_an_unreadable_checkpoint_writes_nothing(trained, tmp_path, fmt):
    out, study, numbers = trained
    folder = _study_folder_copy(out, tmp_path / "runs")
    artifact_id = _record.trials(study)[0].artifacts["checkpoint.pt"]
    checkpoint = folder / "artifacts" / artifact_id
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # a truncated copy, as a full disk leaves
    to = tmp_path / "export" / "best.json"
    args = ["export", "--out", str(folder), "--pick", "trial:0", "--format", fmt, "--to", str(to)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output + result.stderr + repr(result.exception)
    assert "trial 0's checkpoint" in result.stderr and "not a readable checkpoint" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not to.parent.exists() or not list(to.parent.iterdir())  # nothing left to block the retry

    shutil.copy(out / "artifacts" / artifact_id, checkpoint)  # restored: the same command now succeeds
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + result.stderr
    assert to.is_file() and to.with_suffix(".pt").is_file()
