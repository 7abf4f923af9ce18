"""Plots and export on the study of one real, tiny `search.run_search` (CPU, local Ray).

The search runs once per session (Ray start-up is slow): digits, hidden 8, 1 epoch, 4 trials.
"""

from __future__ import annotations

import json

import pytest
import torch
from optuna.artifacts import download_artifact
from optuna.trial import TrialState

import cells
import runs
import search
from search import _record
from search import export as ex
from search import plots
from search.plots._grad_profiles import _grad_profile_info
from search.plots._hypervolume import _hypervolume_info
from search.plots._pareto_front import _pareto_info

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    config = search.SearchConfig.from_flat({
        "task": "digits", "n_train": 200, "n_val": 100, "n_test": 100, "space": "momentum", "trials": 4, "epochs": 1,
        "hidden": 8, "seed": 0, "out": str(out), "study": "tiny", "max_concurrent": 2, "warm_start": "none",
    })
    search.run_search(config)
    return out, search.open_study(out, None, "tiny")


def test_plots_of_a_real_search(searched):
    out, study = searched
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete, "the tiny search finished no trial"
    pareto = {t.number for t in study.best_trials}

    info = _pareto_info(study)
    assert len(info.points) == len(study.trials)
    assert {p.number for p in info.points if p.kind == "pareto"} == pareto
    records = _record.trials(study)
    assert all(p.family == r.family for p, r in zip(sorted(info.points), records))
    hover = {p.number: p.hover for p in info.points}
    for t in complete:  # the configuration is in the hover text
        assert f"core={records[t.number].cell['core']}" in hover[t.number]

    curves = _grad_profile_info(study).curves
    assert {c.number for c in curves} == pareto  # the search records a profile for every completed trial
    for c in curves:
        assert len(c.t) == len(c.norms) == len(records[c.number].grad_profile) > 0

    hv = _hypervolume_info(study)
    assert hv.numbers == sorted(t.number for t in complete)
    assert all(a <= b for a, b in zip(hv.hypervolumes, hv.hypervolumes[1:]))

    # The search wrote the figures at its end, each referring to one plotly.js beside them (offline).
    folder = out / "tiny" / "plots"
    written = {p.name for p in folder.glob("*.html")}
    assert written == {"pareto_front.html", "hypervolume.html", "grad_profiles.html", "importances.html", "momentum.html",
                       "learning_curves.html", "fidelity.html", "confirmation.html"}
    assert (folder / "plotly.min.js").stat().st_size > 1_000_000
    paths = plots.write_plots(study, folder)
    assert all('src="plotly.min.js"' in p.read_text() for p in paths)


def test_export_of_a_real_search(searched, tmp_path):
    out, study = searched
    done = ex.export_trial(study, tmp_path / "best.json", pick="knee", fmt="torch-export", storage=search.storage_url(out))
    trial = _record.trials(study)[done.trial]
    assert trial.state == TrialState.COMPLETE and trial.status == "completed"
    assert done.trial in {t.number for t in study.best_trials}
    data = json.loads(done.path.read_text())
    assert data["source"]["study"] == "tiny" and data["metrics"] == trial.metrics and trial.metrics["validation"]

    # The trial's own checkpoint, straight from the artifact store, against the exported cell.
    original = tmp_path / "original.pt"
    download_artifact(artifact_store=search.study_artifact_store(study), file_path=str(original),
                      artifact_id=trial.artifacts["checkpoint.pt"])
    model = runs.load(original).eval()
    cell = cells.load(done.path)
    x = torch.rand(2, 64, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(cell(x)[0], model.cell(x)[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.export.load(done.program).module()(x), model(x), rtol=1e-5, atol=1e-6)
    assert runs.RunConfig.from_file(done.path) == runs.RunConfig.from_dict(trial.run_config)
