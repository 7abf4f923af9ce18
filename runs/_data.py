"""Readers for data on disk or in packages: MNIST's IDX files, mnist1d, and the user's .npz."""

from __future__ import annotations

import functools
import gzip
import os
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

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
_NPZ_FIX = "write it with np.savez(PATH, x=x, y=y): x (N, T, D) numbers, y (N,) class labels 0..C-1 or float targets"


class NpzLayout(NamedTuple):
    """What `runs.estimate_memory` needs of a user's .npz, read from its array headers and labels."""

    n: int        # examples in all of the file's splits
    T: int
    D: int
    outputs: int  # classes (largest label + 1), or 1 for float targets


def read_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of a user's .npz, validated: `x` (N,T,D) and `y` (N,), or `x_train`/`y_train`
    with optional `x_val`/`y_val` and `x_test`/`y_test` (same T >= 1 and D >= 1 everywhere;
    y integer class labels 0..N-1, or floats for regression; no NaN or inf). Every error is
    one line naming the file and the fix."""
    where, file = _npz_file(path)
    pairs = _npz_pairs(where, _npz_headers(where, file))
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for pair in pairs for name in pair}
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{where}: an array cannot be read ({exc}); {_NPZ_FIX}") from None
    kind = _npz_labels(where, {y: arrays[y] for _, y in pairs})
    out = {}
    for x_name, y_name in pairs:
        x = arrays[x_name].astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError(f"{where}: {x_name} contains NaN or inf (first at index {tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])}); "
                             "replace them, or drop those examples")
        out[x_name], out[y_name] = x, arrays[y_name].astype(np.float32 if kind == "f" else np.int64)
    return out


def npz_layout(path: str) -> NpzLayout:
    """Sizes of a user's .npz without reading x: its headers, and its labels for the class count
    (checked as `read_npz` checks them)."""
    where, file = _npz_file(path)
    headers = _npz_headers(where, file)
    pairs = _npz_pairs(where, headers)
    try:
        with np.load(file, allow_pickle=False) as npz:
            labels = {y: npz[y] for _, y in pairs}
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{where}: an array cannot be read ({exc}); {_NPZ_FIX}") from None
    kind = _npz_labels(where, labels)
    n = sum(len(y) for y in labels.values())
    _, T, D = headers[pairs[0][0]][0]
    return NpzLayout(n, T, D, 1 if kind == "f" else int(max(int(y.max()) for y in labels.values())) + 1)


def _npz_file(path: str) -> tuple[str, Path]:
    """("npz task PATH", the file), the file checked to be a zip archive."""
    where = f"npz task {path}"
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{where}: file not found; check the path after npz:")
    with file.open("rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"{where}: is one .npy array, not an .npz archive of x and y; {_NPZ_FIX}")
    if not zipfile.is_zipfile(file):
        raise ValueError(f"{where}: not an .npz file (a zip archive of .npy arrays); {_NPZ_FIX}")
    return where, file


def _npz_headers(where: str, file: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's (shape, dtype), from the .npy headers inside the archive (no data read)."""
    headers = {}
    try:
        with zipfile.ZipFile(file) as archive:
            for member in archive.namelist():
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                headers[member.removesuffix(".npy")] = (shape, dtype)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{where}: a damaged .npz archive ({exc}); {_NPZ_FIX}") from None
    except ValueError as exc:  # numpy's words for a member that is no .npy array
        raise ValueError(f"{where}: holds something other than .npy arrays ({exc}); {_NPZ_FIX}") from None
    unknown = sorted(set(headers) - set(_NPZ_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown array(s) {', '.join(unknown)}; expected x, y or x_train, y_train "
                         "(+ x_val, y_val, x_test, y_test)")
    return headers


def _npz_pairs(where: str, headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> list[tuple[str, str]]:
    """The (x, y) name pairs of the file, their shapes and dtypes checked."""
    if "x_train" in headers and "x" in headers:
        raise ValueError(f"{where}: holds both x and x_train; give either all data as x, y or the splits")
    if "x_train" not in headers and "x" not in headers:
        raise ValueError(f"{where}: no data; expected arrays x (N,T,D) and y (N,), or x_train and y_train")
    if "x" in headers:
        for extra in ("x_val", "y_val", "x_test", "y_test"):
            if extra in headers:
                raise ValueError(f"{where}: {extra} given with unsplit x; use x_train, y_train for the training part")
        names = ["x", "y"]
    else:
        names = [f"{a}_{s}" for s in _NPZ_SPLITS for a in ("x", "y") if f"x_{s}" in headers or f"y_{s}" in headers]
    pairs = list(zip(names[::2], names[1::2]))
    shape_td = None
    y_kind = None
    for x_name, y_name in pairs:
        for name in (x_name, y_name):
            if name not in headers:
                raise ValueError(f"{where}: {name} is missing (its partner {x_name if name == y_name else y_name} is there)")
        (x_shape, x_dtype), (y_shape, y_dtype) = headers[x_name], headers[y_name]
        if len(x_shape) != 3:
            raise ValueError(f"{where}: {x_name} must be 3-D (N, T, D), got shape {x_shape}")
        if x_dtype.kind not in "fiu":
            raise ValueError(f"{where}: {x_name} must hold numbers (float), got dtype {x_dtype}")
        if len(y_shape) != 1:
            raise ValueError(f"{where}: {y_name} must be 1-D (N,), got shape {y_shape}")
        if y_dtype.kind not in "fiu":
            raise ValueError(f"{where}: {y_name} must be integer class labels or float targets, got dtype {y_dtype}")
        if x_shape[0] != y_shape[0]:
            raise ValueError(f"{where}: {x_name} has {x_shape[0]} examples but {y_name} has {y_shape[0]}")
        if x_shape[0] == 0:
            raise ValueError(f"{where}: {x_name} is empty (N = 0); give at least one example")
        if x_shape[1] == 0 or x_shape[2] == 0:
            raise ValueError(f"{where}: {x_name} has shape {x_shape}: T = {x_shape[1]} steps of D = {x_shape[2]} "
                             "features; every sequence needs T >= 1 and D >= 1")
        if shape_td is not None and x_shape[1:] != shape_td:
            raise ValueError(f"{where}: {x_name} has (T, D) = {x_shape[1:]} but the training data has {shape_td}")
        shape_td = x_shape[1:]
        kind = "f" if y_dtype.kind == "f" else "i"
        if y_kind is not None and kind != y_kind:
            raise ValueError(f"{where}: {y_name} is {'float' if kind == 'f' else 'integer'} but the training labels are not; use one type")
        y_kind = kind
    return pairs


def _npz_labels(where: str, labels: dict[str, np.ndarray]) -> str:
    """"f" (float targets, all finite) or "i" (class labels 0..C-1 with C at most the file's
    examples: a label beyond that would size the readout by the label, not by the data)."""
    if next(iter(labels.values())).dtype.kind == "f":
        for name, y in labels.items():
            if not np.isfinite(y).all():
                raise ValueError(f"{where}: {name} contains NaN or inf (first at index {int(np.argwhere(~np.isfinite(y))[0][0])}); "
                                 "replace them, or drop those examples")
        return "f"
    n = sum(len(y) for y in labels.values())
    for name, y in labels.items():
        if y.min() < 0:
            raise ValueError(f"{where}: {name} has negative class labels ({int(y.min())}); classes must be 0, 1, ...")
        if int(y.max()) >= n:
            raise ValueError(f"{where}: {name} has class label {int(y.max())}, for which the readout would need "
                             f"{int(y.max()) + 1} outputs, but the file holds only {n} examples; number the classes "
                             "0..C-1 (np.unique(y, return_inverse=True)[1] does)")
    return "i"
