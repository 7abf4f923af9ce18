"""CUDA MPS for trials that share a GPU (`--gpus-per-trial` below 1, `--mps`).

Ray runs each trial in its own process, and without MPS the GPU time-slices between
processes: a kernel of one trial waits while another's runs, although momnas's recurrence
kernels fill only a few of the GPU's SMs at one trial's batch. Under MPS the kernels of all
processes run at once (docs/benchmarks.md, "A search on the GPU": four trials under MPS gave
1.3 to 2.8 times the iterations per second of four without it).

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
from collections.abc import Iterator, Mapping
from search.errors import BadInput

_DAEMON = "nvidia-cuda-mps-control"


def mps_running() -> bool:
    """Whether an MPS control daemon runs on this machine, as the daemon's own client says
    (`get_server_list`: exit 0, or "Cannot find MPS control daemon process" and exit 1). Its
    files are no guide: a daemon that quit leaves its control socket behind."""
    exe = shutil.which(_DAEMON)
    if exe is None:
        return False
    return subprocess.run([exe], input="get_server_list\n", capture_output=True, text=True).returncode == 0


def _daemon_env(env: Mapping[str, str]) -> dict[str, str]:
    """The daemon's environment: the search's, without CUDA_VISIBLE_DEVICES where it names GPUs
    by index. The MPS server renumbers the GPUs it sees from 0 for its clients, and Ray tells each
    trial its GPU by the index it read here, so a daemon that saw only GPU 1 would leave the
    trials of GPU "1" with no device (NVIDIA's MPS guide, CUDA_VISIBLE_DEVICES). UUIDs (GPU-...) name the same GPU for the daemon and its clients, so they are kept:
    that is how one daemon per GPU is run (`benchmarks/gpu_slots.py`)."""
    visible = env.get("CUDA_VISIBLE_DEVICES", "")
    by_uuid = visible and all(d.strip().startswith(("GPU-", "MIG-")) for d in visible.split(","))
    return {k: v for k, v in env.items() if k != "CUDA_VISIBLE_DEVICES" or by_uuid}


@contextlib.contextmanager
def cuda_mps() -> Iterator[bool]:
    """Run the block under CUDA MPS: start the control daemon unless one runs, stop it after if
    this call started it. Yields whether it started one."""
    if mps_running():
        yield False
        return
    exe = shutil.which(_DAEMON)
    if exe is None:
        raise BadInput(f"--mps needs {_DAEMON} (NVIDIA's driver utilities) on PATH, and this machine lacks it; "
                         "install them, or leave out --mps (trials sharing a GPU then take turns on it)")
    started = subprocess.run([exe, "-d"], capture_output=True, text=True, env=_daemon_env(os.environ))
    if "already running" in started.stdout + started.stderr:  # started meanwhile by someone else: use it
        yield False
        return
    if started.returncode != 0:
        why = (started.stderr or started.stdout).strip().splitlines()
        raise BadInput(f"--mps: `{_DAEMON} -d` failed ({why[0] if why else f'exit {started.returncode}'}); "
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
