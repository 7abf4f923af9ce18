"""A storage password is never shown or stored: masking, MOMNAS_STORAGE, and a real search into a
PostgreSQL whose password holds a raw `/` and an `@`, searched for in everything written and served
(the experiment trackers' files included).

The PostgreSQL role and database are made by `.ci/system-deps` (skipped where no server answers,
unless CI is set: there, a missing server is a failure).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import urllib.request
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

import search
from search.cli import app
from tests_search_helpers import TINY, postgres_or_skip

PASSWORD = "Mq7/x@Secret"
URL = os.environ.get("MOMNAS_TEST_POSTGRES_SECRET_URL",
                     "postgresql+psycopg://momnas_secret:Mq7/x%40Secret@localhost:5432/momnas_secret")
# The password as it may appear anywhere: as given, percent-encoded, and its parts around the raw characters.
LEAKS = [PASSWORD.encode(), b"Mq7/x%40Secret", b"Mq7/", b"x@Secret", b"x%40Secret"]


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://momnas:s3cret@db.example/momnas", "postgresql+psycopg://momnas:***@db.example/momnas"),
    # Raw `/`, `@` and `:` in the password: SQLAlchemy's make_url shows "ss@host" as the host.
    ("postgresql+psycopg://u:pa@ss@host:5432/db", "postgresql+psycopg://u:***@host:5432/db"),
    ("postgresql+psycopg://u:p/w@d@host/db", "postgresql+psycopg://u:***@host/db"),
    ("mysql+pymysql://u:a:b/c@host/db?charset=utf8", "mysql+pymysql://u:***@host/db?charset=utf8"),
    ("postgresql+psycopg://u@host/db?password=s3cret&sslmode=require", "postgresql+psycopg://u@host/db?password=***&sslmode=require"),
    ("postgresql+psycopg://u@host/db", "postgresql+psycopg://u@host/db"),
    ("sqlite:////tmp/x/optuna.db", "sqlite:////tmp/x/optuna.db"),
    ("journal:runs/journal.log", "journal:runs/journal.log"),
])
def test_public_url_hides_every_password(url, shown):
    assert search.public_url(url) == shown


@pytest.mark.parametrize("url", ["postgresql+psycopg://u:pa@ss/w0rd@127.0.0.1:1/db", "postgresql+psycopg://u:w0rd/pa%40ss@127.0.0.1:1/db"])
def test_storage_errors_never_show_the_password(url):
    result = CliRunner().invoke(app, ["status", "--storage", url])
    assert result.exit_code == 2
    said = result.output + result.stderr
    assert "pa@ss" not in said and "w0rd" not in said and "pa%40ss" not in said and "ss/" not in said, said
    assert "u:***@127.0.0.1:1/db" in said
    if "pa@ss" in url:  # the driver would take "ss/w0rd@127.0.0.1" for the host and say so
        assert "raw '@'" in said and "%40" in said


def test_momnas_storage_is_every_command_s_default_storage(tmp_path, make_study_dir):
    """MOMNAS_STORAGE names the storage for status, plot, dashboard and export, as --storage would."""
    url = make_study_dir(tmp_path)
    runner = CliRunner()
    elsewhere = tmp_path / "empty"  # --out names a folder without optuna.db: only the variable finds the study
    elsewhere.mkdir()
    result = runner.invoke(app, ["status", "--out", str(elsewhere)], env={"MOMNAS_STORAGE": url})
    assert result.exit_code == 0, result.output + result.stderr
    assert "env-study" in result.output
    result = runner.invoke(app, ["status", "--out", str(elsewhere)], env={"MOMNAS_STORAGE": ""})
    assert result.exit_code == 2 and "no study storage" in result.stderr


@pytest.fixture
def make_study_dir():
    def make(folder: Path) -> str:
        url = f"sqlite:///{folder / 'store' / 'optuna.db'}"
        study = optuna.create_study(storage=search.make_storage(url), study_name="env-study", directions=["minimize", "minimize"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["val_mse", "instability"])
        return url
    return make


# ------------------------------------------------------------------ a real search into PostgreSQL


def _ray_session_dirs(since: float) -> list[Path]:
    """Ray's session folders written since the search began (the default temp dir, /tmp/ray)."""
    root = Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray"
    return [p for p in root.glob("session_2*") if p.is_dir() and p.stat().st_mtime >= since - 60]


