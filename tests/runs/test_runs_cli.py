"""`momnas train` through Typer's CliRunner: a tiny run, and bad input as one line with exit code 2."""

import json

import pytest
import torch
from typer.testing import CliRunner

import cells
import runs
from search.cli import app

TINY = ["--core", "lstm", "--dynamics", "momentum", "--mu", "0.6", "--s", "0.6", "-H", "8",
        "--task", "adding", "--T", "12", "--n-train", "64", "--n-val", "16", "--n-test", "16",
        "--batch-size", "16", "--epochs", "2", "--device", "cpu", "--quiet"]


def test_tiny_run_writes_results_that_rebuild(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {"metrics.json", "curves.json", "curves.html", "run.json", "checkpoint.pt"} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["task"] == "adding" and metrics["steps"] == 8
    config = runs.RunConfig.from_file(out / "run.json")
    assert (config.cell.core, config.cell.mu, config.task.T, config.train.epochs) == ("lstm", 0.6, 12, 2)

    x = torch.rand(3, 12, 2)
    model = runs.load(out / "checkpoint.pt")
    cell = cells.load(out / "checkpoint.pt")
    with torch.no_grad():
        assert torch.allclose(cell(x)[0], model.cell(x)[0], atol=1e-5)
    assert model.readout.out_features == 1

    # The written run file trains again, flags overriding it.
    again = CliRunner().invoke(app, ["train", str(out / "run.json"), "--epochs", "1", "--quiet", "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["steps"] == 4


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "adagrad"], "unknown optimizer 'adagrad'; choose one of adam, rmsprop, sgd"),
    (["--task", "addding"], "unknown task 'addding'"),
    (["--cell", "restart"], "expected KEY=VALUE"),
    (["--lr", "-1"], "`lr` must be a positive number"),
])
def test_bad_flags_give_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", *TINY, *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in " ".join(result.output.split())
    assert not out.exists()


def test_bad_run_file_and_missing_mnist(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"cell": {"core": "gru"}, "task": {"name": "digits"}, "optimiser": {}}))
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown key(s) 'optimiser'" in result.output
    monkeypatch.delenv("MOMNAS_DATA", raising=False)
    result = CliRunner().invoke(app, ["train", "--core", "lstm", "--task", "psmnist", "--data-dir", str(tmp_path),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "MNIST not found" in result.output and "--data-dir" in result.output
    assert not (tmp_path / "o").exists()


def test_progress_bar_shows_steps_loss_and_metric(tmp_path):
    args = [a for a in TINY if a != "--quiet"]
    result = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "8/8" in result.output and "loss" in result.output and "val mse" in result.output


def test_nothing_to_train_says_what_to_give():
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 2 and "nothing to train: give a run file" in result.output
