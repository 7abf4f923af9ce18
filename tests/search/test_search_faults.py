"""Faults a search must survive or report plainly: racing searches and resumes, a read-only storage,
Ctrl-C and SIGTERM, a killed trial worker, a cluster that is not there, trials that all diverge,
and bugs that must not look like bad input."""

from __future__ import annotations

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
from search import TrialRecord
from search.cli import app
from search.cli._common import user_errors
from search.errors import BadInput, StorageError
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


def test_reading_a_storage_a_starting_search_is_creating_waits_for_its_schema(tmp_path):
    """`momnas status` (or a test, or the dashboard) opening a new SQLite storage while a search
    is still writing Optuna's schema used to stamp the schema version beside it, and the search
    failed with `UNIQUE constraint failed: alembic_version.version_num`."""
    writer = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        import optuna, search
        out, = sys.argv[1:]
        deadline = time.time() + 60  # the reader died: stop, and let its error speak
        for attempt in range(20):
            while not Path(f"{out}-{attempt}.go").exists():
                if time.time() > deadline:
                    sys.exit("the reader stopped")
            storage = search.make_storage(search.storage_url(f"{out}-{attempt}"))
            optuna.create_study(storage=storage, study_name="s", directions=["minimize", "minimize"])
        print("ok")
    """)
    reader = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        import optuna, search
        out, = sys.argv[1:]
        deadline = time.time() + 60  # the writer died: stop, and let its error speak
        for attempt in range(20):
            Path(f"{out}-{attempt}.go").touch()
            while True:  # as soon as the file is there, as a polling `momnas status` would
                if time.time() > deadline:
                    sys.exit("the writer stopped")
                try:
                    storage = search.make_storage(search.storage_url(f"{out}-{attempt}"), create=False)
                except search.BadInput:  # not there yet
                    continue
                optuna.get_all_study_names(storage)
                break
        print("ok")
    """)
    out = tmp_path / "runs"
    procs = [_python(writer, str(out)), _python(reader, str(out))]
    said = [proc.communicate(timeout=180) for proc in procs]
    for proc, (stdout, stderr) in zip(procs, said):
        assert proc.returncode == 0 and stdout.strip() == "ok", [err[-2000:] for _, err in said]


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
    assert isinstance(StorageError("x"), search.MomnasError)


def test_a_search_that_cannot_reach_its_cluster_leaves_nothing_behind(tmp_path):
    out = tmp_path / "runs"
    proc = _python("from search.cli import app; app()", "search", *FLAGS, "--trials", "1", "--out", str(out),
                   "--address", "127.0.0.1:1")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr[-2000:]
    assert "no Ray cluster to join" in stderr
    assert not out.exists()  # before: an empty optuna.db and artifacts/ stayed


def _wait_for_training(proc: subprocess.Popen, out: Path, timeout: float = 240) -> None:
    """Until a trial of the search in `out` has trained an epoch (its curve has a point)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if (out / "optuna.db").exists():
            try:
                running = search.open_study(out_dir=out).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except search.MomnasError:
                continue
            if any(TrialRecord.of(t).epochs_trained is not None for t in running):
                return
    said = proc.stderr.read()[-3000:] if proc.poll() is not None else "(still running)"
    raise AssertionError(f"no trial seen training: {proc.poll()=}; its stderr: {said}")


@pytest.mark.slow
@pytest.mark.parametrize("sent, code, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped (SIGTERM)")])
def test_ctrl_c_and_sigterm_stop_a_search_with_its_resume_hint(tmp_path, sent, code, said):
    """A script must tell a stopped search from a finished one (the shell's convention: 128 + the
    signal), and a scheduler's SIGTERM stops it as Ctrl-C does: no Ray stack dump, the same hint."""
    out = tmp_path / "runs"
    # Trials long enough to be interrupted: 20000 training sequences, 20 epochs.
    proc = _python("from search.cli import app; app()", "search", *FLAGS, "--n-train", "20000", "--epochs", "20",
                   "--trials", "4", "--max-concurrent", "1", "--out", str(out), start_new_session=True)
    try:
        _wait_for_training(proc, out)
        # Ctrl-C in a terminal signals the whole process group; a scheduler or `kill` signals the search.
        os.killpg(proc.pid, sent) if sent == signal.SIGINT else os.kill(proc.pid, sent)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, stderr[-3000:]
    assert said in stderr and "run the same command with --resume" in stderr
    assert "Traceback" not in stderr and "Stack (most recent call first)" not in stderr, stderr[-3000:]
    resumed = CliRunner().invoke(app, ["status", "--out", str(out)])
    assert "re-queued" in resumed.output