def _files_with_password(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 64 << 20:
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(leak in data for leak in LEAKS):
                    found.append(path)
    return found


@pytest.fixture(scope="module")
def secret_search(ray_session, tmp_path_factory):
    """`momnas search --storage URL-with-password` (two tiny trials), then what it wrote and served."""
    postgres_or_skip(URL)
    out = tmp_path_factory.mktemp("secret")
    name = f"secret-{uuid.uuid4().hex[:8]}"
    began = time.time()
    args = ["search", "--task", "adding", "--T", "20", "--n-train", "256", "--n-val", "64", "--n-test", "64",
            "--space", "small", "--epochs", "1", "--hidden", "8", "--batch-size", "64", "--max-concurrent", "2",
            "--seed", "0", "--trials", "2", "--out", str(out), "--storage", URL, "--study", name,
            "--log-to", "tensorboard", "--log-to", "mlflow", "--log-to", "wandb"]  # their files are searched too
    assert TINY["space"] == "small"  # the same tiny trials as the other search tests
    result = CliRunner().invoke(app, args, env={"MOMNAS_STORAGE": "", "WANDB_MODE": "offline", "WANDB_DIR": None,
                                                "MLFLOW_TRACKING_URI": None})
    study = search.open_study(storage=URL, study=name)

    dashboard = search.open_dashboard(out, URL, name, port=0)
    serving = threading.Thread(target=dashboard.serve_forever, daemon=True)
    serving.start()
    try:
        served = b"".join(
            urllib.request.urlopen(f"{dashboard.root[:-len('/dashboard')]}{path}", timeout=30).read()
            for path in ("/api/studies", f"/api/studies/{optuna.storages.RDBStorage(URL).get_study_id_from_name(name)}")
        )
    finally:
        dashboard.close()
    try:
        yield result, study, out, served, began
    finally:
        optuna.delete_study(study_name=name, storage=URL)


@pytest.mark.postgres
@pytest.mark.slow
def test_password_is_not_in_output_attributes_or_dashboard(secret_search):
    result, study, out, served, _ = secret_search
    assert result.exit_code == 0, result.output + result.stderr
    said = (result.output + result.stderr).encode()
    assert not [leak for leak in LEAKS if leak in said]
    assert b"momnas_secret:***@localhost:5432/momnas_secret" in said  # the storage line and the next: hints
    assert b"MOMNAS_STORAGE" in said  # ... which say how to give the real URL
    backend = search.make_storage(URL, create=False)
    system_attrs = backend.get_study_system_attrs(backend.get_study_id_from_name(study.study_name))
    attrs = json.dumps([study.user_attrs, system_attrs] + [[t.user_attrs, t.system_attrs] for t in study.trials]).encode()
    assert len(study.trials) == 2 and not [leak for leak in LEAKS if leak in attrs]
    assert search.StudyRecord.of(study).config["storage"] == search.public_url(URL)  # search_config.json
    assert b'"study_name"' in served and not [leak for leak in LEAKS if leak in served]


@pytest.mark.postgres
@pytest.mark.slow
def test_password_is_in_no_file_written(secret_search):
    _, study, out, _, began = secret_search
    trackers = out / study.study_name  # --log-to's files are among those searched
    assert (trackers / "mlflow.db").is_file() and len(list((trackers / "tensorboard").glob("*/events.out.tfevents.*"))) == 2
    assert len(list((trackers / "wandb").glob("offline-run-*/run-*.wandb"))) == 2
    leaking = _files_with_password(out, *_ray_session_dirs(began))
    assert not [p for p in leaking if not p.name.endswith(".pkl")], leaking


@pytest.mark.postgres
@pytest.mark.slow
def test_password_is_in_no_pickle_ray_writes(secret_search):
    """Tune pickles the searcher (tuner.pkl, searcher-state-*.pkl): its storage keeps the masked URL only."""
    _, _, out, _, began = secret_search
    leaking = _files_with_password(out, *_ray_session_dirs(began))
    assert not [p for p in leaking if p.name.endswith(".pkl")], leaking
