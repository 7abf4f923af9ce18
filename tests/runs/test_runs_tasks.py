"""Tasks: shapes, determinism, baselines, the MNIST reader and the npz validation."""

import math

import numpy as np
import pytest
import torch

import runs
from runs import TaskConfig, load_task


def same(a: runs.Task, b: runs.Task) -> bool:
    return all(
        torch.equal(getattr(a, s).x, getattr(b, s).x) and torch.equal(getattr(a, s).y, getattr(b, s).y)
        for s in ("train", "val", "test")
    )


def test_registry_lists_every_task():
    assert set(runs.tasks()) >= {"copying", "adding", "smnist", "psmnist", "digits", "pdigits", "mnist1d", "npz"}


def test_adding_shapes_markers_targets_and_baseline():
    task = load_task(TaskConfig(name="adding", T=50, n_train=300, n_val=50, n_test=40))
    assert (task.kind, task.metric, task.direction, task.readout) == ("regression", "mse", "minimize", "last")
    assert task.train.x.shape == (300, 50, 2) and task.val.x.shape == (50, 50, 2) and task.test.x.shape == (40, 50, 2)
    markers = task.train.x[:, :, 1]
    assert torch.equal(markers[:, :25].sum(1), torch.ones(300)) and torch.equal(markers[:, 25:].sum(1), torch.ones(300))
    assert torch.allclose((task.train.x[:, :, 0] * markers).sum(1), task.train.y)
    assert task.baseline == pytest.approx(1 / 6)
    # The baseline is what answering 1 scores, measured on generated data.
    big = load_task(TaskConfig(name="adding", T=10, n_train=1, n_val=1, n_test=20000))
    assert float(((big.test.y - 1) ** 2).mean()) == pytest.approx(1 / 6, abs=0.01)


def test_copying_layout_and_baseline():
    T = 30
    task = load_task(TaskConfig(name="copying", T=T, n_train=64, n_val=8, n_test=8))
    assert task.train.x.shape == (64, T + 20, 10) and task.train.y.shape == (64, T + 20)
    symbols = task.train.x.argmax(-1)  # (N, T+20)
    assert torch.equal(task.train.y[:, -10:], symbols[:, :10])
    assert ((symbols[:, :10] >= 1) & (symbols[:, :10] <= 8)).all()
    assert (symbols[:, 10 + T - 1] == 9).all() and (task.train.y[:, :-10] == 0).all()
    assert (task.kind, task.readout, task.output_size) == ("sequence", "all", 9)
    assert task.baseline == pytest.approx(10 * math.log(8) / (T + 20))


@pytest.mark.parametrize("name,kw", [("adding", {"T": 20}), ("copying", {"T": 10}), ("digits", {}), ("mnist1d", {})])
def test_tasks_are_deterministic_and_seeded(name, kw):
    cfg = dict(name=name, n_train=100, n_val=20, n_test=30, **kw)
    a, b = load_task(TaskConfig(**cfg)), load_task(TaskConfig(**cfg))
    assert same(a, b)
    c = load_task(TaskConfig(**cfg, seed=1))
    assert not torch.equal(a.val.x, c.val.x)  # another seed, another validation split


def test_digits_splits_are_disjoint_and_scaled():
    task = load_task("digits")
    assert task.train.x.shape[1:] == (64, 1) and task.input_size == 1 and task.output_size == 10
    assert (len(task.train), len(task.val), len(task.test)) == (1797 - 360 - 144, 144, 360)
    assert 0.0 <= float(task.train.x.min()) and float(task.train.x.max()) == 1.0
    rows = lambda s: {tuple(r) for r in s.x.squeeze(-1).tolist()}
    assert not rows(task.val) & rows(task.test) or len(rows(task.val) & rows(task.test)) < 3  # sklearn has a few duplicate images
    # The test split does not move with the data seed: results stay comparable.
    assert torch.equal(task.test.x, load_task(TaskConfig(name="digits", seed=5)).test.x)
    assert 0.05 < task.baseline < 0.15  # the commonest class, about 1 in 10


def test_pdigits_is_a_fixed_permutation_of_digits():
    plain, permuted = load_task("digits"), load_task("pdigits")
    perm = np.random.RandomState(92916).permutation(64)
    assert torch.equal(permuted.train.x, plain.train.x[:, perm])


