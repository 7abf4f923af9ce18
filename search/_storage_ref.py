"""StorageRef: a study's storage that can be pickled without its password.

Tune pickles the searcher (tuner.pkl; through Ray Client, to the head, where the searcher
runs). An Optuna RDBStorage pickles its URL, password included. A StorageRef pickles only
the URL with the password masked; unpickled, it takes the full URL from the environment
variable MOMNAS_STORAGE where the masked URL needs a password.
"""

from __future__ import annotations

import os
from typing import Any

from optuna.storages import BaseStorage

from search._study import STORAGE_ENV, make_storage, public_url
from search.errors import StorageError


class StorageRef:
    """The storage of `url` (given, or opened on first use), pickled as the masked URL only."""

    def __init__(self, url: str, storage: BaseStorage | None = None):
        self.masked = public_url(url)
        self._url: str | None = url
        self._storage = storage

    def __getstate__(self) -> dict[str, Any]:
        return {"masked": self.masked}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.masked, self._url, self._storage = state["masked"], None, None

    def __repr__(self) -> str:
        return f"StorageRef({self.masked!r})"

    @property
    def url(self) -> str:
        """The full URL: the one given, the masked one where it hides nothing, else MOMNAS_STORAGE's."""
        if self._url is not None:
            return self._url
        if "***" not in self.masked:  # public_url hid nothing: no password to find
            return self.masked
        full = os.environ.get(STORAGE_ENV)
        if full and public_url(full) == self.masked:
            return full
        raise StorageError(
            f"storage {self.masked} needs its password where the search's driver runs (through Ray Client, the head): "
            f"set {STORAGE_ENV} to the full URL there"
        )

    def get(self) -> BaseStorage:
        """The Optuna storage (opened once per process)."""
        if self._storage is None:
            self._storage = make_storage(self.url)
        return self._storage
