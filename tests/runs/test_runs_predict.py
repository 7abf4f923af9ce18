"""An exported model gives predictions on raw task inputs: runs.load(best.json), model.predict."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import runs

ROOT = Path(__file__).resolve().parents[2]
CELL = {"core": "gru", "dynamics": "momentum", "mu": 0.6, "s": 0.6, "hidden_size": 32}
TRAIN = {"epochs": 5, "batch_size": 32, "lr": 1e-2, "device": "cpu"}  # about 2 s, test accuracy about 0.6


def _export(run: Path, to: Path, **extra) -> Path:
    """A best.json as `momnas export` writes it: the run file, its metrics, its weights' path."""
    data = {**json.loads((run / "run.json").read_text()), "source": {"study": "test", "trial": 0},
            "metrics": json.loads((run / "metrics.json").read_text()), "weights": "run/checkpoint.pt", **extra}
    to.write_text(json.dumps(data))
    return to


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    config = runs.build_run_config(cell=CELL, task={"name": "digits"}, train=TRAIN)
    result = runs.train(config, out_dir=folder / "run")
    assert result.test["accuracy"] > 0.5  # far above chance (0.1): a wrong scaling would show
    return folder, result


def test_an_export_predicts_raw_digits_from_a_fresh_python(digits_run):
    """The documented way: runs.load(best.json), then predict on load_digits()'s own pixels
    (0..16); on the task's test examples it scores the run's test accuracy."""
    folder, result = digits_run
    best = _export(folder / "run", folder / "best.json")
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from sklearn.datasets import load_digits\n"
        "import runs\n"
        "model = runs.load(sys.argv[1])\n"
        "data = load_digits()\n"
        "rows = np.random.RandomState(0).permutation(len(data.target))[-360:]  # the test split (README)\n"
        "classes = model.predict(data.data[rows]).numpy()\n"
        "print(json.dumps({'accuracy': float((classes == data.target[rows]).mean()), 'dtype': str(classes.dtype)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(best)], capture_output=True, text=True, cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["accuracy"] == pytest.approx(result.test["accuracy"], abs=1e-9) and answer["dtype"] == "int64"


def test_predict_applies_the_loaders_preprocessing(digits_run):
    """Raw pixels through predict == the loaded task's inputs through the model; raw pixels
    fed to the model directly (no /16) are what the issue saw: other answers."""
    folder, result = digits_run
    model = runs.load(folder / "run" / "checkpoint.pt")
    task = runs.load_task(result.config.task)
    rows = np.random.RandomState(0).permutation(1797)[-360:]
    raw = load_digits().data[rows]
    assert torch.equal(model.preprocess(raw), task.test.x)
    assert torch.equal(model.preprocess(load_digits().images[rows]), task.test.x)  # (N, 8, 8) images too
    with torch.no_grad():
        assert torch.equal(model.predict(raw, batch_size=7), model(task.test.x).argmax(-1))
        unscaled = model(torch.as_tensor(raw, dtype=torch.float32)[:, :, None]).argmax(-1)
    assert (unscaled != model.predict(raw)).any()


def test_predict_answers_in_the_tasks_kind():
    def trained(task, **cell):
        config = runs.build_run_config(cell={"core": "lstm", "hidden_size": 8, **cell}, task=task,
                                       train={"steps": 1, "batch_size": 16, "device": "cpu"})
        return runs.train(config).model

    adding = trained({"name": "adding", "T": 6, "n_train": 32, "n_val": 8, "n_test": 8})
    copying = trained({"name": "copying", "T": 3, "n_train": 32, "n_val": 8, "n_test": 8})
    x_add = runs.load_task({"name": "adding", "T": 6, "n_train": 32, "n_val": 8, "n_test": 8}).test.x
    x_copy = runs.load_task({"name": "copying", "T": 3, "n_train": 32, "n_val": 8, "n_test": 8}).test.x
    values, steps = adding.predict(x_add.numpy()), copying.predict(x_copy)
    assert (adding.kind, values.shape, values.dtype) == ("regression", (8,), torch.float32)
    assert (copying.kind, steps.shape, steps.dtype) == ("sequence", (8, 23), torch.int64)
    with torch.no_grad():
        assert torch.equal(values, adding(x_add).squeeze(-1))


@pytest.mark.parametrize("name,raw,message", [
    ("digits", np.zeros((3, 65)), r"expected 8x8 images with pixels 0..16.*got shape \(3, 65\)"),
    ("digits", np.full((3, 64), 255.0), "pixel values span 255..255, expected 0..16"),
    ("smnist", np.zeros((3, 8, 8)), r"expected MNIST images with pixel bytes 0..255.*got shape \(3, 8, 8\)"),
    ("adding", np.zeros((3, 5)), r"expected \(value in \[0, 1\], marker 0 or 1\) pairs \(N, T, 2\).*got shape \(3, 5\)"),
    ("mnist1d", np.full((2, 40), np.nan), "the inputs hold NaN or inf"),
])
def test_raw_inputs_of_the_wrong_form_are_one_line(name, raw, message):
    with pytest.raises(ValueError, match=message) as refused:
        runs.tasks()[name].preprocess(raw)
    assert "\n" not in str(refused.value)


def test_a_model_of_another_width_names_what_it_takes():
    config = runs.build_run_config(cell={"core": "gru", "hidden_size": 4}, task={"name": "adding", "T": 5})
    model = runs.build_model(config.cell, 1, "last", run_config=config)
    with pytest.raises(ValueError, match=r"adding inputs give 3 feature\(s\) per step but the cell takes 2"):
        model.preprocess(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="no run_config"):
        runs.build_model(config.cell, 1, "last").predict(np.zeros((2, 5, 2)))


def test_smnist_preprocessing_is_the_loaders(mnist_dir):
    from runs._data import read_mnist

    task = runs.load_task({"name": "psmnist", "data_dir": str(mnist_dir), "n_train": 1, "n_val": 1, "n_test": 5})
    _, _, images, _ = read_mnist(str(mnist_dir))
    assert torch.equal(torch.from_numpy(runs.tasks()["psmnist"].preprocess(images[:5])), task.test.x)


def test_runs_load_of_an_export_without_weights_or_with_others_is_one_line(digits_run, tmp_path):
    folder, _ = digits_run
    bare = json.loads((folder / "run" / "run.json").read_text())
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    with pytest.raises(ValueError, match="names no weights") as refused:
        runs.load(tmp_path / "bare.json")
    assert "momnas train" in str(refused.value) and "\n" not in str(refused.value)
    other = {**bare, "cell": {**bare["cell"], "mu": 0.5}, "weights": str(folder / "run" / "checkpoint.pt")}
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="runs.load: .* holds a different cell than"):
        runs.load(tmp_path / "other.json")
    with pytest.raises(FileNotFoundError, match="runs.load: .*nope.json does not exist"):
        runs.load(tmp_path / "nope.json")
