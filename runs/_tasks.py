"""Tasks: a registry of name -> factory, each returning seeded train / validation / test splits.

A task knows its input and output sizes, how the model reads the cell's outputs
(`readout`: the last state, or every step), its loss and metric, and a baseline to print
beside the result. Its spec also declares how raw inputs become the model's (`preprocess`,
used by the loader and by `SequenceModel.predict` alike, so the two cannot drift) and how
large its arrays are without making them (`sizes`, for `runs.estimate_memory`). Adding a
task is one `@register_task(...)` entry.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, NamedTuple

import numpy as np
import torch

from runs._config import TaskConfig

# What a task's targets are; each kind fixes the loss, the metric and its direction.
#   classification: one class per sequence, read from the last state; cross-entropy, accuracy.
#   regression:     one number per sequence, read from the last state; MSE.
#   sequence:       one class per time step, read from every state; cross-entropy (per step).
KINDS = {
    "classification": {"metric": "accuracy", "direction": "maximize", "readout": "last"},
    "regression": {"metric": "mse", "direction": "minimize", "readout": "last"},
    "sequence": {"metric": "cross_entropy", "direction": "minimize", "readout": "all"},
}

# psMNIST's permutation, the expRNN / scoRNN convention (REFERENCE.md §5); pdigits uses the
# same generator for its 64 positions.
PERMUTATION_SEED = 92916


@dataclasses.dataclass(frozen=True)
class Split:
    x: torch.Tensor  # (N, T, D) float32
    y: torch.Tensor  # (N,) int64 class, (N,) float32 value, or (N, T) int64 classes per step

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclasses.dataclass(frozen=True)
class Task:
    """A loaded task: three splits and what they mean."""

    name: str
    kind: str                # a key of KINDS
    train: Split
    val: Split
    test: Split
    output_size: int         # classes, or 1 for regression
    baseline: float | None   # the metric of a trivial predictor (see each task), on the test split
    config: TaskConfig

    @property
    def metric(self) -> str:
        return KINDS[self.kind]["metric"]

    @property
    def direction(self) -> str:
        return KINDS[self.kind]["direction"]

    @property
    def readout(self) -> str:
        return KINDS[self.kind]["readout"]

    @property
    def input_size(self) -> int:
        return self.train.x.shape[2]

    @property
    def length(self) -> int:
        return self.train.x.shape[1]


class TaskSizes(NamedTuple):
    """How large a task's arrays are, known without making them: examples per split, steps,
    features per step, the readout's outputs, and target values per example."""

    n_train: int
    n_val: int
    n_test: int
    T: int
    D: int
    outputs: int
    targets_per_example: int = 1  # T for a class per step (copying)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    factory: Callable[[TaskConfig, str], Task]  # (config, argument after "name:")
    options: tuple[str, ...]                     # TaskConfig options it reads besides name and seed
    readout: str                                 # "last" or "all": enough to rebuild a saved model
    summary: str
    input_size: int | None                       # features per step; None: known once loaded (npz)
    preprocess: Callable[[np.ndarray], np.ndarray]  # raw inputs -> (N, T, D) float32, as the model takes them
    raw: str                                     # what `preprocess` takes, in words
    sizes: Callable[[TaskConfig, str], TaskSizes]  # (config, argument) -> sizes, nothing generated or loaded


_REGISTRY: dict[str, TaskSpec] = {}


def register_task(name: str, *, options: tuple[str, ...], readout: str, summary: str, input_size: int | None,
                  preprocess: Callable[[np.ndarray], np.ndarray], raw: str,
                  sizes: Callable[[TaskConfig, str], TaskSizes]):
    """Register `factory(config, argument) -> Task` under `name` (used as `name` or `name:argument`)."""

    def wrap(factory):
        _REGISTRY[name] = TaskSpec(name, factory, options, readout, summary, input_size, preprocess, raw, sizes)
        return factory

    return wrap


def _preprocess(config: TaskConfig, raw: np.ndarray) -> np.ndarray:
    """The task's declared preprocessing (what `SequenceModel.preprocess` applies too)."""
    return task_spec(config.name)[0].preprocess(raw)


def tasks() -> dict[str, TaskSpec]:
    """The registered tasks, by name."""
    return dict(_REGISTRY)


