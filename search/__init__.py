"""momnas search: Optuna studies of cells, run by Ray Tune, and the `momnas` command line.

    from search import SearchConfig, run_search, open_study
    study = run_search(SearchConfig(task="adding", T=200, space="momentum", trials=64, epochs=5))
    study = open_study(out_dir="momnas-runs")          # later, the way the search stored it

Ray is imported only when a search runs, so reading a study (plots, export, status) stays light.
"""

from search._config import PRESETS, SearchConfig, preset
from search._record import objective_names
from search._run import SearchInterrupted, finished_trials, recover_interrupted, run_search, show_status
from search._samplers import SAMPLERS, make_sampler
from search._study import artifact_store, make_storage, open_study, public_url, storage_url, study_artifact_dir, study_artifact_store
from search._summary import pareto_rows, status_info

__all__ = [
    "PRESETS",
    "SAMPLERS",
    "SearchConfig",
    "SearchInterrupted",
    "artifact_store",
    "finished_trials",
    "make_sampler",
    "make_storage",
    "objective_names",
    "open_study",
    "pareto_rows",
    "public_url",
    "preset",
    "recover_interrupted",
    "run_search",
    "show_status",
    "status_info",
    "storage_url",
    "study_artifact_dir",
    "study_artifact_store",
]

# Reading a finished study: figures, optuna-dashboard, exporting a cell (search/plots/, dashboard.py, export.py).
from search.dashboard import open_dashboard, serve_dashboard  # noqa: E402
from search.export import export_trial, pick_trial  # noqa: E402
from search.plots import write_plots  # noqa: E402

__all__ += ["export_trial", "open_dashboard", "pick_trial", "serve_dashboard", "write_plots"]
