"""momnas search: Optuna studies of cells, run by Ray Tune, and the `momnas` command line.

Ray is imported only when a search runs, so reading a study (plots, export, status) stays light.
"""

from search._study import artifact_store, make_storage, open_study, storage_url, study_artifact_store

__all__ = [
    "artifact_store",
    "make_storage",
    "open_study",
    "storage_url",
    "study_artifact_store",
]
