"""One local Ray for every search test (starting Ray takes seconds on a small machine)."""

from __future__ import annotations

import os

import optuna
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

@pytest.fixture(scope="session")
def ray_session():
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()
