"""CUDA MPS for trials that share a GPU (`--gpus-per-trial` below 1, `--mps`).

Ray runs each trial in its own process, and without MPS the GPU time-slices between
processes: a kernel of one trial waits while another's runs, although momnas's recurrence
kernels fill only a few of the GPU's SMs (8 of 132 at B = 128). Under MPS the kernels of
all processes run at once. Measured on an H200, four trials at once, iterations per second
of the GPU in all (benchmarks/gpu_share.sh, NOTES.md run 14):

    family               alone   4 without MPS   4 under MPS
    momentum-orthogonal     97             157           338
    momentum-cornn         111             142           399
    momentum-lstm          150             221           283

MPS is on by default (`--mps auto`) for a local search on a machine with a GPU whose trials
share GPUs (`--gpus-per-trial auto` or a fraction), where the daemon can start; `--mps` insists,
`--no-mps` leaves it off. A local search under MPS starts the control daemon before Ray starts its workers
and stops it when the search ends (one already running is used and left running). On a
cluster, start it on each GPU node before `ray start`: `nvidia-cuda-mps-control -d`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

_DAEMON = "nvidia-cuda-mps-control"


def mps_running() -> bool:
    """Whether an MPS control daemon runs on this machine, as the daemon's own client says
    (`get_server_list`: exit 0, or "Cannot find MPS control daemon process" and exit 1). Its
    files are no guide: a daemon that quit leaves its control socket behind."""
    exe = shutil.which(_DAEMON)
    if exe is None:
        return False
    return subprocess.run([exe], input="get_server_list\n", capture_output=True, text=True).returncode == 0


@contextlib.contextmanager
def cuda_mps() -> Iterator[bool]:
    """Run the block under CUDA MPS: start the control daemon unless one runs, stop it after if
    this call started it. Yields whether it started one."""
    if mps_running():
        yield False
        return
    exe = shutil.which(_DAEMON)
    if exe is None:
        raise ValueError(f"--mps needs {_DAEMON} (NVIDIA's driver utilities) on PATH, and this machine lacks it; "
                         "install them, or leave out --mps (trials sharing a GPU then take turns on it)")
    # Started without CUDA_VISIBLE_DEVICES: a daemon that sees only GPU 1 renumbers it to 0 for its
    # clients, and the trials, which Ray tells to use GPU "1", would find no GPU (NVIDIA's MPS guide,
    # CUDA_VISIBLE_DEVICES; benchmarks/NOTES.md run 21). Ray's ids name physical GPUs, so the
    # daemon sees them all; which GPU each trial uses stays Ray's choice.
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    started = subprocess.run([exe, "-d"], capture_output=True, text=True, env=env)
    if "already running" in started.stdout + started.stderr:  # started meanwhile by someone else: use it
        yield False
        return
    if started.returncode != 0:
        why = (started.stderr or started.stdout).strip().splitlines()
        raise ValueError(f"--mps: `{_DAEMON} -d` failed ({why[0] if why else f'exit {started.returncode}'}); "
                         "start it yourself (it may need the GPU in default compute mode), or leave out --mps")
    try:
        yield True
    finally:
        subprocess.run([exe], input="quit\n", capture_output=True, text=True)


@contextlib.contextmanager
def mps_for_search(mode: str, *, wanted: bool) -> Iterator[str]:
    """MPS for a search: `on` runs the block under `cuda_mps` (its errors propagate), `off`
    without, `auto` under it where `wanted` and the daemon starts. Yields "on", "off" or
    "off (why)" for the search's one line."""
    if mode == "off" or (mode == "auto" and not wanted):
        yield "off"
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(cuda_mps())
        except ValueError as exc:
            if mode == "on":
                raise
            reason = str(exc).partition("; ")[0].removeprefix("--mps: ") if "failed" in str(exc) else f"no {_DAEMON} on PATH"
            yield f"off ({reason})"
            return
        yield "on"
