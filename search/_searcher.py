"""StudySearcher: the Ray Tune searcher of a momnas search, on Optuna's ask-and-tell interface.

It lives in the driver and owns the study's ask/tell: `suggest` asks the study for a trial
and draws its run config through the space (define-by-run), `on_trial_result` keeps each
evaluation's objectives as the trial's learning curve (and, at the first, what the trial's
start cost), and `on_trial_complete` records what the trial left (user attributes,
artifacts: search._record) and tells the study its state.
Everything the study stores is written here, so one process writes the storage (SQLite stays
happy) while any number of Ray workers train.

Tune pickles the searcher (tuner.pkl; through Ray Client, to the head, where it then runs):
the pickle holds the storage as a StorageRef (no password), the live trials by number, and
no progress display.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import optuna
from ray.tune.search import Searcher

from search import _record
from search._storage_ref import StorageRef


class StudySearcher(Searcher):
    """Suggests trials with `study.ask()` through `space` and tells their outcome.

    stopped_at: the early-stopping scheduler's record (trial id -> epoch it stopped the trial
    at, or None): such a trial is told as PRUNED, never COMPLETE with truncated values.
    worker_death: why the worker of the trial that Tune just failed died, if it did
    (search._worker_deaths.WorkerDeaths.take): the error recorded and shown for that trial.
    """

    def __init__(self, *, space: Callable[[optuna.Trial], dict], storage: StorageRef, study_name: str,
                 sampler: optuna.samplers.BaseSampler, task_metric: str, artifact_store, progress=None,
                 stopped_at: Callable[[str], float | None] | None = None,
                 worker_death: Callable[[], str | None] | None = None):
        super().__init__(metric=None, mode=None)
        self._space, self._storage, self._study_name, self._sampler = space, storage, study_name, sampler
        self._task_metric, self._artifact_store, self._progress = task_metric, artifact_store, progress
        self._objectives = _record.objective_names(task_metric)
        self._stopped_at = stopped_at
        self._worker_death = worker_death
        self._study: optuna.Study | None = None
        self._live: dict[str, optuna.Trial | int] = {}  # Tune trial id -> Optuna trial (its number once unpickled)
        self._curves: dict[str, list[dict[str, Any]]] = {}
        self._drawn_at: dict[str, float] = {}  # time.time() of each live trial's suggest

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_progress=None, _study=None, _worker_death=None,
                     _live={k: t if isinstance(t, int) else t.number for k, t in self._live.items()})
        return state

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            self._study = optuna.load_study(study_name=self._study_name, storage=self._storage.get(), sampler=self._sampler)
        return self._study

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the objectives and directions are the study's

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        trial = self.study.ask()
        try:
            config = self._space(trial)
        except Exception as exc:  # the space itself failed: record the trial as FAIL, then let Tune say so
            trial.set_user_attr("status", "failed")
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        self._live[trial_id] = trial
        self._curves[trial_id] = []
        self._drawn_at[trial_id] = time.time()  # wall clock: the trainable's entry is stamped in another process
        if self._progress is not None:
            self._progress.trial_started(trial.number, trial.user_attrs.get("family", "?"))
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id in self._live and self._add_point(trial_id, result):
            # Live, so that the dashboard can draw the curve while the trial trains.
            trial = self._trial(trial_id)
            trial.set_user_attr(_record.CURVE, self._curves[trial_id])
            if len(self._curves[trial_id]) == 1:  # the first report: what the trial's start cost
                for key, value in _record.startup_attrs(result, self._drawn_at.get(trial_id)).items():
                    trial.set_user_attr(key, value)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        # Taken on every error, so that a death is never left over for a later trial.
        death = self._worker_death() if error and self._worker_death is not None else None
        if trial_id not in self._live:
            return
        trial = self._trial(trial_id)
        if result:  # the report the scheduler stopped the trial at reaches only here
            self._add_point(trial_id, result)
        # The scheduler knows the trial by Tune's id, which the result carries; a wrapping
        # searcher (search._order.LongestFirst) may have drawn it under another.
        tune_id = (result or {}).get("trial_id", trial_id)
        stopped_at = self._stopped_at(tune_id) if self._stopped_at is not None and not error else None
        if stopped_at is not None:
            outcome = _record.stopped_early(stopped_at)
        else:
            outcome = _record.outcome(result, metric=self._task_metric)
            if error and outcome.state == optuna.trial.TrialState.COMPLETE:
                outcome.state, outcome.values = optuna.trial.TrialState.FAIL, None
            if death is not None:
                outcome.attrs["error"] = death
        outcome.attrs[_record.CURVE] = self._curves.pop(trial_id, [])
        drawn_at = self._drawn_at.pop(trial_id, None)
        outcome.attrs.update(_record.startup_attrs(result, drawn_at))
        _record.record(trial, outcome, artifact_store=self._artifact_store, storage=self._storage.get())
        self.study.tell(trial, outcome.values, state=outcome.state)
        del self._live[trial_id]
        seconds = None if drawn_at is None else time.time() - drawn_at
        if self._progress is not None:
            family = trial.user_attrs.get("family", "?")
            status = outcome.attrs.get("status", "failed")
            self._progress.trial_finished(trial.number, family, status, outcome.values, seconds, outcome.attrs.get("error"))

    def put_back(self, trial_id: str) -> None:
        """A suggestion drawn but never started (the search ended first, e.g. at its time budget):
        recorded as such, its parameters queued for the study's next search (_record.requeue)."""
        trial = self._trial(trial_id)
        _record.requeue(self.study, self._storage.get(), trial.number, trial.params, status="not started")
        del self._live[trial_id]
        self._curves.pop(trial_id, None)
        self._drawn_at.pop(trial_id, None)

    def _add_point(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Append the result's evaluation to the trial's curve; False if it has none or is known."""
        point = _record.curve_point(result, self._objectives)
        curve = self._curves.setdefault(trial_id, [])
        if point is None or (curve and curve[-1]["epoch"] >= point["epoch"]):
            return False
        curve.append(point)
        return True

    def _trial(self, trial_id: str) -> optuna.Trial:
        trial = self._live[trial_id]
        if isinstance(trial, int):  # unpickled: find the running trial by its number
            storage = self._storage.get()
            number_to_id = storage.get_trial_id_from_study_id_trial_number
            trial = optuna.Trial(self.study, number_to_id(storage.get_study_id_from_name(self._study_name), trial))
            self._live[trial_id] = trial
        return trial