def test_mnist1d_is_generated_length_40():
    state = np.random.get_state()[1].copy()
    task = load_task(TaskConfig(name="mnist1d"))
    assert np.array_equal(np.random.get_state()[1], state)  # numpy's global generator left alone
    assert task.train.x.shape == (3600, 40, 1) and task.val.x.shape == (400, 40, 1) and task.test.x.shape == (1000, 40, 1)
    assert set(task.train.y.unique().tolist()) == set(range(10))


def test_options_a_task_does_not_use_are_refused():
    with pytest.raises(ValueError, match="does not use T"):
        load_task(TaskConfig(name="digits", T=20))
    with pytest.raises(ValueError, match="unknown task 'addding'"):
        load_task("addding")
    with pytest.raises(ValueError, match="n_val=2000 leaves no training data"):
        load_task(TaskConfig(name="digits", n_val=2000))


# ---------------------------------------------------------------------------- MNIST


def test_mnist_missing_files_names_where_and_what(tmp_path, monkeypatch):
    monkeypatch.delenv("MOMNAS_DATA", raising=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")  # one of four is not enough
    with pytest.raises(FileNotFoundError) as info:
        load_task(TaskConfig(name="smnist", data_dir=str(tmp_path)))
    message = str(info.value)
    assert str(tmp_path) in message and str(tmp_path / "MNIST" / "raw") in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "MOMNAS_DATA" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match=r"\$MOMNAS_DATA unset"):
        load_task(TaskConfig(name="psmnist"))


def test_smnist_subset_from_the_real_files(mnist_dir):
    task = load_task(TaskConfig(name="smnist", data_dir=str(mnist_dir), n_train=200, n_val=50, n_test=100))
    assert task.train.x.shape == (200, 784, 1) and task.val.x.shape == (50, 784, 1) and task.test.x.shape == (100, 784, 1)
    assert float(task.train.x.min()) == 0.0 and float(task.train.x.max()) == 1.0
    # The official test set's first labels: 7 2 1 0 4 1 4 9 5 9.
    assert task.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    # An image of a digit has ink in the middle rows, not in the corners.
    image = task.test.x[0, :, 0].reshape(28, 28)
    assert float(image[:4, :4].sum()) == 0.0 and float(image[8:20, 8:20].sum()) > 10


