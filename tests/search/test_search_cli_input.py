"""`momnas search` with bad input: one `error:` line, exit code 2, and no storage, study or Ray
started (every case here fails before Ray, so these tests take no Ray time)."""

import pytest
import torch
from typer.testing import CliRunner

from search.cli import app
from tests_search_helpers import TINY

FLAGS = ["--task", "adding", "--T", "20", "--n-train", "64", "--n-val", "32", "--n-test", "32",
         "--space", TINY["space"], "--trials", "2", "--epochs", "1", "--hidden", "8"]


def _refused(tmp_path, *args):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["search", *FLAGS, *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert not out.exists()  # no storage, no study, no Ray folder
    return " ".join(result.output.split())


def test_a_gpu_per_trial_on_a_machine_without_gpu_fails_at_once(tmp_path, monkeypatch):
    # A local Ray without a GPU would keep such trials pending forever.
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    message = _refused(tmp_path, "--gpus-per-trial", "1")
    assert "this machine has no GPU" in message and "leave out --gpus-per-trial" in message
    assert "no GPU" in _refused(tmp_path, "--gpus-per-trial", "0.25")


def test_more_cpus_per_trial_than_the_machine_has_fails_at_once(tmp_path):
    assert "is more than the" in _refused(tmp_path, "--cpus-per-trial", "100000")


def test_bad_training_options_are_refused_before_any_trial(tmp_path):
    # Before: every trial failed with the same error and the study stayed behind.
    assert "unknown optimizer 'nope'; choose one of adam, rmsprop, sgd" in _refused(tmp_path, "--optimizer", "nope")


def test_flag_errors_name_the_search_once(tmp_path):
    message = _refused(tmp_path, "--sampler", "nope")
    assert message.startswith("error: search: unknown sampler 'nope'") and "search: search:" not in message


@pytest.mark.parametrize("storage, message", [
    ("foo://bar", "unknown database kind 'foo'"),
    ("sqlite:///", "names no file"),
])
def test_unusable_storage_is_one_line(tmp_path, storage, message):
    assert message in _refused(tmp_path, "--storage", storage)


def test_out_that_is_a_file_is_refused_before_any_storage(tmp_path):
    (tmp_path / "afile").write_text("mine")
    journal = tmp_path / "journal.log"
    for out, words in (("afile", "is a file"), ("afile/sub", "lies under")):
        # With --storage elsewhere the study used to be created before the artifact folder failed.
        result = CliRunner().invoke(app, ["search", *FLAGS, "--out", str(tmp_path / out), "--storage", f"journal:{journal}"])
        assert result.exit_code == 2 and words in result.output and "name a folder" in result.output, result.output
    assert not journal.exists() and (tmp_path / "afile").read_text() == "mine"


def test_resume_with_another_space_is_refused_before_any_trial(tmp_path):
    import optuna

    import spaces
    from search import make_storage, storage_url

    out = tmp_path / "out"
    storage = make_storage(storage_url(out))
    study = optuna.create_study(storage=storage, study_name="s", directions=["minimize", "minimize"])
    study.set_user_attr("space", "small")
    study.set_user_attr("space_spec", spaces.get_space("small").to_data())
    result = CliRunner().invoke(app, ["search", *FLAGS, "--space", "momentum", "--resume", "--study", "s", "--out", str(out)])
    # Before: Ray started, the new trial failed with "CategoricalDistribution does not support
    # dynamic value space" and was left RUNNING in the study.
    assert result.exit_code == 2, result.output
    assert "was made with space 'small'" in " ".join(result.output.split()) and "Traceback" not in result.output
    assert optuna.load_study(study_name="s", storage=storage).trials == []
    assert not (out / "ray").exists()


def test_a_learning_rate_beyond_float32_is_refused(tmp_path):
    # Before: it passed validation and every trial died in the optimizer with a traceback.
    message = _refused(tmp_path, "--lr", "1e39")
    assert "`lr` 1e+39 is beyond float32's range" in message


@pytest.mark.parametrize("text, words", [
    ("params:\n  momentum.mu: {low: 1.5, high: 2.0}\n", ["momentum.mu: low 1.5 is outside what the cell takes", "mu takes [0, 1)"]),
    ("params:\n  momentum.s: [0.5, -1.0]\n", ["momentum.s: choice -1.0", "s takes (0, inf)"]),
    ("params:\n  nag_restart.restart: -2\n", ["nag_restart.restart: value -2", "restart takes integer >= 0"]),
    ("", ["is empty", "momnas spaces show momentum --yaml"]),
    ("# only a comment\n", ["is empty"]),
])
def test_a_space_the_cells_would_refuse_is_refused_when_read(tmp_path, text, words):
    # Before: Ray started and trial after trial failed ("mu=1.71 is out of range"), or an
    # empty file silently searched the whole momentum space.
    space = tmp_path / "mine.yaml"
    space.write_text(text)
    message = _refused(tmp_path, "--space", str(space))
    assert str(space) in message and all(w in message for w in words), message


@pytest.mark.parametrize("study", ["../../../../escaped", "/abs/path", "a/b", ".."])
def test_a_study_name_cannot_escape_out(tmp_path, study):
    # Before: each was accepted and wrote the study's folders outside --out, or where the name did not say.
    assert "a study name is a name, not a path" in _refused(tmp_path, "--study", study)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, words", [
    (["--hidden", "100000000"], ["run needs about", "PiB", "lower --hidden"]),
    (["--T", "1000000000"], ["run needs about", "TiB", "activations"]),
])
def test_sizes_that_cannot_fit_are_refused_from_the_config(tmp_path, args, words):
    # Before: the allocator found them, in every trial, after Ray started (some with a traceback).
    message = _refused(tmp_path, *args)
    assert all(w in message for w in words), message


