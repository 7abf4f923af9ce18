"""Readers for data on disk or in packages: MNIST's IDX files, mnist1d, and the user's .npz."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DATA_ENV = "MOMNAS_DATA"


def mnist_dirs(data_dir: str | None) -> list[Path]:
    """Where MNIST is looked for: DIR, DIR/mnist and torchvision's DIR/MNIST/raw, DIR from the
    argument, else $MOMNAS_DATA."""
    root = data_dir or os.environ.get(DATA_ENV)
    if not root:
        return []
    root = Path(root).expanduser()
    return [root, root / "mnist", root / "MNIST" / "raw"]


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):  # torchvision also unpacks them
        if candidate.is_file():
            return candidate
    return None


def read_mnist(data_dir: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images (60000, 28, 28) uint8, labels, test images, labels) from the standard IDX files."""
    dirs = mnist_dirs(data_dir)
    for folder in dirs:
        paths = [_find(folder, name) for name in MNIST_FILES]
        if all(paths):
            return _read_mnist_files(tuple(str(p) for p in paths))
    looked = f"looked in {', '.join(str(d) for d in dirs)}" if dirs else "no folder to look in (no data_dir given and $MOMNAS_DATA unset)"
    raise FileNotFoundError(
        f"MNIST not found: {looked}; it needs {', '.join(MNIST_FILES)}; "
        f"pass --data-dir DIR (task option data_dir) or set {DATA_ENV}=DIR to the folder holding them"
    )


@functools.lru_cache(maxsize=2)
def _read_mnist_files(paths: tuple[str, ...]):
    # Cached: a search runs many trials in one worker process, each would re-read 10 MB of gzip.
    train_x, train_y, test_x, test_y = (_read_idx(Path(p)) for p in paths)
    for images, labels in ((train_x, train_y), (test_x, test_y)):
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"MNIST files in {Path(paths[0]).parent} have unexpected shapes {images.shape} / {labels.shape}")
    return train_x, train_y, test_x, test_y


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file: 2 zero bytes, a type byte (0x08 = uint8), the number of dimensions, big-endian sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {array.size} bytes (truncated?)")
    array = array.reshape(shape)
    array.flags.writeable = False  # shared by the cache
    return array


@functools.lru_cache(maxsize=1)
def mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mnist1d's procedurally generated set (its default arguments: 4,000 train / 1,000 test,
    length 40, seed 42), as (x (N, 40, 1), y, x_test, y_test). Generated, never downloaded."""
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds numpy's global generator; keep the caller's state as it was.
    state = np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    x = data["x"].astype(np.float32)[:, :, None]
    x_test = data["x_test"].astype(np.float32)[:, :, None]
    return x, data["y"].astype(np.int64), x_test, data["y_test"].astype(np.int64)


_NPZ_SPLITS = ("train", "val", "test")
_NPZ_KEYS = ("x", "y") + tuple(f"{a}_{s}" for s in _NPZ_SPLITS for a in ("x", "y"))


def read_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of a user's .npz, validated: `x` (N,T,D) and `y` (N,), or `x_train`/`y_train`
    with optional `x_val`/`y_val` and `x_test`/`y_test` (same T and D everywhere; y integer
    class labels >= 0, or floats for regression; no NaN or inf)."""
    where = f"npz task {path}"
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{where}: file not found")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError) as exc:
        raise ValueError(f"{where}: not a readable .npz file of plain arrays ({exc})") from None
    unknown = sorted(set(arrays) - set(_NPZ_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown array(s) {', '.join(unknown)}; expected x, y or x_train, y_train (+ x_val, y_val, x_test, y_test)")
    if "x_train" in arrays and "x" in arrays:
        raise ValueError(f"{where}: holds both x and x_train; give either all data as x, y or the splits")
    if "x_train" not in arrays and "x" not in arrays:
        raise ValueError(f"{where}: no data; expected arrays x (N,T,D) and y (N,), or x_train and y_train")
    names = ["x", "y"] if "x" in arrays else [f"{a}_{s}" for s in _NPZ_SPLITS for a in ("x", "y") if f"x_{s}" in arrays or f"y_{s}" in arrays]
    if "x" in arrays:
        for extra in ("x_val", "y_val", "x_test", "y_test"):
            if extra in arrays:
                raise ValueError(f"{where}: {extra} given with unsplit x; use x_train, y_train for the training part")
    out = {}
    shape_td = None
    y_kind = None
    for x_name, y_name in zip(names[::2], names[1::2]):
        for name in (x_name, y_name):
            if name not in arrays:
                raise ValueError(f"{where}: {name} is missing (its partner {x_name if name == y_name else y_name} is there)")
        x, y = arrays[x_name], arrays[y_name]
        if x.ndim != 3:
            raise ValueError(f"{where}: {x_name} must be 3-D (N, T, D), got shape {x.shape}")
        if x.dtype.kind not in "fiu":
            raise ValueError(f"{where}: {x_name} must hold numbers (float), got dtype {x.dtype}")
        if y.ndim != 1:
            raise ValueError(f"{where}: {y_name} must be 1-D (N,), got shape {y.shape}")
        if y.dtype.kind not in "fiu":
            raise ValueError(f"{where}: {y_name} must be integer class labels or float targets, got dtype {y.dtype}")
        if len(x) != len(y):
            raise ValueError(f"{where}: {x_name} has {len(x)} examples but {y_name} has {len(y)}")
        if len(x) == 0:
            raise ValueError(f"{where}: {x_name} is empty")
        if shape_td is not None and x.shape[1:] != shape_td:
            raise ValueError(f"{where}: {x_name} has (T, D) = {x.shape[1:]} but the training data has {shape_td}")
        shape_td = x.shape[1:]
        kind = "f" if y.dtype.kind == "f" else "i"
        if y_kind is not None and kind != y_kind:
            raise ValueError(f"{where}: {y_name} is {'float' if kind == 'f' else 'integer'} but the training labels are not; use one type")
        y_kind = kind
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError(f"{where}: {x_name} contains NaN or inf (first at index {tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])})")
        if kind == "f":
            if not np.isfinite(y).all():
                raise ValueError(f"{where}: {y_name} contains NaN or inf (first at index {int(np.argwhere(~np.isfinite(y))[0][0])})")
            y = y.astype(np.float32)
        else:
            if y.min() < 0:
                raise ValueError(f"{where}: {y_name} has negative class labels ({int(y.min())}); classes must be 0, 1, ...")
            y = y.astype(np.int64)
        out[x_name], out[y_name] = x, y
    return out