def test_psmnist_permutation_and_torchvision_layout(mnist_dir, tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in mnist_dir.glob("*.gz"):
        (raw / f.name).symlink_to(f)
    monkeypatch.setenv("MOMNAS_DATA", str(tmp_path))
    cfg = dict(n_train=20, n_val=10, n_test=10)
    plain = load_task(TaskConfig(name="smnist", data_dir=str(mnist_dir), **cfg))
    permuted = load_task(TaskConfig(name="psmnist", **cfg))  # found through $MOMNAS_DATA/MNIST/raw
    perm = np.random.RandomState(92916).permutation(784)
    assert torch.equal(permuted.test.x, plain.test.x[:, perm])
    assert torch.equal(permuted.train.y, plain.train.y)


# ---------------------------------------------------------------------------- npz


def write(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_classification_with_carved_splits(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 7, 3)).astype(np.float32), rng.integers(0, 4, size=100)
    name = write(tmp_path / "d.npz", x=x, y=y)
    task = load_task(name)
    assert (task.kind, task.output_size, task.input_size, task.length) == ("classification", 4, 3, 7)
    assert len(task.test) == 20 and len(task.val) == 8 and len(task.train) == 72
    everything = torch.cat([task.train.x, task.val.x, task.test.x])
    assert sorted(map(tuple, everything.flatten(1).tolist())) == sorted(map(tuple, torch.as_tensor(x).flatten(1).tolist()))
    assert same(task, load_task(name))


def test_npz_regression_with_given_splits(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {f"{a}_{s}": (rng.normal(size=(n, 5, 2)) if a == "x" else rng.normal(size=n))
              for s, n in (("train", 40), ("val", 10), ("test", 12)) for a in ("x", "y")}
    task = load_task(write(tmp_path / "r.npz", **arrays))
    assert (task.kind, task.metric, task.output_size) == ("regression", "mse", 1)
    assert torch.allclose(task.val.x, torch.as_tensor(arrays["x_val"], dtype=torch.float32))
    assert task.baseline == pytest.approx(float(((arrays["y_test"] - arrays["y_train"].mean()) ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize("arrays,message", [
    (dict(x=np.zeros((10, 5)), y=np.zeros(10, int)), r"x must be 3-D \(N, T, D\), got shape \(10, 5\)"),
    (dict(x=np.zeros((10, 5, 1)), y=np.zeros((10, 1), int)), r"y must be 1-D \(N,\), got shape \(10, 1\)"),
    (dict(x=np.zeros((10, 5, 1)), y=np.zeros(9, int)), "x has 10 examples but y has 9"),
    (dict(x=np.array([[["a"]]] * 10), y=np.zeros(10, int)), "x must hold numbers"),
    (dict(x=np.full((10, 5, 1), np.nan), y=np.zeros(10, int)), "x contains NaN or inf"),
    (dict(x=np.zeros((10, 5, 1)), y=np.array([np.inf] + [0.0] * 9)), "y contains NaN or inf"),
    (dict(x=np.zeros((10, 5, 1)), y=-np.ones(10, int)), "negative class labels"),
    (dict(x_train=np.zeros((10, 5, 1)), y_train=np.zeros(10, int), x_test=np.zeros((4, 6, 1)), y_test=np.zeros(4, int)),
     r"x_test has \(T, D\) = \(6, 1\) but the training data has \(5, 1\)"),
    (dict(x_train=np.zeros((10, 5, 1)), y_train=np.zeros(10, int), x_val=np.zeros((4, 5, 1))), "y_val is missing"),
    (dict(x=np.zeros((10, 5, 1)), y=np.zeros(10, int), z=np.zeros(3)), "unknown array"),
    (dict(labels=np.zeros(3)), "unknown array"),
    (dict(x=np.zeros((10, 0, 1)), y=np.zeros(10, int)), r"x has shape \(10, 0, 1\): T = 0 steps .* needs T >= 1"),
    (dict(x=np.zeros((10, 5, 0)), y=np.zeros(10, int)), r"D = 0 features; every sequence needs T >= 1 and D >= 1"),
    (dict(x=np.zeros((0, 5, 1)), y=np.zeros(0, int)), r"x is empty \(N = 0\); give at least one example"),
    (dict(x=np.zeros((10, 5, 1)), y=np.array([0] * 9 + [2**40])),
     r"y has class label 1099511627776, for which the readout would need 1099511627777 outputs.*number the classes 0..C-1"),
    (dict(x=np.zeros((10, 5, 1)), y=np.zeros(10, int)), "every label is 0, one class only"),
])
def test_npz_errors_are_one_clear_line(tmp_path, arrays, message):
    name = write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message) as info:
        load_task(name)
    assert "\n" not in str(info.value) and str(tmp_path / "bad.npz") in str(info.value)


@pytest.mark.parametrize("content,message", [
    (b"not a zip at all", "not an .npz file (a zip archive of .npy arrays); write it with np.savez(PATH, x=x, y=y)"),
    (b"PK\x03\x04" + b"\x00" * 60, "not an .npz file"),  # a zip's first bytes, nothing after: BadZipFile before
    (b"", "not an .npz file"),
])
def test_npz_that_is_not_an_archive_is_one_line(tmp_path, content, message):
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_task(f"npz:{tmp_path / 'bad.npz'}")
    assert message in str(info.value) and str(tmp_path / "bad.npz") in str(info.value) and "\n" not in str(info.value)


def test_npz_damaged_inside_or_a_single_npy_is_one_line(tmp_path):
    np.savez(tmp_path / "good.npz", x=np.zeros((10, 5, 1)), y=np.arange(10) % 2)
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2] + data[-200:])  # directory kept, members cut
    np.save(tmp_path / "one.npy", np.zeros((10, 5, 1)))
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    for name, message in (("cut.npz", "write it with np.savez"), ("one.npz", "is one .npy array, not an .npz archive")):
        with pytest.raises(ValueError, match=message) as info:
            load_task(f"npz:{tmp_path / name}")
        assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value)


def test_npz_missing_file_and_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="file not found"):
        load_task(f"npz:{tmp_path / 'nope.npz'}")
    with pytest.raises(ValueError, match="npz:PATH"):
        load_task("npz")
