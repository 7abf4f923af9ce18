"""`momnas train` through Typer's CliRunner: a tiny run, and bad input as one line with exit code 2."""

import json
import time

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
    (["--lr", "1e39"], "`lr` 1e+39 is beyond float32's range"),  # before: a traceback from the optimizer
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


def test_cell_pairs_set_parameters_and_a_key_given_twice_is_refused(tmp_path):
    i = TINY.index("--mu")
    args = TINY[:i] + TINY[i + 2:] + ["--cell", "mu=0.7", "--epochs", "1"]
    result = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert runs.RunConfig.from_file(tmp_path / "a" / "run.json").cell.mu == 0.7
    result = CliRunner().invoke(app, ["train", *TINY, "--cell", "mu=0.7", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "mu is given twice (--mu 0.6 and --cell mu=0.7)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "b").exists()


def test_out_holding_a_run_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(out)]).exit_code == 0
    before = (out / "metrics.json").read_bytes()
    result = CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 2
    assert "already holds a run" in result.output and "--overwrite" in result.output
    assert (out / "metrics.json").read_bytes() == before  # nothing replaced
    result = CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--seed", "3", "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert runs.RunConfig.from_file(out / "run.json").train.seed == 3
    # A folder with other files only (notes, say) is fine: nothing of a run is there to lose.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(other)]).exit_code == 0
    assert (other / "notes.txt").read_text() == "mine"


def test_out_that_cannot_be_made_fails_before_training(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(app, ["train", *TINY, "--out", str(tmp_path / "afile" / "sub")])
    assert result.exit_code == 2 and "is a file, so the folder cannot be made" in result.output
    assert "Traceback" not in result.output and "8/8" not in result.output
    assert (tmp_path / "afile").read_text() == "x"


def test_an_unknown_impl_is_refused_before_any_folder_is_made(tmp_path):
    result = CliRunner().invoke(app, ["train", *TINY, "--impl", "nope", "--out", str(tmp_path / "new" / "run")])
    assert result.exit_code == 2 and "impl='nope' is not a cells implementation; choose one of reference, auto" in result.output
    assert not (tmp_path / "new").exists()


def test_run_file_that_is_a_folder_names_its_run_json(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    result = CliRunner().invoke(app, ["train", str(tmp_path)])
    assert result.exit_code == 2 and f"is a folder, not a run file: give {tmp_path / 'run.json'}" in " ".join(result.output.split())


def test_a_binary_run_file_is_named_with_the_fix(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\xac\xed\x00\x05" + bytes(range(256)))
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert message.startswith("error:") and str(path) in message and "not text" in message and "run.json" in message


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert CliRunner().invoke(app, ["train", *TINY, "--out", str(out)]).exit_code == 0
    return out / "checkpoint.pt"


@pytest.mark.parametrize("damage", [
    lambda data: data[:100],  # truncated: EOFError / RuntimeError inside torch.load
    lambda data: b"garbage" * 50,  # not a zip or pickle: UnpicklingError
    lambda data: b"",  # empty
])
def test_runs_load_of_a_damaged_checkpoint_is_one_line(tmp_path, trained_checkpoint, damage):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(damage(trained_checkpoint.read_bytes()))
    with pytest.raises(ValueError, match="is not a readable checkpoint") as refused:
        runs.load(checkpoint)
    assert str(checkpoint) in str(refused.value) and "\n" not in str(refused.value)


def test_runs_load_of_weights_that_do_not_fit_is_one_line(tmp_path, trained_checkpoint):
    data = torch.load(trained_checkpoint, weights_only=True)
    data["model_state"] = {k: v for k, v in data["model_state"].items() if not k.startswith("readout")}
    torch.save(data, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="the weights do not fit the model"):
        runs.load(tmp_path / "checkpoint.pt")


def test_the_summary_says_1_epoch(tmp_path):
    result = CliRunner().invoke(app, ["train", *[a for a in TINY if a != "--quiet"], "--epochs", "1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and "1 epoch," in result.output and "1 epochs" not in result.output


@pytest.mark.parametrize("args,message", [
    (["-H", "100000000"], "run needs about "),
    (["--T", "1000000000"], "run needs about "),
    (["--task", "npz:{npz}"], "class label 1099511627776"),
])
def test_sizes_that_cannot_fit_are_refused_in_one_line_before_anything(tmp_path, args, message):
    import numpy as np

    np.savez(tmp_path / "big.npz", x=np.zeros((10, 5, 1), np.float32), y=np.array([0] * 9 + [2**40]))
    runs.estimate_memory(runs.build_run_config(cell={"core": "lstm"}, task={"name": "adding"}))  # meta kernels loaded
    args = [a.format(npz=tmp_path / "big.npz") for a in args]
    i = TINY.index("--task")
    base = TINY[:i] + TINY[i + 4:] if args[0] == "--task" else TINY  # npz: no --T
    out = tmp_path / "run"
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["train", *base, *args, "--out", str(out)])
    assert time.perf_counter() - started < 1.0
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not out.exists()
