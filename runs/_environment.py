"""What changes a run's numbers besides its config, recorded beside its results and checked on a retrain.

`environment(device)` is the record `runs.train` writes into metrics.json ("environment"):
library versions, the device, the torch threads the run used, and the switches that pick
kernels (deterministic algorithms, cuDNN's, TF32). A retrain (`momnas train run.json` or
`best.json`) takes the recorded threads where its run file gives none (`build_run_config`),
and `replay_note` says in one line when this machine cannot give the same numbers.
"""

from __future__ import annotations

import contextlib
import json
import platform
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from runs._config import RunConfig

# What must match for a retrain to give the recorded numbers (python's version does not enter them).
_REPLAYED = ("device", "device_name", "torch", "numpy", "cuda", "cudnn", "deterministic_algorithms",
             "cudnn_deterministic", "cudnn_benchmark", "cudnn_allow_tf32", "float32_matmul_precision")


def resolve_device(name: str) -> torch.device:
    """The device a TrainConfig's `device` names here ("auto": CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"train: device {name!r} asked for but CUDA is not available here; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("train: device 'mps' asked for but it is not available here; use --device cpu or auto")
    return torch.device(name)


def environment(device: torch.device) -> dict[str, Any]:
    """The record of this process for a run on `device` (threads: torch's count now)."""
    cuda = device.type == "cuda"
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def _cpu_name() -> str:
    """The CPU's model name (its instruction set picks the kernels), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `count` inside (None: left as it is), restored after."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def recorded_environment(path: str | Path, data: dict[str, Any]) -> dict[str, Any] | None:
    """The environment a run file's run recorded: an export's `metrics.environment`, or the
    `environment` of the metrics.json beside a run folder's run.json; None when there is none."""
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        beside = Path(path).with_name("metrics.json")
        try:
            metrics = json.loads(beside.read_text()) if beside.is_file() else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            metrics = None  # a damaged neighbour is not this run file's fault: nothing recorded
    recorded = metrics.get("environment") if isinstance(metrics, dict) else None
    return recorded if isinstance(recorded, dict) else None


def replay_note(recorded: dict[str, Any] | None, config: RunConfig) -> str | None:
    """One line saying why training `config` here cannot give the numbers of the run that
    recorded `recorded` exactly (another device, torch, kernel switches; on the CPU another
    thread count), or None when nothing that changes them differs."""
    if not recorded:
        return None
    device = resolve_device(config.train.device)
    here = environment(device)
    if config.train.threads is not None:
        here["threads"] = config.train.threads
    keys = list(_REPLAYED) + (["threads"] if device.type == "cpu" else [])  # threads change CPU kernels only
    differ = [key for key in keys if key in recorded and recorded[key] != here[key]]
    if not differ:
        return None
    then = ", ".join(f"{key} {recorded[key]}" for key in differ)
    now = ", ".join(f"{key} {here[key]}" for key in differ)
    return f"note: this retrain cannot reproduce the recorded numbers exactly: recorded with {then}; here {now}"
