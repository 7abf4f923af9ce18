"""open_study and the storages: SQLite in --out, a journal file, clear errors."""

import optuna
import pytest

from search import make_storage, open_study, storage_url
from search.errors import BadInput, MomnasError, StorageError


def _study(url, name):
    return optuna.create_study(storage=make_storage(url), study_name=name, directions=["maximize", "minimize"])


def test_open_the_only_study(tmp_path):
    _study(storage_url(tmp_path), "one")
    assert open_study(out_dir=tmp_path).study_name == "one"
    assert open_study(out_dir=tmp_path, study="one").study_name == "one"


def test_several_studies_need_a_name_and_the_error_lists_them(tmp_path):
    _study(storage_url(tmp_path), "b")
    _study(storage_url(tmp_path), "a")
    with pytest.raises(ValueError, match="holds 2 studies, name one with --study: a, b"):
        open_study(out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"no study 'c' in .* \(studies there: a, b\)"):
        open_study(out_dir=tmp_path, study="c")


def test_missing_storage_and_empty_storage(tmp_path):
    with pytest.raises(BadInput, match="no study storage at"):
        open_study(out_dir=tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()  # reading never creates a storage
    make_storage(storage_url(tmp_path))
    with pytest.raises(ValueError, match="no study in"):
        open_study(out_dir=tmp_path)


def test_journal_storage(tmp_path):
    url = f"journal:{tmp_path / 'journal.log'}"
    _study(url, "j")
    assert open_study(storage=url).study_name == "j"
    assert open_study(storage=str(tmp_path / "journal.log")).study_name == "j"
    with pytest.raises(BadInput, match="no journal storage"):
        open_study(storage=f"journal:{tmp_path / 'other.log'}")


def test_not_a_url():
    with pytest.raises(ValueError, match="is not a URL"):
        make_storage("localhost:5432/db")


@pytest.mark.parametrize("url, message", [
    ("foo://x", r"cannot open storage 'foo://x': unknown database kind 'foo'"),
    ("postgresql+psycopg://u:secret@127.0.0.1:1/db", r"cannot open storage 'postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/db': connection"),
    ("sqlite:///", "names no file"),
    ("sqlite://", "names no file"),
])
def test_unusable_storage_urls_are_one_line_errors(url, message):
    with pytest.raises(MomnasError, match=message) as info:
        make_storage(url)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)


def test_storage_that_is_not_a_database_or_is_a_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StorageError, match="file is not a database"):
        open_study(storage=f"sqlite:///{tmp_path / 'notes.txt'}")
    assert (tmp_path / "notes.txt").read_text() == "hello"
    with pytest.raises(ValueError, match="is a folder; name the database file"):
        make_storage(f"sqlite:///{tmp_path}")
    with pytest.raises(ValueError, match="is a folder; name the journal file"):
        make_storage(f"journal:{tmp_path}")
    with pytest.raises(StorageError, match="cannot create its folder"):
        make_storage(f"sqlite:///{tmp_path / 'notes.txt' / 'optuna.db'}")


def test_a_single_objective_study_is_refused_by_name(tmp_path):
    # Before: `momnas status` / `plot` on such a study ended in an IndexError traceback.
    optuna.create_study(storage=make_storage(storage_url(tmp_path)), study_name="single")
    with pytest.raises(ValueError, match="study 'single' .* has 1 objective\\(s\\), not the two of a momnas search"):
        open_study(out_dir=tmp_path)


def test_reading_an_empty_database_file_writes_nothing_into_it(tmp_path):
    # `momnas status` on an empty optuna.db wrote Optuna's tables into it: a read must not write.
    db = tmp_path / "optuna.db"
    db.touch()
    with pytest.raises(StorageError, match="holds no Optuna study"):
        open_study(out_dir=tmp_path)
    assert db.stat().st_size == 0


def test_the_lease_lets_one_search_of_a_study_run_at_a_time(tmp_path):
    import os

    from search._lease import KEY, Lease, live_lease

    storage = make_storage(storage_url(tmp_path))
    _study(storage_url(tmp_path), "s")
    study_id = storage.get_study_id_from_name("s")
    first = Lease(storage, study_id, "s")
    first.acquire()
    try:
        second = Lease(storage, study_id, "s")
        with pytest.raises(BadInput, match=rf"study 's' is being searched right now by process {os.getpid()}"):
            second.acquire()
    finally:
        first.release()
    assert live_lease(storage, study_id) is None  # released: the next search starts at once
    # A lease left by a process that is gone is stale at once on its own machine.
    storage.set_study_system_attr(study_id, KEY, {"owner": "x", "host": __import__("socket").gethostname(),
                                                  "pid": 2 ** 22 + 7, "renewed": __import__("time").time()})
    assert live_lease(storage, study_id) is None
    # One renewed a minute ago on another machine is stale too; one renewed just now is not.
    now = __import__("time").time()
    storage.set_study_system_attr(study_id, KEY, {"owner": "y", "host": "elsewhere", "pid": 1, "renewed": now - 60})
    assert live_lease(storage, study_id) is None
    storage.set_study_system_attr(study_id, KEY, {"owner": "y", "host": "elsewhere", "pid": 1, "renewed": now})
    assert live_lease(storage, study_id)["owner"] == "y"
