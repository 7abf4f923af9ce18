"""Faults a search must survive or report plainly: racing searches, a read-only storage, Ctrl-C,
a killed trial worker, a cluster that is not there, trials that all diverge, and bugs that must not look like bad input."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import typer
from optuna.trial import TrialState
from typer.testing import CliRunner

import search
from search.cli import app
from search.cli._common import user_errors
from tests_search_helpers import TINY

ROOT = Path(search.__file__).resolve().parents[1]  # the momnas under test, also in the processes started here
FLAGS = ["--task", "adding", "--T", "20", "--n-train", "256", "--n-val", "64", "--n-test", "64", "--space", TINY["space"],
         "--epochs", "1", "--hidden", "8", "--batch-size", "64", "--seed", "0"]


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_two_processes_creating_one_new_sqlite_storage_both_succeed(tmp_path):
    """Two searches started at once into a new --out both make its schema: one used to fail with
    `UNIQUE constraint failed: alembic_version.version_num` (or `table alembic_version already exists`)."""
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        import optuna, search
        out, me, other = sys.argv[1:]
        for attempt in range(6):  # six new folders, each raced for: without the lock some are lost
            Path(f"{me}-{attempt}").touch()
            while not Path(f"{other}-{attempt}").exists():  # both at the same moment
                pass
            storage = search.make_storage(search.storage_url(f"{out}-{attempt}"))
            optuna.create_study(storage=storage, study_name="race", directions=["minimize", "minimize"], load_if_exists=True)
        print("ok")
    """)
    out = tmp_path / "runs"
    ready = [tmp_path / "a.ready", tmp_path / "b.ready"]
    procs = [_python(code, str(out), str(ready[i]), str(ready[1 - i])) for i in range(2)]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0 and stdout.strip() == "ok", stderr[-2000:]
    for attempt in range(6):
        assert optuna.get_all_study_names(search.make_storage(search.storage_url(f"{out}-{attempt}"), create=False)) == ["race"]


def test_resume_on_a_read_only_storage_says_so(tmp_path):
    db = tmp_path / "optuna.db"
    optuna.create_study(storage=search.make_storage(search.storage_url(tmp_path)), study_name="ro", directions=["minimize", "minimize"])
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        result = CliRunner().invoke(app, ["search", *FLAGS, "--trials", "1", "--out", str(tmp_path), "--study", "ro", "--resume"])
    finally:
        db.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.exit_code == 2, result.output + repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is read-only" in lines[0] and f"chmod u+w {db}" in lines[0], result.output


def test_a_search_that_cannot_reach_its_cluster_leaves_nothing_behind(tmp_path):
    out = tmp_path / "runs"
    proc = _python("from search.cli import app; app()", "search", *FLAGS, "--trials", "1", "--out", str(out),
                   "--address", "127.0.0.1:1")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr[-2000:]
    assert "no Ray cluster to join" in stderr
    assert not out.exists()  # before: an empty optuna.db and artifacts/ stayed


@pytest.mark.slow
def test_ctrl_c_ends_a_search_with_exit_code_130(tmp_path):
    """A script must tell an interrupted search from a finished one (the shell's convention: 128 + SIGINT)."""
    out = tmp_path / "runs"
    # Trials long enough to be interrupted: 2000 training sequences, 20 epochs.
    proc = _python("from search.cli import app; app()", "search", *FLAGS, "--n-train", "2000", "--epochs", "20",
                   "--trials", "4", "--max-concurrent", "1", "--out", str(out), start_new_session=True)
    try:
        deadline = time.time() + 240
        running = False
        while time.time() < deadline and proc.poll() is None and not running:
            time.sleep(1)
            if (out / "optuna.db").exists():
                try:
                    study = search.open_study(out_dir=out)
                    running = bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
                except (ValueError, FileNotFoundError):
                    pass
        assert running, f"no trial started: {proc.poll()=}"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr[-3000:]
    assert "interrupted" in stderr and "--resume" in stderr