@pytest.mark.slow
def test_a_second_live_search_of_a_study_is_refused_and_leaves_the_first_alone(tmp_path):
    """Two --resume of one study at once: the second marked the first's live trials interrupted, and
    the first then crashed; started together, both ran the missing trials (18 where 10 were asked)."""
    out = tmp_path / "runs"
    args = ("from search.cli import app; app()", "search", *FLAGS, "--n-train", "20000", "--epochs", "10", "--trials", "2",
            "--max-concurrent", "1", "--out", str(out), "--study", "s", "--resume")
    first = _python(*args)
    _wait_for_training(first, out)
    second = _python(*args)
    stdout, stderr = second.communicate(timeout=120)
    assert second.returncode == 2, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"is being searched right now by process {first.pid}" in lines[0], stderr
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    trials = search.open_study(out_dir=out).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2  # none interrupted, none twice


@pytest.mark.slow
def test_two_resumes_started_together_run_one_search(tmp_path):
    out = tmp_path / "runs"
    args = ("from search.cli import app; app()", "search", *FLAGS, "--trials", "4", "--out", str(out), "--study", "s", "--resume")
    procs = [_python(*args) for _ in range(2)]
    results = [proc.communicate(timeout=300) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [0, 2], [r[1][-2000:] for r in results]
    refused = next(r[1] for proc, r in zip(procs, results) if proc.returncode == 2)
    assert "is being searched right now" in refused or "taken by another search started at the same moment" in refused
    trials = search.open_study(out_dir=out).trials
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)


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
    """A MomnasError (bad input, storage, cluster) is one line and exit 2; anything else, a torch
    ValueError included, is a bug: it keeps its traceback (exit 1), rather than look like the user's mistake."""
    for deliberate in (BadInput("search: `trials` must be a positive integer, got 0"), StorageError("storage x is full")):
        with pytest.raises(typer.Exit) as refused:
            with user_errors():
                raise deliberate
        assert refused.value.exit_code == 2
    for bug in (KeyError("run_config"), TypeError("unsupported operand"), ValueError("Expected 3D input, got 2D")):
        with pytest.raises(type(bug)):
            with user_errors():
                raise bug


def test_a_full_or_read_only_disk_is_one_line_naming_the_path():
    import errno

    for number, why in ((errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")):
        with pytest.raises(typer.Exit) as refused:
            with user_errors():
                raise OSError(number, why, "/data/runs/optuna.db")
        assert refused.value.exit_code == 2
    with pytest.raises(ConnectionResetError):  # other OSErrors are not the disk's
        with user_errors():
            raise ConnectionResetError("peer")


def test_hints_name_the_momnas_that_runs_when_it_is_not_on_the_path(monkeypatch, tmp_path):
    """`make quickstart` runs .venv/bin/momnas; the next: hints must work when pasted into the same shell."""
    installed = Path(sys.executable).parent / "momnas"
    if not installed.exists():
        pytest.skip(f"no momnas script beside {sys.executable}")
    monkeypatch.chdir(installed.parents[2])
    monkeypatch.setattr(sys, "argv", [str(installed), "search"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # as in a new shell without the venv activated
    from search.cli.search import momnas_command

    assert momnas_command() == os.path.relpath(installed)
    monkeypatch.setenv("PATH", f"{installed.parent}:/usr/bin:/bin")  # activated
    assert momnas_command() == "momnas"


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
            except search.MomnasError:
                continue
            # Trials drawn ahead are RUNNING in the study too, and so is one that trained to the
            # target while the search records it: the one training has evaluations, not all 8,
            # and with one trial at a time, one worker process trains it.
            training = [t.number for t in running if 0 < (TrialRecord.of(t).epochs_trained or 0) < 8]
            workers = _session_processes(proc.pid, "ray::ImplicitFunc")
            if len(training) == 1 and len(workers) == 1:
                os.kill(workers[0], signal.SIGKILL)
                killed = training[0]
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
    assert "worker died" in TrialRecord.of(trials[killed]).error


def test_a_dead_workers_trial_error_is_one_line_from_the_exception():
    from ray.exceptions import ActorDiedError

    from search._ray import death_reason

    assert death_reason(ActorDiedError()) == "its worker died (ActorDiedError): The actor died unexpectedly before finishing this task."
    assert death_reason(None) == "its worker died (no reason recorded by Ray)"


def test_a_storage_that_refuses_a_write_is_one_line():
    from optuna.exceptions import StorageInternalError

    with pytest.raises(typer.Exit) as refused:
        with user_errors():
            try:
                raise OSError(28, "database or disk is full")
            except OSError as exc:
                raise StorageInternalError("An exception is raised during the commit.") from exc
    assert refused.value.exit_code == 2
