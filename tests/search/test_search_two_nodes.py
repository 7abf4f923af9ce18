"""A real two-node Ray cluster on this machine: a head and a worker node, each started with
`ray start` and resources of its own, joined by `momnas search --address`: trials land on both.

Each node has 1 CPU, so two trials at once must use both. The nodes run in their own process
groups and are stopped by killing those groups only (`ray stop` would stop every Ray on the
machine, other tests' and people's too).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from search import open_study
from tests_search_helpers import TINY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _node(*args: str):
    """`ray start ARGS` in a process group of its own; killed (that group only) after."""
    started = subprocess.Popen([RAY, "start", "--num-cpus", "1", "--disable-usage-stats", *args], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = started.communicate(timeout=90)  # `ray start` returns once the node is up; its daemons stay
        assert started.returncode == 0, out
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.pid, signal.SIGKILL)


def _wait_for_nodes(address: str, n: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        status = subprocess.run([RAY, "status", "--address", address], env=ENV, capture_output=True, text=True, timeout=60)
        if status.stdout.count("node_") >= n or time.monotonic() > deadline:
            assert status.stdout.count("node_") >= n, status.stdout + status.stderr
            return
        time.sleep(1)


def test_a_search_on_a_head_and_a_worker_node_runs_trials_on_both(tmp_path):
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="momnas-2n-")  # short: Ray's unix sockets live under it
    try:
        with _node("--head", "--port", str(port), "--node-ip-address", "127.0.0.1", "--resources", '{"head_node": 1}',
                   "--include-dashboard=false", "--temp-dir", temp_dir), \
             _node("--address", address, "--node-ip-address", "127.0.0.1", "--resources", '{"worker_node": 1}'):
            _wait_for_nodes(address, 2)
            flags = []
            for key, value in {**TINY, "trials": 4}.items():
                flags += ["--T" if key == "T" else f"--{key.replace('_', '-')}", str(value)]
            done = subprocess.run([sys.executable, "-m", "search.cli", "search", *flags, "--out", str(tmp_path),
                                   "--study", "two", "--address", address],
                                  env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=180)
            said = " ".join(done.stdout.split() + done.stderr.split())
            assert done.returncode == 0, said
            assert "gpus: auto → no GPU, trials train on the CPU" in said, said
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    study = open_study(out_dir=tmp_path, study="two")
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["ray_node_id"] for t in study.trials}) == 2
