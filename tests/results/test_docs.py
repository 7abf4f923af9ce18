"""The docstring examples of the search package run, and stay true: against a small study in
./momnas-runs (one really trained trial, one failed), as a user's folder would hold it."""

import doctest
import importlib

import optuna
import pytest

MODULES = ["search._study", "search._brackets", "search.plots._pareto_front", "search.plots._writer",
           "search.plots._learning_curves", "search.export", "search.dashboard", "search.confirm"]
DIGITS = {"name": "digits", "n_train": 128, "n_val": 64, "n_test": 64}
TRAIN = {"steps": 4, "batch_size": 32, "device": "cpu", "seed": 0}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

pytestmark = pytest.mark.slow  # the study's trial is really trained; run_search's example really searches


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory, make_study, trial_spec, add_trained_trial):
    folder = tmp_path_factory.mktemp("user")
    out = folder / "momnas-runs"
    study = make_study(out, [trial_spec("momentum-lstm", state="fail", mu=0.9, s=1.0)], name="my-study",
                       metric="accuracy", task=DIGITS)
    cell = {"core": "lstm", "dynamics": "momentum", "input_size": 1, "hidden_size": 8, "mu": 0.6, "s": 0.6}
    add_trained_trial(study, {"cell": cell, "task": DIGITS, "train": TRAIN}, folder / "trial")
    return folder


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, user_folder, monkeypatch):
    monkeypatch.chdir(user_folder)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["search._prepare", "search._search"])
def test_search_examples(name, tmp_path, monkeypatch):
    """prepare_study's and run_search's examples make a real study and run a real two-trial search
    (local Ray) in the current folder."""
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS)
    assert result.attempted > 0 and result.failed == 0
    assert (tmp_path / "searched" / "optuna.db").is_file()


def test_the_architecture_pages_library_example_runs(tmp_path, monkeypatch):
    """docs/architecture.md shows the search library in one executed block: it really searches,
    confirms and exports (local Ray) in the current folder."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    (block,) = re.findall(r"<!-- executed by tests/results/test_docs.py -->\n```python\n(.*?)```", page, re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/architecture.md", "exec"), {})
    assert (tmp_path / "searched" / "best.json").is_file()
