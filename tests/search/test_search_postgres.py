"""A real search into PostgreSQL (the server `.ci/system-deps` starts as root).

Skipped where no server answers, unless CI is set: there, a missing server is a failure.
"""

import os
import uuid

import optuna
import pytest

import search
from search import _record, open_study, run_search
from tests_search_helpers import postgres_or_skip, tiny

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

URL = os.environ.get("MOMNAS_TEST_POSTGRES_URL", "postgresql+psycopg://momnas:momnas@localhost:5432/momnas_test")


@pytest.fixture(scope="module")
def postgres_url():
    postgres_or_skip(URL)
    return URL


def test_search_into_postgresql(postgres_url, ray_session, tmp_path):  # skip before starting Ray
    name = f"pg-{uuid.uuid4().hex[:8]}"
    run_search(tiny(trials=2, out=str(tmp_path), storage=postgres_url, study=name))
    try:
        study = open_study(storage=postgres_url, study=name)
        assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials)
        assert study.metric_names == ["val_mse", "instability"]
        # The trials' files are read from the artifact folder the search recorded (no --out here).
        assert all(r.run_config and r.status and r.metrics and r.curve for r in _record.trials(study))
        assert not (tmp_path / "optuna.db").exists()  # the storage is the server, not a file
        # A second live search of the study is refused through the server as through a file.
        from search._lease import Lease

        storage = search.make_storage(postgres_url)
        holder = Lease(storage, storage.get_study_id_from_name(name), name)
        holder.acquire()
        try:
            with pytest.raises(search.BadInput, match="is being searched right now"):
                run_search(tiny(trials=3, out=str(tmp_path), storage=postgres_url, study=name, resume=True))
        finally:
            holder.release()
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
