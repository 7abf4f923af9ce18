"""A retrain reproduces its run: the threads and the environment are recorded, and applied or named."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import runs
from search.cli import app

ROOT = Path(__file__).resolve().parents[2]
# digits through a GRU: 2 torch threads change its gradient probe's last digits on this machine's CPU.
CELL = {"core": "gru", "dynamics": "adam", "hidden_size": 64}
TASK = {"name": "digits", "n_train": 256, "n_val": 64, "n_test": 64}
TRAIN = {"epochs": 1, "batch_size": 128, "device": "cpu"}


def _numbers(metrics: dict) -> tuple:
    return metrics["validation"], metrics["test"], metrics["stability"]


def test_a_retrain_in_a_fresh_process_uses_the_recorded_threads(tmp_path):
    """A run trained with 1 thread, retrained in a process whose torch would take 2: from its
    run.json (train.threads = 1) and from an export whose train section lacks threads (only
    its metrics' environment records them, as a search's trials record theirs): the same numbers."""
    config = runs.build_run_config(cell=CELL, task=TASK, train={**TRAIN, "threads": 1})
    result = runs.train(config, out_dir=tmp_path / "run")
    assert result.environment["threads"] == 1
    metrics = result.to_dict()
    export = {**config.to_dict(), "train": TRAIN, "metrics": metrics, "weights": "run/checkpoint.pt"}
    (tmp_path / "best.json").write_text(json.dumps(export))

    code = ("import sys, torch\n"
            "from typer.testing import CliRunner\n"
            "from search.cli import app\n"
            "print(torch.get_num_threads())\n"
            "for source, out in (('run/run.json', 'again'), ('best.json', 'export')):\n"
            "    done = CliRunner().invoke(app, ['train', source, '--out', out, '--quiet'])\n"
            "    assert done.exit_code == 0, done.output\n"
            "    print(done.output.count('note:'))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    default_threads, *notes = done.stdout.split()
    assert default_threads == "2" and notes == ["0", "0"]  # the same machine: nothing to warn about
    for out in ("again", "export"):
        again = json.loads((tmp_path / out / "metrics.json").read_text())
        assert again["environment"]["threads"] == 1
        assert _numbers(again) == _numbers(metrics)


def test_threads_apply_to_the_run_only(few_threads):
    config = runs.build_run_config(cell={"core": "lstm", "hidden_size": 4}, task={"name": "adding", "T": 5, "n_train": 16,
                                   "n_val": 4, "n_test": 4}, train={"steps": 1, "batch_size": 16, "device": "cpu", "threads": 2})
    assert runs.train(config).environment["threads"] == 2
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="`threads` must be a positive integer, got 0"):
        runs.TrainConfig(threads=0)


def test_a_retrain_elsewhere_says_so_in_one_line(tmp_path):
    """Another device and torch recorded: the retrain runs, and one line says why its numbers may differ."""
    config = runs.build_run_config(cell={"core": "lstm", "hidden_size": 4},
                                   task={"name": "adding", "T": 5, "n_train": 16, "n_val": 4, "n_test": 4},
                                   train={"steps": 1, "batch_size": 16, "device": "auto"})
    recorded = {**runs.environment(torch.device("cpu")), "device": "cuda", "device_name": "NVIDIA H100 80GB HBM3",
                "torch": "2.11.0+cu128", "threads": 16}
    (tmp_path / "best.json").write_text(json.dumps({**config.to_dict(), "metrics": {"environment": recorded}}))
    done = CliRunner().invoke(app, ["train", str(tmp_path / "best.json"), "--device", "cpu", "--out", str(tmp_path / "o"), "-q"])
    assert done.exit_code == 0, done.output
    notes = [line for line in done.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "recorded with device cuda, device_name NVIDIA H100 80GB HBM3, torch 2.11.0+cu128;" in notes[0]
    assert "here device cpu" in notes[0] and f"torch {torch.__version__}" in notes[0]
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["environment"]["threads"] == 16  # applied
    assert runs.replay_note({**recorded, "device": "cpu", "device_name": runs.environment(torch.device("cpu"))["device_name"],
                             "torch": torch.__version__}, runs.build_run_config(
        config.to_dict(), train={"device": "cpu", "threads": 16})) is None
