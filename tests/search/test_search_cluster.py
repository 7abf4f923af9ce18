"""`momnas search --address` against a real Ray head started here as a separate process.

The head gets its own --temp-dir and its own process group, and is stopped by killing that
group only: `ray stop` would stop every Ray on the machine, other tests' and people's too.
Each search runs as its own process, as a user would run it (this pytest process may hold
the session's local Ray, which start_ray would reuse instead of joining the cluster).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from optuna.artifacts import download_artifact
from optuna.trial import TrialState

from search import _record, open_study, study_artifact_store
from tests_search_helpers import TINY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


# The head runs as `ray start --head` does by default where a Ray token exists: token
# authentication. The searches get only the token, as a user has it, and must find the mode.
TOKEN = secrets.token_hex(32)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    return {**env, "RAY_AUTH_TOKEN": TOKEN, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _search(*args: str, timeout: float = 120, cwd: Path = ROOT, python: list[str] = ["-m", "search.cli"],
            env: dict[str, str] = {}) -> tuple[subprocess.CompletedProcess, float]:
    flags = []
    for key, value in TINY.items():
        flags += ["--T" if key == "T" else f"--{key.replace('_', '-')}", str(value)]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, *python, "search", *flags, *args],
        env=_env(**env), cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )
    return done, time.monotonic() - start


def _cluster_cpus(address: str) -> tuple[float, float]:
    """(used, total) CPUs of the cluster at `address`, from `ray status`."""
    deadline = time.monotonic() + 30
    while True:  # a new head's autoscaler reports its resources a few seconds after it starts
        status = subprocess.run([RAY, "status", "--address", address], env=_env(RAY_AUTH_MODE="token"), capture_output=True, text=True, timeout=60)
        found = re.search(r"([\d.]+)/([\d.]+) CPU", status.stdout)
        if found or time.monotonic() > deadline:
            assert found, status.stdout + status.stderr
            return float(found[1]), float(found[2])
        time.sleep(1)


@pytest.fixture(scope="module")
def head_ports():
    """A Ray head with 2 CPUs on a free port and its Ray Client server on another, token
    authentication on; yields (GCS port, client port), killed (its process group only) after."""
    port, client_port = _free_port(), _free_port()
    # A short path: Ray's unix sockets live under it, and sun_path holds 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="momnas-ray-")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--port", str(port), "--ray-client-server-port", str(client_port), "--num-cpus", "2",
         "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp_dir],
        env=_env(RAY_AUTH_MODE="token"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        out, _ = head.communicate(timeout=90)  # `ray start` returns once the head is up; its daemons stay
        assert head.returncode == 0, out
        deadline = time.monotonic() + 30
        while True:  # the client server listens a moment after `ray start` returns
            try:
                socket.create_connection(("127.0.0.1", client_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no Ray Client server on port {client_port}:\n{out}"
                time.sleep(0.5)
        yield port, client_port
    finally:
        # Every process the head started (GCS, raylet, client server, workers, agents) is in the
        # group `ray start` led: kill that group, nothing else.
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_head(head_ports):
    return f"127.0.0.1:{head_ports[0]}"


@pytest.fixture(scope="module")
def ray_client(head_ports):
    return f"ray://127.0.0.1:{head_ports[1]}"


def _check_study(out: Path, name: str, n: int) -> None:
    """What a user relies on after a search: its trials, finished, with objectives, user
    attributes and artifacts in the study, files under --out, and the plots."""
    study = open_study(out_dir=out, study=name)
    store = study_artifact_store(study)
    assert len(study.trials) == n
    for r in _record.trials(study):
        assert r.state.is_finished() and r.metrics and r.status == r.metrics["status"]
        assert r.run_config["cell"]["hidden_size"] == 8 and r.curve
        if r.status == "completed":
            assert r.state == TrialState.COMPLETE
            assert r.values == [r.metrics["validation"]["mse"], r.metrics["stability"]["instability"]]
            assert {"run.json", "metrics.json", "curves.json", "checkpoint.pt"} <= set(r.artifacts)
        path = out / f"m{r.number}.json"
        download_artifact(artifact_store=store, artifact_id=r.artifacts["metrics.json"], file_path=str(path))
        assert json.loads(path.read_text()) == json.loads((out / "trials" / name / f"{r.number:05d}" / "metrics.json").read_text())
    assert any(t.state == TrialState.COMPLETE for t in study.trials)
    assert (out / name / "plots" / "pareto_front.html").is_file()


def _check_idle(address: str) -> None:
    """The search disconnected without stopping the cluster, and gave back its CPUs."""
    deadline = time.monotonic() + 20
    while _cluster_cpus(address)[0] != 0.0 and time.monotonic() < deadline:
        time.sleep(1)
    assert _cluster_cpus(address) == (0.0, 2.0)


def test_search_joins_a_running_cluster_and_leaves_it_idle(ray_head, tmp_path):
    assert _cluster_cpus(ray_head) == (0.0, 2.0)
    done, seconds = _search("--trials", "3", "--out", str(tmp_path), "--study", "cl", "--address", ray_head)
    said = " ".join(done.stdout.split() + done.stderr.split())
    assert done.returncode == 0, said
    # The driver runs here: the live progress is shown, one line per finished trial.
    assert "trials 3/3 done" in said and len(re.findall(r"trial \d+ \S+ val_mse", said)) == 3, said
    print(f"search joining {ray_head}: {seconds:.1f} s")

    _check_study(tmp_path, "cl", 3)
    _check_idle(ray_head)


def test_search_through_ray_client(ray_client, ray_head, tmp_path):
    # Ray Client runs Tune's driver (the searcher, which writes the study and its artifacts) on
    # the head, in the head's working directory: a relative --out from another one must still
    # land here (the search makes its paths absolute; on several machines they must be shared).
    _check_idle(ray_head)
    done, seconds = _search("--trials", "3", "--out", "out", "--study", "rc", "--address", ray_client, cwd=tmp_path)
    said = " ".join(done.stdout.split() + done.stderr.split())
    assert done.returncode == 0, said
    # The progress here follows the study in the storage, one line per finished trial.
    assert "trials 3/3 done" in said and len(re.findall(r"trial \d+ \S+ val_mse", said)) == 3, said
    assert "SIGTERM" not in said and "Warning" not in said, said
    print(f"search through Ray Client {ray_client}: {seconds:.1f} s")
    _check_study(tmp_path / "out", "rc", 3)
    _check_idle(ray_head)


# Ray Client's own connection waits this long between its tries (5 s, then up to 30 s, by
# default), whatever the server answered: raised here so that a refusal that reached it could not
# end within a test's timeout, however loaded the machine.
NEVER = {"RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "600", "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "600"}


def test_ray_client_refusals_come_from_the_ping_not_ray_clients_retries(head_ports, tmp_path):
    """A wrong token, or a port that is not a Ray Client server, is refused by one ping (a gRPC
    call with a deadline) before ray.init, whose Ray Client connection retries for 30 s."""
    gcs_port, client_port = head_ports
    wrong_token = {"RAY_AUTH_TOKEN": "0" * 64}
    for address, env, says in (
        (f"ray://127.0.0.1:{client_port}", wrong_token, "uses token authentication and this machine lacks its token"),
        (f"ray://127.0.0.1:{gcs_port}", {}, "something listens there, but not a Ray Client server"),
    ):
        done, seconds = _search("--trials", "1", "--out", str(tmp_path), "--address", address, env={**env, **NEVER}, timeout=120)
        print(f"{address} refused in {seconds:.1f} s")
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        assert done.returncode == 2 and len(errors) == 1 and says in errors[0], done.stderr
        assert "Warning" not in done.stderr
        assert not open_study_names(tmp_path)


def test_the_client_ping_has_a_deadline():
    """A server that takes the connection and never answers (a stuck head) costs the ping its
    timeout, not a hang."""
    import threading

    from search._cluster import ping_client_server

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        answered: list[str | None] = []
        ping = threading.Thread(target=lambda: answered.append(ping_client_server(f"127.0.0.1:{silent.getsockname()[1]}", timeout=1)),
                                daemon=True)
        ping.start()
        ping.join(timeout=60)
    assert answered == ["DEADLINE_EXCEEDED"]


def test_ping_tells_a_ray_client_server_and_its_token_from_anything_else(head_ports, monkeypatch):
    # What start_ray's quick refusals rest on, against the real head: if Ray changes how its
    # client server answers a ping or checks the token, this fails (not just slower errors).
    import ray  # noqa: F401  (before the token mode below: Ray reads RAY_AUTH_MODE once, when it is
    # imported, and a process that first imported it in token mode keeps it for every later local
    # Ray, whose workers then never start: a later test's trials were "cancelled before it started")
    from search._cluster import ping_client_server

    gcs_port, client_port = head_ports
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    assert ping_client_server(f"127.0.0.1:{client_port}") is None
    assert ping_client_server(f"127.0.0.1:{gcs_port}") == "UNIMPLEMENTED"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)
    assert ping_client_server(f"127.0.0.1:{client_port}") == "UNAUTHENTICATED"


def test_ray_client_without_grpcio_says_what_it_needs(tmp_path):
    # grpcio comes with momnas (ray[client]); a Python that lost it gets one line, not a traceback.
    blocked = ["-c", "import sys; sys.modules['grpc'] = None; from search.cli import app; app()"]
    done, seconds = _search("--trials", "1", "--out", str(tmp_path), "--address", "ray://127.0.0.1:10001", python=blocked)
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, said
    assert "error: --address ray://127.0.0.1:10001 needs Ray Client" in said and "pip install grpcio" in said
    assert "Traceback" not in done.stderr
    assert not open_study_names(tmp_path)


def test_a_trial_no_node_can_host_is_refused_not_waited_for(ray_head, tmp_path):
    # The head has 2 CPUs and no GPU: Tune would queue such trials forever.
    for flags, asked in ((["--cpus-per-trial", "4"], "4 CPU(s) and 0 GPU(s)"), (["--gpus-per-trial", "1"], "1 CPU(s) and 1 GPU(s)")):
        done, seconds = _search("--trials", "1", "--out", str(tmp_path), "--study", "big", "--address", ray_head, *flags, timeout=90)
        said = " ".join(done.stderr.split())
        assert done.returncode == 2, said
        assert f"error: no node of the Ray cluster has {asked} for one trial (largest node: 2 CPUs, 0 GPUs)" in said
        assert not open_study_names(tmp_path)  # no empty study left behind


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_with_nothing_listening_fails_fast(scheme, tmp_path):
    address = f"{scheme}127.0.0.1:{_free_port()}"
    done, seconds = _search("--trials", "1", "--out", str(tmp_path), "--study", "x", "--address", address, env=NEVER, timeout=120)
    print(f"unreachable address {address} refused in {seconds:.1f} s")
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, said
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert errors == [f"error: no Ray cluster to join at '{address}' (ConnectionRefusedError: [Errno 111] Connection refused); "
                      "start one with `ray start --head` or leave out --address for a local Ray"], done.stderr
    # That line is the one connection attempt's, made before ray.init (which retries an unreachable
    # GCS for minutes, and Ray Client for 30 s): its exception type is in it, ray.init's never is.
    assert "Warning" not in done.stderr
    assert not open_study_names(tmp_path)  # no empty study left to block the next try


def open_study_names(out: Path) -> list[str]:
    import optuna

    db = out / "optuna.db"
    return optuna.get_all_study_names(storage=f"sqlite:///{db}") if db.exists() else []