@pytest.mark.parametrize("text, words", [
    ("base: small\nparams:\n  hidden_size: [100000000]\n", ["run needs about"]),
    ("base: small\nparams:\n  hidden_size: [-5, 8]\n", ["no trial of plain-rnn could train", "hidden_size=-5"]),
    ("base: small\nparams:\n  batch_size: [0, 8]\n", ["`batch_size` must be a positive integer, got 0"]),
    ("base: small\nparams:\n  lr: {low: 0.001, high: 0.1, step: 0}\n", ["step must be a positive number"]),
    ("base: small\nparams:\n  lr: [1.0e-3, inf]\n", ["choices must be finite"]),
    ("base: small\nparams:\n  lr: [1.0e-3, fast]\n", ["can draw lr='fast', which no run accepts"]),
])
def test_every_value_a_space_can_draw_is_checked_before_ray(tmp_path, text, words):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    message = _refused(tmp_path, "--space", str(space))
    assert all(w in message for w in words), message


def test_task_files_are_checked_when_read(tmp_path):
    import numpy as np

    (tmp_path / "notzip.npz").write_text("not a zip file")
    np.savez(tmp_path / "empty-steps.npz", x=np.zeros((10, 0, 1), "float32"), y=np.zeros(10, "int64"))
    np.savez(tmp_path / "labels.npz", x=np.zeros((10, 5, 1), "float32"), y=np.array([0] * 9 + [2 ** 40]))
    for name, words in (("notzip", "not an .npz file"), ("empty-steps", "T = 0 steps"), ("labels", "class label 1099511627776")):
        result = CliRunner().invoke(app, ["search", "--task", f"npz:{tmp_path / name}.npz", "--out", str(tmp_path / "out")])
        assert result.exit_code == 2 and words in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()


def test_paths_and_addresses_that_cannot_work(tmp_path):
    assert "`address` must be auto" in _refused(tmp_path, "--address", ":")
    result = CliRunner().invoke(app, ["search", *FLAGS, "--out", ""])
    assert result.exit_code == 2 and "`out` must be a non-empty string" in result.output
    long_out = tmp_path / ("x" * 300)
    result = CliRunner().invoke(app, ["search", *FLAGS, "--out", str(long_out)])
    assert result.exit_code == 2 and "longer than this filesystem allows" in result.output, result.output
    assert list(tmp_path.iterdir()) == []
