"""momnas search: Optuna studies of cells, run by Ray Tune; their figures, dashboard, export and confirmation.

    from search import SearchConfig, run_search, open_study, status_info
    config = SearchConfig.from_flat({"task": "adding", "T": 200, "space": "momentum", "trials": 64, "epochs": 20})
    outcome = run_search(config)                 # outcome.study, outcome.plots, outcome.interrupted, ...
    study = open_study(out_dir="momnas-runs")    # later, the way the search stored it
    status_info(study)                           # what `momnas status` shows, as data

The library never prints: a search reports through a Listener (search/_search.py; the command
line's progress is one) and returns what it did. Errors it raises on purpose are
`search.errors.MomnasError`s (one line, for the user); anything else is a bug.

Names are imported on first use: reading a study (status, plots, export) does not import torch
or Ray, and a search imports what it needs when it runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    # configuring and running a search
    "SearchConfig": "search._config", "EarlyStop": "search._config", "Resources": "search._config",
    "Store": "search._config", "PRESETS": "search._config", "preset": "search._config", "FLAT": "search._config",
    "prepare_study": "search._prepare", "PreparedStudy": "search._prepare",
    "run_search": "search._search", "SearchOutcome": "search._search", "Listener": "search._search",
    "SearchInterrupted": "search._search",
    "SAMPLERS": "search._samplers", "make_sampler": "search._samplers",
    # reading what a search stored
    "open_study": "search._study", "make_storage": "search._study", "storage_url": "search._study",
    "public_url": "search._study", "artifact_store": "search._study", "study_artifact_dir": "search._study",
    "study_artifact_store": "search._study",
    "TrialRecord": "search._record", "StudyRecord": "search._record", "finished_trials": "search._record",
    "objective_names": "search._record",
    "status_info": "search._summary", "pareto_rows": "search._summary",
    "rung_fidelity": "search._fidelity",
    "confirm_study": "search.confirm", "Confirmation": "search.confirm",
    "export_trial": "search.export", "pick_trial": "search.export",
    "open_dashboard": "search.dashboard", "serve_dashboard": "search.dashboard",
    "write_plots": "search.plots",
    "MomnasError": "search.errors", "BadInput": "search.errors", "StorageError": "search.errors",
    "ClusterError": "search.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'search' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
