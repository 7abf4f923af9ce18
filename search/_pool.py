"""A local Ray's trial workers, started with Ray and warm before the first trial is drawn.

A fresh worker process pays its imports before its first trial can train: torch, Ray Tune,
runs and cells, then dynamo (and sympy) at the first optimizer step, ~8 s of CPU on a GPU
host. A trial drawn before its worker has paid them waits for them. So a local search starts
Ray with as many CPUs as the trials it runs at once ask for (`ray_init_args`): Ray starts one
worker process per CPU as it starts, and with `preload_python_modules` each imports
`PRELOAD` before it takes work, search._warmed last: it leaves a file named after the
worker's process in the folder MOMNAS_POOL_DIR names, and `Pool.wait` lets the driver draw
the first trial once the pool is warm.

Why not Ray's default, a worker per CPU of the machine: those would all import at once, also
where the search runs a few trials at a time, and the first trials would wait for all of them.
A joined cluster's workers are its nodes' own (started by `ray start`): no pool there.

Ray hands an actor whose runtime env differs from a worker's only a new worker, and Tune gives
its trial actors a runtime env of its own: one variable for PyTorch Lightning, which momnas
does not use (`ray.tune.execution.class_cache.DEFAULT_ENV_VARS`, Tune-internal). So while the
pool is up, `plain_trial_actors` leaves that variable out and the trials take the pool's
workers. Where Tune would pass on variables of this process (its ENV_VARS_TO_PROPAGATE, e.g.
AWS keys), trials still get new workers, as before; tests/search/test_search_pool.py fails
when Tune changes what this relies on.

Importing these modules must not initialise CUDA: Ray tells a trial its GPU through
CUDA_VISIBLE_DEVICES when the trial comes, and a process that has initialised CUDA no longer
reads it (`tests/search/test_search_pool_gpu.py` checks it on a GPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

ENV = "MOMNAS_POOL_DIR"
# torch, dynamo (the first optimizer step imports it), the trial's module (Ray Tune, runs,
# cells), then search._warmed, which says the others are done.
PRELOAD = ("torch._dynamo", "search._ray", "search._warmed")
WAIT_S = 120.0  # the longest the first trial waits for the pool; past it trials start as workers come
IDLE_S = 600.0  # how long a pool worker may wait idle for a trial


@dataclasses.dataclass
class Pool:
    """The warm workers a local Ray was started with: `size` processes, reporting in `folder`."""

    size: int
    folder: Path
    waited_s: float | None = None  # how long `wait` waited, once it has

    def ready(self) -> int:
        """How many of the pool's workers have imported PRELOAD."""
        return sum(1 for _ in self.folder.iterdir()) if self.folder.is_dir() else 0

    def wait(self, timeout_s: float = WAIT_S, poll_s: float = 0.05) -> bool:
        """Block until every worker of the pool is warm (True) or `timeout_s` passed (False).
        The first call waits; later ones return at once."""
        if self.waited_s is not None:
            return self.ready() >= self.size
        start = time.monotonic()
        while self.ready() < self.size and time.monotonic() - start < timeout_s:
            time.sleep(poll_s)
        self.waited_s = time.monotonic() - start
        return self.ready() >= self.size

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def ray_init_args(trials_at_once: int, cpus_per_trial: float) -> tuple[dict, Pool]:
    """`ray.init` keyword arguments for a local Ray whose workers are the pool of
    `trials_at_once` trials of `cpus_per_trial` CPUs each, and the pool to wait on. Sets
    MOMNAS_POOL_DIR in this process's environment, which Ray's processes inherit as they start;
    `forget_env` removes it once Ray has started."""
    cpus = max(1, math.ceil(trials_at_once * cpus_per_trial - 1e-9))
    folder = Path(tempfile.mkdtemp(prefix="momnas-pool-"))
    os.environ[ENV] = str(folder)
    # Ray ends a worker idle for a second (its idle_worker_killing_time_threshold_ms) when it
    # counts more workers than CPUs, as it may while a trial's worker starts: the pool waits
    # for the trials instead.
    args = {"num_cpus": cpus, "_system_config": {"preload_python_modules": list(PRELOAD),
                                                  "idle_worker_killing_time_threshold_ms": int(IDLE_S * 1000)}}
    return args, Pool(size=min(trials_at_once, cpus), folder=folder)


def forget_env() -> None:
    os.environ.pop(ENV, None)


TUNE_ENV = {"PL_DISABLE_FORK": "1"}  # what Tune adds to every trial actor's runtime env (for Lightning)


@contextlib.contextmanager
def plain_trial_actors():
    """Tune's trial actors without the runtime env variable Tune adds for PyTorch Lightning, in
    the block (where Tune adds exactly that; otherwise nothing changes)."""
    from ray.tune.execution import class_cache

    added = class_cache.DEFAULT_ENV_VARS
    if added != TUNE_ENV:
        yield
        return
    added.clear()
    try:
        yield
    finally:
        added.update(TUNE_ENV)
