"""StudyWatcher: the live progress of a search joined through Ray Client (ray://).

Tune then runs the search's driver, and the searcher with it, on the head, away from this
terminal; the watcher follows the study in its storage instead, every `every` seconds and
once more at the end, and tells the listener what the searcher would have.
"""

from __future__ import annotations

import threading

import optuna
from optuna.trial import TrialState

from search._record import TrialRecord


class StudyWatcher(threading.Thread):
    def __init__(self, storage: optuna.storages.BaseStorage, study_name: str, listener, every: float = 2.0):
        super().__init__(name="momnas-study-watcher", daemon=True)
        self._study = optuna.load_study(study_name=study_name, storage=storage)
        self._listener, self._every = listener, every
        self._halt = threading.Event()
        self._seen = {t.number for t in self._study.get_trials(deepcopy=False) if t.state.is_finished()}
        self._running: set[int] = set()

    def poll(self) -> None:
        for t in self._study.get_trials(deepcopy=False):
            record = TrialRecord.of(t)
            if t.number in self._seen or not record.drawn:
                continue
            if t.state == TrialState.RUNNING and t.number not in self._running:
                self._running.add(t.number)
                self._listener.trial_drawn(t.number, record.family, record.prior)
                self._listener.trial_started(t.number)
            elif t.state.is_finished():
                self._seen.add(t.number)
                self._running.discard(t.number)
                values = t.values if t.state == TrialState.COMPLETE else None
                self._listener.trial_finished(t.number, record.family, record.status, values, record.seconds, record.error)

    def run(self) -> None:
        while not self._halt.wait(self._every):
            try:
                self.poll()
            except Exception:  # e.g. SQLite busy while the head writes: the next poll catches up
                pass

    def stop(self) -> None:
        self._halt.set()
        self.join()
        try:
            self.poll()
        except Exception:  # the summary that follows reads the storage again
            pass
