"""RunConfig: validation where it enters, JSON / YAML round trips, exported cell files."""

import json

import pytest
import yaml

import runs
from cells import CellConfig
from runs import RunConfig, TaskConfig, TrainConfig


def example() -> RunConfig:
    return RunConfig(
        cell=CellConfig(core="lstm", dynamics="momentum", input_size=2, hidden_size=16, mu=0.3, s=0.9),
        task=TaskConfig(name="adding", T=40, n_train=500),
        train=TrainConfig(optimizer="rmsprop", lr=2e-3, orthogonal_lr=2e-4, batch_size=32, epochs=3, clip=1.0,
                          schedule="cosine", seed=7, device="cpu"),
    )


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_file_round_trip(tmp_path, suffix):
    config = example()
    path = tmp_path / f"run{suffix}"
    config.to_file(path)
    text = path.read_text()
    data = yaml.safe_load(text) if suffix != ".json" else json.loads(text)
    assert set(data) == {"cell", "task", "train"} and data["train"]["optimizer"] == "rmsprop"
    assert RunConfig.from_file(path) == config
    assert RunConfig.from_dict(config.to_dict()) == config


def test_exported_cell_file_is_accepted(tmp_path):
    data = {**example().to_dict(), "source": {"study": "s", "trial": 3}, "metrics": {"status": "completed"}, "weights": "best.pt"}
    path = tmp_path / "best.json"
    path.write_text(json.dumps(data))
    assert RunConfig.from_file(path) == example()


def test_unknown_keys_are_refused_with_the_valid_ones(tmp_path):
    data = {**example().to_dict(), "trainer": {}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'trainer'; a run file holds cell, task, train"):
        RunConfig.from_file(path)
    with pytest.raises(ValueError, match=r"train: unknown option\(s\) 'learning_rate'; valid: optimizer, lr"):
        RunConfig.from_dict({**example().to_dict(), "train": {"learning_rate": 1}})
    with pytest.raises(ValueError, match="missing 'task'"):
        RunConfig.from_dict({"cell": example().cell.to_dict()})


def test_bad_files_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="run file .* not found"):
        RunConfig.from_file(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        RunConfig.from_file(broken)


@pytest.mark.parametrize("kwargs,message", [
    ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'; choose one of adam, rmsprop, sgd"),
    ({"schedule": "linear"}, "unknown schedule 'linear'"),
    ({"lr": 0}, "`lr` must be a positive number"),
    ({"lr": "0.1"}, "`lr` must be a positive number"),
    ({"clip": -1.0}, "`clip` must be a positive number"),
    ({"batch_size": 0}, "`batch_size` must be a positive integer"),
    ({"epochs": 1.5}, "`epochs` must be a positive integer"),
    ({"steps": 0}, "`steps` must be a positive integer"),
    ({"decay_at": 1.0}, "`decay_at` must be a fraction"),
    ({"device": "gpu"}, "unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"),
    # A run file's `optimizer: [adam]` was "unhashable type: 'list'".
    ({"optimizer": ["adam"]}, r"unknown optimizer \['adam'\]; choose one of adam"),
    ({"schedule": {"kind": "step"}}, "unknown schedule"),
])
def test_train_config_is_validated_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_task_config_is_validated_on_construction():
    with pytest.raises(ValueError, match="`T` must be a positive integer"):
        TaskConfig(name="adding", T=0)
    with pytest.raises(ValueError, match="`name` must be a task name"):
        TaskConfig(name="")


def test_build_run_config_lays_overrides_over_a_file_and_fits_input_size():
    base = example().to_dict()
    config = runs.build_run_config(base, cell={"mu": 0.9}, train={"epochs": 5})
    assert (config.cell.mu, config.cell.s, config.train.epochs, config.train.lr) == (0.9, 0.9, 5, 2e-3)
    # Another task: the cell's input size follows it.
    config = runs.build_run_config(base, task={"name": "digits"})
    assert config.cell.input_size == 1 and config.task == TaskConfig(name="digits")
    fresh = runs.build_run_config(cell={"core": "gru"}, task={"name": "copying", "T": 5})
    assert fresh.cell.input_size == 10 and fresh.train == TrainConfig()
    with pytest.raises(ValueError, match="no cell"):
        runs.build_run_config(task={"name": "adding"})


def test_runs_imports_no_optuna_ray_or_plotly():
    import subprocess
    import sys

    code = "import sys, runs; print(sorted(m for m in ('optuna', 'ray', 'plotly') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_schedules_scale_the_lr_as_documented():
    from runs._optim import SCHEDULES

    cosine = SCHEDULES["cosine"](100, 0.8)
    assert (cosine(0), cosine(50), cosine(100)) == pytest.approx((1.0, 0.5, 0.0))
    step = SCHEDULES["step"](100, 0.8)
    assert (step(79), step(80)) == (1.0, 0.1)
    assert SCHEDULES["constant"](100, 0.8)(99) == 1.0
    assert runs.optimizers() == ("adam", "rmsprop", "sgd") and set(runs.schedules()) == {"constant", "cosine", "step"}
