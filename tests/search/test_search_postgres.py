"""A real search into PostgreSQL (the server `.ci/system-deps` starts as root).

Skipped where no server answers, unless CI is set: there, a missing server is a failure.
"""

import io
import os
import uuid

import optuna
import pytest
from rich.console import Console

from search import SearchConfig, open_study, run_search
from tests_search_helpers import TINY, postgres_or_skip

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

URL = os.environ.get("MOMNAS_TEST_POSTGRES_URL", "postgresql+psycopg://momnas:momnas@localhost:5432/momnas_test")


@pytest.fixture(scope="module")
def postgres_url():
    postgres_or_skip(URL)
    return URL


def test_search_into_postgresql(postgres_url, ray_session, tmp_path):  # skip before starting Ray
    name = f"pg-{uuid.uuid4().hex[:8]}"
    cfg = SearchConfig(**TINY, trials=2, out=str(tmp_path), storage=postgres_url, study=name)
    run_search(cfg, console=Console(file=io.StringIO()))
    try:
        study = open_study(storage=postgres_url, study=name)
        assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials)
        assert study.metric_names == ["val_mse", "instability"]
        assert all("run_config" in t.user_attrs and "status" in t.user_attrs for t in study.trials)
        assert not (tmp_path / "optuna.db").exists()  # the storage is the server, not a file
    finally:
        optuna.delete_study(study_name=name, storage=postgres_url)


def test_a_pickled_storage_ref_reopens_the_server_with_the_password_from_the_environment(postgres_url, monkeypatch):
    # What happens on a Ray Client head: the searcher arrives pickled, without the password.
    import pickle

    from search._storage_ref import STORAGE_ENV, StorageRef

    data = pickle.dumps(StorageRef(postgres_url))
    password = postgres_url.split("//", 1)[1].split("@", 1)[0].partition(":")[2]
    assert password and f":{password}@".encode() not in data and b":***@" in data
    monkeypatch.setenv(STORAGE_ENV, postgres_url)
    storage = pickle.loads(data).get()
    assert isinstance(optuna.get_all_study_names(storage=storage), list)