def task_spec(name: str) -> tuple[TaskSpec, str]:
    """The registry entry for a task name such as 'adding' or 'npz:data.npz', and its argument."""
    key, _, argument = name.partition(":")
    if key not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(_REGISTRY)} or npz:PATH")
    if key == "npz" and not argument:
        raise ValueError("task 'npz' needs a file: name it npz:PATH (arrays x (N,T,D) and y (N,))")
    if key != "npz" and argument:
        raise ValueError(f"task {key!r} takes no ':argument' (got {name!r})")
    return _REGISTRY[key], argument


def task_input_size(config: TaskConfig) -> int:
    """Features per step that the task feeds the cell, without generating or reading all its data."""
    spec, argument = task_spec(config.name)
    if spec.input_size is not None:
        return spec.input_size
    return spec.sizes(config, argument).D


def load_task(config: TaskConfig | dict | str) -> Task:
    """Build a task's splits from its config (a TaskConfig, its dict, or just a name)."""
    if isinstance(config, str):
        config = TaskConfig(name=config)
    elif isinstance(config, dict):
        config = TaskConfig.from_dict(config)
    spec, argument = task_spec(config.name)
    unused = [key for key in ("T", "n_train", "n_val", "n_test", "data_dir") if getattr(config, key) is not None and key not in spec.options]
    if unused:
        raise ValueError(f"task {spec.name!r} does not use {', '.join(unused)}; it reads {', '.join(spec.options) or 'no options'}")
    return spec.factory(config, argument)


# ---------------------------------------------------------------------------- helpers


def _rng(config: TaskConfig, stream: str) -> np.random.Generator:
    """One independent generator per (task seed, purpose), stable across numpy versions' defaults."""
    return np.random.default_rng([config.seed, *stream.encode()])


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    x = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    y = torch.as_tensor(np.ascontiguousarray(y, dtype=np.int64 if y.dtype.kind in "iub" else np.float32))
    return Split(x, y)


def carve(config: TaskConfig, x: np.ndarray, y: np.ndarray, *, default_val: int) -> tuple[Split, Split]:
    """Split a training pool into (train, validation): a seeded shuffle, validation first.

    `n_val` (default `default_val`) examples go to validation; then at most `n_train` of the
    rest to training.
    """
    n = len(y)
    n_val = config.n_val if config.n_val is not None else default_val
    if n_val >= n:
        raise ValueError(f"task {config.name!r}: n_val={n_val} leaves no training data (the training pool has {n})")
    order = _rng(config, "validation").permutation(n)
    val, rest = order[:n_val], order[n_val:]
    if config.n_train is not None:
        rest = rest[: config.n_train]
    return _split(x[rest], y[rest]), _split(x[val], y[val])


def _head(config: TaskConfig, x: np.ndarray, y: np.ndarray) -> Split:
    """The test split, cut to its first `n_test` examples (the test set's own order is kept)."""
    n = config.n_test if config.n_test is not None else len(y)
    return _split(x[:n], y[:n])


def classification(config: TaskConfig, train: Split, val: Split, test: Split, classes: int | None = None) -> Task:
    """A classification task; baseline: the accuracy of always answering training's commonest class."""
    classes = classes if classes is not None else int(max(train.y.max(), val.y.max(), test.y.max())) + 1
    if classes < 2:
        raise ValueError(f"task {config.name!r}: every label is 0, one class only; a classifier needs labels of "
                         "two classes or more (float labels make a regression)")
    majority = int(torch.bincount(train.y, minlength=classes).argmax())
    baseline = float((test.y == majority).float().mean())
    return Task(config.name, "classification", train, val, test, classes, baseline, config)


# ---------------------------------------------------------------------------- preprocessing


