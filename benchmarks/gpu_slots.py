"""One GPU per benchmark job: the environment that pins a job (a search, a warm-up) to one GPU
and gives it a CUDA MPS daemon of its own.

`momnas search` starts an MPS control daemon where its trials share a GPU (search/_mps.py,
`--mps auto`) and finds a running one through the daemon's pipe directory
(CUDA_MPS_PIPE_DIRECTORY, default /tmp/nvidia-mps). Two jobs on two GPUs with the default
directory would share one daemon: the second job's trials would join the first job's MPS
server, whose GPU set is the first job's CUDA_VISIBLE_DEVICES, and a job that wants no MPS
would be captured too. So each GPU's jobs get a pipe and log directory of their own: a daemon
started there serves that GPU only, and a job there that starts none finds none. Jobs on the
same GPU run one after the other, so they never meet a daemon that is not their own.

GPUs are named by UUID, not index, as NVIDIA's MPS guide recommends ("CUDA_VISIBLE_DEVICES"):
an MPS server renumbers the GPUs it sees from 0, so an index means different GPUs to a daemon
and its clients (search/_mps.py drops index lists from the daemon's environment, NOTES.md run
21); a UUID means one GPU to all of them, and search/_mps.py keeps it, so each GPU's daemon
sees that GPU only. Ray passes the names on to its workers as they are.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def visible_gpus() -> list[str]:
    """The GPUs this process may use, by UUID ("GPU-..."), in CUDA's order."""
    import torch

    return [f"GPU-{torch.cuda.get_device_properties(i).uuid}" for i in range(torch.cuda.device_count())]


def slot_envs(slots: int) -> list[dict[str, str]]:
    """Environment overrides for `slots` jobs at once: one GPU each, with its own MPS
    directories, where this machine has GPUs; where it has none, `slots` empty overrides
    (jobs at once on the CPU). ValueError when more slots than GPUs are asked for."""
    gpus = visible_gpus()
    if not gpus:
        return [{} for _ in range(slots)]
    if slots > len(gpus):
        raise ValueError(f"--gpus {slots}: this machine shows {len(gpus)} GPU(s); give --gpus {len(gpus)} or fewer")
    # Short paths: the daemon's control socket lives in the pipe directory (Unix sockets: < 108 bytes).
    root = Path(tempfile.mkdtemp(prefix="momnas-mps-"))
    envs = []
    for index, gpu in enumerate(gpus[:slots]):
        pipe, log = root / f"{index}" / "pipe", root / f"{index}" / "log"
        pipe.mkdir(parents=True)
        log.mkdir(parents=True)
        envs.append({"CUDA_VISIBLE_DEVICES": gpu, "CUDA_MPS_PIPE_DIRECTORY": str(pipe), "CUDA_MPS_LOG_DIRECTORY": str(log)})
    return envs
