"""open_study and the storages: SQLite in --out, a journal file, clear errors."""

import optuna
import pytest

from search import make_storage, open_study, storage_url


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
    with pytest.raises(FileNotFoundError, match="no study storage at"):
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
    with pytest.raises(FileNotFoundError):
        open_study(storage=f"journal:{tmp_path / 'other.log'}")


def test_not_a_url():
    with pytest.raises(ValueError, match="is not a URL"):
        make_storage("localhost:5432/db")