def _numbers(x: np.ndarray, task: str, raw: str) -> np.ndarray:
    """x as an array of finite numbers, or a one-line error saying what the task takes."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{task}: expected {raw}, got an array of {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{task}: the inputs hold NaN or inf; expected {raw}")
    return x


def sequences(x: np.ndarray, *, task: str, raw: str) -> np.ndarray:
    """Inputs that already are the model's (N, T, D) sequences: float32, nothing else changed."""
    x = _numbers(x, task, raw)
    if x.ndim != 3:
        raise ValueError(f"{task}: expected {raw}, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def pixels(x: np.ndarray, *, task: str, raw: str, side: int, top: int, permute: bool) -> np.ndarray:
    """Images (N, side, side), flat (N, side * side) or (N, side * side, 1), values 0..top ->
    (N, side * side, 1) float32 in [0, 1], read row by row, optionally in the fixed
    permutation (RandomState(PERMUTATION_SEED))."""
    x = _numbers(x, task, raw)
    steps = side * side
    if x.shape[1:] not in ((side, side), (steps,), (steps, 1)):
        raise ValueError(f"{task}: expected {raw}, got shape {x.shape}")
    flat = x.reshape(len(x), steps)
    if flat.dtype != np.uint8 and flat.size and (flat.min() < 0 or flat.max() > top):
        raise ValueError(f"{task}: pixel values span {flat.min():g}..{flat.max():g}, expected 0..{top}: {raw}")
    if permute:
        flat = flat[:, np.random.RandomState(PERMUTATION_SEED).permutation(steps)]
    return (flat.astype(np.float32) / np.float32(top))[:, :, None]


# ---------------------------------------------------------------------------- generated tasks


def _copying(rng: np.random.Generator, n: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """n sequences of length T + 20: 10 symbols (1-8), T blanks with the marker 9 on the last, 10 blanks.

    Inputs are one-hot over the 10 symbols; targets (0 = blank) are blanks, then the 10 symbols.
    """
    symbols = rng.integers(1, 9, size=(n, 10))
    seq = np.zeros((n, T + 20), dtype=np.int64)
    seq[:, :10] = symbols
    seq[:, 10 + T - 1] = 9
    target = np.zeros((n, T + 20), dtype=np.int64)
    target[:, -10:] = symbols
    x = np.eye(10, dtype=np.float32)[seq]  # (n, T+20, 10)
    return x, target


def _adding(rng: np.random.Generator, n: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """n sequences of T steps, channels (value ~ U(0,1), marker); one marker in each half; target = the marked sum."""
    values = rng.uniform(0.0, 1.0, size=(n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    markers = np.zeros((n, T))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    x = np.stack([values, markers], axis=2)
    y = values[np.arange(n), first] + values[np.arange(n), second]
    return x.astype(np.float32), y.astype(np.float32)


_GENERATED = {"copying": _copying, "adding": _adding}
_GENERATED_SIZES = {"n_train": 10_000, "n_val": 1_000, "n_test": 1_000}
_DEFAULT_T = 100


def _generated_T(config: TaskConfig) -> int:
    T = config.T if config.T is not None else _DEFAULT_T
    if T < 2:
        raise ValueError(f"task {config.name!r}: T must be at least 2, got {T}")
    return T


def _generated_n(config: TaskConfig, split: str) -> int:
    return getattr(config, f"n_{split}") or _GENERATED_SIZES[f"n_{split}"]


def _generated_splits(config: TaskConfig, make) -> tuple[Split, Split, Split]:
    T = _generated_T(config)
    splits = []
    for split in ("train", "val", "test"):
        x, y = make(_rng(config, split), _generated_n(config, split), T)
        splits.append(_split(_preprocess(config, x), y))
    return tuple(splits)


def _generated_sizes(steps: Callable[[int], int], D: int, outputs: int, per_step: bool):
    """`sizes` of a generated task: `steps(T)` steps of D features."""

    def sizes(config: TaskConfig, _: str) -> TaskSizes:
        T = steps(_generated_T(config))
        n = [_generated_n(config, split) for split in ("train", "val", "test")]
        return TaskSizes(*n, T=T, D=D, outputs=outputs, targets_per_example=T if per_step else 1)

    return sizes


_COPYING_RAW = "one-hot symbols (N, T + 20, 10), as the task generates them (no scaling)"
_ADDING_RAW = "(value in [0, 1], marker 0 or 1) pairs (N, T, 2), as the task generates them (no scaling)"


@register_task("copying", options=("T", "n_train", "n_val", "n_test"), readout="all",
               input_size=10,
               summary="recall 10 symbols after T blanks (length T+20); per-step cross-entropy; baseline 10 ln 8 / (T+20)",
               preprocess=functools.partial(sequences, task="copying", raw=_COPYING_RAW), raw=_COPYING_RAW,
               sizes=_generated_sizes(lambda T: T + 20, D=10, outputs=9, per_step=True))
def copying(config: TaskConfig, _: str) -> Task:
    train, val, test = _generated_splits(config, _copying)
    T = test.x.shape[1] - 20
    # Always blank, then a uniform guess over the 8 symbols for the last 10 steps.
    baseline = 10 * math.log(8) / (T + 20)
    return Task(config.name, "sequence", train, val, test, 9, baseline, config)


@register_task("adding", options=("T", "n_train", "n_val", "n_test"), readout="last",
               input_size=2,
               summary="sum of the two marked values among T; MSE; baseline 0.167 (always answer 1)",
               preprocess=functools.partial(sequences, task="adding", raw=_ADDING_RAW), raw=_ADDING_RAW,
               sizes=_generated_sizes(lambda T: T, D=2, outputs=1, per_step=False))
def adding(config: TaskConfig, _: str) -> Task:
    train, val, test = _generated_splits(config, _adding)
    # Always answering 1: the variance of the sum of two U(0,1), 1/6.
    return Task(config.name, "regression", train, val, test, 1, 1 / 6, config)


# ---------------------------------------------------------------------------- bundled data


def _carved_sizes(config: TaskConfig, pool: int, default_val: int, test: int) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) that `carve` and `_head` give from a training pool and a test set."""
    n_val = min(config.n_val if config.n_val is not None else default_val, pool)
    n_train = pool - n_val if config.n_train is None else min(config.n_train, pool - n_val)
    return n_train, n_val, test if config.n_test is None else min(config.n_test, test)


_DIGITS_N = 1797
_DIGITS_TEST = 360  # 20%: the last 360 of one fixed shuffle, the same for every task seed
_DIGITS_RAW = "8x8 images with pixels 0..16, as sklearn's load_digits() gives them: .data (N, 64) or .images (N, 8, 8)"


def _digits_task(config: TaskConfig) -> Task:
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = _preprocess(config, data.data), data.target.astype(np.int64)  # (1797, 64, 1) in [0, 1]
    order = np.random.RandomState(0).permutation(len(y))
    pool, held = order[:-_DIGITS_TEST], order[-_DIGITS_TEST:]
    train, val = carve(config, x[pool], y[pool], default_val=144)  # 10% of all 1,797
    return classification(config, train, val, _head(config, x[held], y[held]), classes=10)


def _digits_sizes(config: TaskConfig, _: str) -> TaskSizes:
    return TaskSizes(*_carved_sizes(config, _DIGITS_N - _DIGITS_TEST, 144, _DIGITS_TEST), T=64, D=1, outputs=10)


@register_task("digits", options=("n_train", "n_val", "n_test"), readout="last",
               input_size=1,
               summary="scikit-learn's 8x8 digits pixel by pixel (64 steps); accuracy",
               preprocess=functools.partial(pixels, task="digits", raw=_DIGITS_RAW, side=8, top=16, permute=False),
               raw=_DIGITS_RAW, sizes=_digits_sizes)
def digits(config: TaskConfig, _: str) -> Task:
    return _digits_task(config)


@register_task("pdigits", options=("n_train", "n_val", "n_test"), readout="last",
               input_size=1,
               summary="digits with the 64 positions permuted (RandomState(92916)); accuracy",
               preprocess=functools.partial(pixels, task="pdigits", raw=_DIGITS_RAW, side=8, top=16, permute=True),
               raw=_DIGITS_RAW, sizes=_digits_sizes)
def pdigits(config: TaskConfig, _: str) -> Task:
    return _digits_task(config)


_MNIST1D_RAW = "mnist1d's sequences (N, 40), as mnist1d.data.make_dataset gives them as x (no scaling)"


def _mnist1d_preprocess(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return sequences(x[:, :, None] if x.ndim == 2 else x, task="mnist1d", raw=_MNIST1D_RAW)


@register_task("mnist1d", options=("n_train", "n_val", "n_test"), readout="last",
               input_size=1,
               summary="mnist1d's generated 4,000 / 1,000 sequences of length 40; accuracy",
               preprocess=_mnist1d_preprocess, raw=_MNIST1D_RAW,
               sizes=lambda config, _: TaskSizes(*_carved_sizes(config, 4000, 400, 1000), T=40, D=1, outputs=10))
def mnist1d_task(config: TaskConfig, _: str) -> Task:
    from runs._data import mnist1d_arrays

    x, y, x_test, y_test = mnist1d_arrays()
    x, x_test = _preprocess(config, x), _preprocess(config, x_test)
    train, val = carve(config, x, y, default_val=400)
    return classification(config, train, val, _head(config, x_test, y_test), classes=10)


def _mnist_task(config: TaskConfig) -> Task:
    from runs._data import read_mnist

    x, y, x_test, y_test = read_mnist(config.data_dir)
    # Only the chosen examples are converted to float: the whole set as float32 is 188 MB.
    pool_val = config.n_val if config.n_val is not None else 5_000
    if pool_val >= len(y):
        raise ValueError(f"task {config.name!r}: n_val={pool_val} leaves no training data (MNIST has {len(y)})")
    idx = _rng(config, "validation").permutation(len(y))
    val_idx, train_idx = idx[:pool_val], idx[pool_val:]
    if config.n_train is not None:
        train_idx = train_idx[: config.n_train]
    n_test = config.n_test if config.n_test is not None else len(y_test)

    train = _split(_preprocess(config, x[train_idx]), y[train_idx])  # (N, 784, 1) in [0, 1]
    val = _split(_preprocess(config, x[val_idx]), y[val_idx])
    test = _split(_preprocess(config, x_test[:n_test]), y_test[:n_test])
    return classification(config, train, val, test, classes=10)


_MNIST_RAW = "MNIST images with pixel bytes 0..255, as the IDX files hold them: (N, 28, 28) or (N, 784)"


def _mnist_sizes(config: TaskConfig, _: str) -> TaskSizes:
    return TaskSizes(*_carved_sizes(config, 60_000, 5_000, 10_000), T=784, D=1, outputs=10)


@register_task("smnist", options=("n_train", "n_val", "n_test", "data_dir"), readout="last",
               input_size=1,
               summary="MNIST pixel by pixel (784 steps, [0,1]); accuracy; 5,000 validation images from training",
               preprocess=functools.partial(pixels, task="smnist", raw=_MNIST_RAW, side=28, top=255, permute=False),
               raw=_MNIST_RAW, sizes=_mnist_sizes)
def smnist(config: TaskConfig, _: str) -> Task:
    return _mnist_task(config)


@register_task("psmnist", options=("n_train", "n_val", "n_test", "data_dir"), readout="last",
               input_size=1,
               summary="sMNIST with one fixed pixel permutation, RandomState(92916).permutation(784); accuracy",
               preprocess=functools.partial(pixels, task="psmnist", raw=_MNIST_RAW, side=28, top=255, permute=True),
               raw=_MNIST_RAW, sizes=_mnist_sizes)
def psmnist(config: TaskConfig, _: str) -> Task:
    return _mnist_task(config)


_NPZ_RAW = "sequences (N, T, D), as x in the file (no scaling)"


def _npz_sizes(config: TaskConfig, path: str) -> TaskSizes:
    """From the file's array headers and its labels (x is not read); every example is counted
    as training data, an upper bound for the device that holds the training split."""
    from runs._data import npz_layout

    n, T, D, outputs = npz_layout(path)
    return TaskSizes(n, 0, 0, T=T, D=D, outputs=outputs)


@register_task("npz", options=("n_train", "n_val", "n_test"), readout="last",
               input_size=None,
               summary="your arrays: x (N,T,D) float, y (N,) int (classes) or float (regression); optional x_train/x_val/x_test splits",
               preprocess=functools.partial(sequences, task="npz", raw=_NPZ_RAW), raw=_NPZ_RAW, sizes=_npz_sizes)
def npz(config: TaskConfig, path: str) -> Task:
    from runs._data import read_npz

    parts = {name: _preprocess(config, a) if name.startswith("x") else a for name, a in read_npz(path).items()}
    if "x_train" in parts:
        pool_x, pool_y = parts["x_train"], parts["y_train"]
        if "x_test" in parts:
            test = _head(config, parts["x_test"], parts["y_test"])
        else:
            pool_x, pool_y, test = _carve_test(config, pool_x, pool_y)
    else:
        pool_x, pool_y, test = _carve_test(config, parts["x"], parts["y"])
    if "x_val" in parts:
        val = _split(parts["x_val"][: config.n_val], parts["y_val"][: config.n_val])
        rest = slice(0, config.n_train)
        train = _split(pool_x[rest], pool_y[rest])
    else:
        train, val = carve(config, pool_x, pool_y, default_val=max(1, len(pool_y) // 10))
    if pool_y.dtype.kind == "f":
        baseline = float(((test.y - train.y.mean()) ** 2).mean())  # always answering the training mean
        return Task(config.name, "regression", train, val, test, 1, baseline, config)
    return classification(config, train, val, test)


def _carve_test(config: TaskConfig, x: np.ndarray, y: np.ndarray):
    """Hold out 20% (seeded) of an unsplit file as the test split."""
    n_test = len(y) // 5
    if n_test < 1 or len(y) - n_test < 2:
        raise ValueError(f"task {config.name!r}: {len(y)} examples are too few to split into train / validation / test; give at least 5")
    order = _rng(config, "test").permutation(len(y))
    held, pool = order[:n_test], order[n_test:]
    return x[pool], y[pool], _head(config, x[held], y[held])