@pytest.mark.slow
def test_a_search_whose_trials_all_diverged_says_so(ray_session, tmp_path):
    space = tmp_path / "blows-up.yaml"
    space.write_text("base: small\nfamilies: [plain-rnn]\nparams:\n  lr: 1.0e+30\n")  # a learning rate no cell survives
    result = CliRunner().invoke(app, ["search", *FLAGS, "--trials", "1", "--space", str(space),
                                      "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert "no trial completed (1 diverged)" in last and "smaller --lr" in last, result.output
    assert "next: " in result.output and "momnas export" not in result.output  # nothing to export


def test_only_deliberate_errors_are_user_errors():
    """A ValueError (validation) is one line and exit 2; a KeyError or TypeError is a bug in momnas:
    it keeps its traceback (exit 1), rather than look like the user's mistake."""
    with pytest.raises(typer.Exit) as refused:
        with user_errors():
            raise ValueError("search: `trials` must be a positive integer, got 0")
    assert refused.value.exit_code == 2
    for bug in (KeyError("run_config"), TypeError("unsupported operand")):
        with pytest.raises(type(bug)):
            with user_errors():
                raise bug


def test_hints_name_the_momnas_that_runs_when_it_is_not_on_the_path(monkeypatch, tmp_path):
    """`make quickstart` runs .venv/bin/momnas; the next: hints must work when pasted into the same shell."""
    installed = Path(sys.executable).parent / "momnas"
    if not installed.exists():
        pytest.skip(f"no momnas script beside {sys.executable}")
    monkeypatch.chdir(installed.parents[2])
    monkeypatch.setattr(sys, "argv", [str(installed), "search"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # as in a new shell without the venv activated
    assert search._run.momnas_command() == os.path.relpath(installed)
    monkeypatch.setenv("PATH", f"{installed.parent}:/usr/bin:/bin")  # activated
    assert search._run.momnas_command() == "momnas"


def test_output_into_a_pipe_is_not_wrapped_at_80_columns():
    line = "trial 12 completed  val_mse 0.1234  instability 0.0567  momentum-lstm mu=0.61 s=0.93 lr=0.00123  (21.6 s)"
    proc = _python(f"from search.cli._common import console, err_console; console.print({line!r}); err_console.print({line!r})")
    stdout, stderr = proc.communicate(timeout=60)
    assert stdout.strip() == line and stderr.strip() == line


def _session_processes(sid: int, title: str) -> list[int]:
    """The processes of session `sid` whose command line starts with `title` (Ray names its
    workers by what they run, e.g. `ray::ImplicitFunc.train`)."""
    found = subprocess.run(["ps", "-s", str(sid), "-o", "pid=,args="], text=True, capture_output=True).stdout
    return [int(pid) for pid, _, args in (line.strip().partition(" ") for line in found.splitlines()) if args.startswith(title)]


@pytest.mark.slow
def test_a_killed_trial_worker_is_one_line_and_a_failed_trial(tmp_path):
    """Ray printed a 20-line ActorDiedError traceback into the search's output when a trial's
    worker was killed (OOM killer, kill -9); the trial gets one line, as other failed trials do."""
    out = tmp_path / "runs"
    # One trial at a time, each a few seconds: trial 0 is killed while it trains, 1 and 2 complete.
    proc = _python("from search.cli import app; app()", "search", *FLAGS, "--n-train", "1024", "--epochs", "8",
                   "--trials", "3", "--max-concurrent", "1", "--out", str(out), start_new_session=True)
    try:
        deadline, killed = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None and killed is None:
            time.sleep(0.3)
            if not (out / "optuna.db").exists():
                continue
            try:
                running = search.open_study(out_dir=out).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except (ValueError, FileNotFoundError):
                continue
            workers = _session_processes(proc.pid, "ray::ImplicitFunc")
            if running and running[0].user_attrs.get("curve") and len(workers) == 1:  # it has trained an epoch
                os.kill(workers[0], signal.SIGKILL)
                killed = running[0].number
        assert killed is not None, f"no trial seen training: {proc.poll()=}"
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = stdout + stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "ActorDiedError" in output, output[-3000:]
    lines = [line for line in output.splitlines() if f"trial {killed:>3} " in line]
    assert len(lines) == 1 and "worker died" in lines[0], output[-3000:]
    trials = search.open_study(out_dir=out).get_trials(deepcopy=False)
    states = {t.number: t.state for t in trials}
    assert states == {n: TrialState.FAIL if n == killed else TrialState.COMPLETE for n in range(3)}, states
    assert "worker died" in trials[killed].user_attrs["error"]


def test_only_a_dead_workers_trial_error_loses_its_traceback():
    """The filter behind the one line drops Tune's logs of a worker death and nothing else: any
    other trial error (a bug in Tune or momnas) still reaches the user with its traceback."""
    from ray.exceptions import ActorDiedError
    from ray.tune.experiment import Trial

    from search._worker_deaths import WorkerDeaths

    shown: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = shown.append  # what reaches Ray's handlers (the search's output)
    controller, tune_log = logging.getLogger("ray.tune.execution.tune_controller"), logging.getLogger("ray.tune.tune")
    for logger in (controller, tune_log):
        logger.addHandler(handler)
    try:
        with WorkerDeaths() as deaths:
            controller.error("Trial task failed for trial trainable_a", exc_info=ActorDiedError())
            assert deaths.take() == "its worker died (ActorDiedError): The actor died unexpectedly before finishing this task."
            assert deaths.take() is None  # once: never the reason of a later trial
            controller.error("Trial task failed for trial trainable_b", exc_info=RuntimeError("a bug"))
            assert deaths.take() is None
            tune_log.error("Trials did not complete: %s", [Trial("trainable", trial_id="a", stub=True)])
            tune_log.error("Trials did not complete: %s", [Trial("trainable", trial_id=i, stub=True) for i in "ab"])
        controller.error("Trial task failed for trial trainable_c", exc_info=ActorDiedError())  # filter removed
    finally:
        for logger in (controller, tune_log):
            logger.removeHandler(handler)
    assert [(r.getMessage(), r.exc_info is not None) for r in shown] == [
        ("Trial task failed for trial trainable_b", True),
        ("Trials did not complete: [trainable_a, trainable_b]", False),
        ("Trial task failed for trial trainable_c", True),
    ]
