"""StudySearcher: the Ray Tune searcher of a momnas search, on Optuna's ask-and-tell interface.

It lives in the driver and owns the study's ask/tell: `suggest` asks the study for a trial,
draws its run config through the space (define-by-run, `TrialSpace`) and gives it a bracket;
`on_trial_result` keeps each evaluation's objectives as the trial's learning curve (and, at
the first, what the trial's start cost); `on_trial_complete` records what the trial left
(search._record) and tells the study its state. Everything the study stores is written here,
so one process writes the storage (SQLite stays happy) while any number of Ray workers train.

Tune pickles the searcher (tuner.pkl; through Ray Client, to the head, where it then runs):
the pickle holds the storage as a StorageRef (no password), the live trials by number, and
no listener.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.artifacts import FileSystemArtifactStore
from ray.tune.search import Searcher

import spaces
from search import _record
from search._storage_ref import StorageRef
from search._brackets import Brackets

PARKED_S = 10.0  # an errored trial waits this long for its reason (search._ray.TrialErrors) before it is told


@dataclasses.dataclass(frozen=True)
class TrialSpace:
    """The define-by-run draw of one trial: the space's suggestion laid over the search's
    defaults, as the trial's full run config. Suggests and returns; trains nothing."""

    space: spaces.Space
    input_size: int
    hidden: int
    task: dict[str, Any]               # the runs TaskConfig dict
    train: dict[str, Any]              # the runs TrainConfig dict every trial starts from
    trials_dir: str
    objectives: list[str]

    def draw(self, trial: optuna.Trial) -> tuple[dict[str, Any], str]:
        """(the trial's run config, its family)."""
        drawn = self.space(trial)
        run_config = {
            "cell": {"input_size": self.input_size, "hidden_size": self.hidden, **drawn["cell"]},
            "task": self.task,
            "train": {**self.train, **drawn["train"]},
        }
        return run_config, spaces.family_name(drawn["cell"]["dynamics"], drawn["cell"]["core"])

    def tune_config(self, number: int, run_config: dict[str, Any], family: str, rungs: list[float],
                    prior: str | None = None) -> dict[str, Any]:
        """What Tune hands the trainable (search._ray.trainable) and the scheduler (search.mo_asha)."""
        return {
            _record.RUN_KEY: run_config,
            _record.TRIAL_DIR_KEY: str(Path(self.trials_dir) / f"{number:05d}"),
            _record.OBJECTIVES_KEY: self.objectives,
            _record.FAMILY_KEY: family,
            _record.RUNGS_KEY: rungs,
            _record.PRIOR_KEY: prior,
        }


class StudySearcher(Searcher):
    """Suggests trials with `study.ask()` through `space` and tells their outcome.

    brackets: which rungs each trial may be stopped at (priors: none). stopped_at: the
    early-stopping scheduler's record (Tune trial id -> the epoch it stopped the trial at, or
    None): such a trial is told as PRUNED, never COMPLETE with truncated values. listener:
    hears of each trial drawn, started and finished (search._search.Listener); never pickled.
    """

    def __init__(self, *, space: TrialSpace, storage: StorageRef, study_name: str,
                 sampler: optuna.samplers.BaseSampler, task_metric: str, artifact_dir: str, brackets: Brackets | None = None,
                 listener=None, stopped_at: Callable[[str], float | None] | None = None, total: int | None = None):
        super().__init__(metric=None, mode=None)
        self._space, self._storage, self._study_name, self._sampler = space, storage, study_name, sampler
        self._task_metric, self._artifact_dir, self._listener = task_metric, artifact_dir, listener
        self._objectives = _record.objective_names(task_metric)
        self._brackets, self._stopped_at, self._total = brackets, stopped_at, total
        self._study: optuna.Study | None = None
        self._live: dict[str, optuna.Trial | int] = {}  # id drawn with -> Optuna trial (its number once unpickled)
        self._curves: dict[str, list[dict[str, Any]]] = {}
        self._drawn_at: dict[str, float] = {}  # time.time() of each live trial's suggest
        self._families: dict[str, str] = {}
        self._parked: dict[str, float] = {}    # errored trials waiting for their reason -> since when
        self._counts: list[int] | None = None  # trials per bracket so far

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_listener=None, _study=None,
                     _live={k: t if isinstance(t, int) else t.number for k, t in self._live.items()})
        return state

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            self._study = optuna.load_study(study_name=self._study_name, storage=self._storage.get(), sampler=self._sampler)
        return self._study

    @property
    def _store(self) -> FileSystemArtifactStore:
        """The study's artifact store, made where the searcher runs (through Ray Client: on the head)."""
        Path(self._artifact_dir).mkdir(parents=True, exist_ok=True)
        return FileSystemArtifactStore(self._artifact_dir)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the objectives and directions are the study's

    # ------------------------------------------------------------------ Tune's calls

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        self._tell_parked(older_than=PARKED_S)
        if self._total is not None and len(self._live) + len(_record.finished_trials(self.study)) >= self._total:
            return Searcher.FINISHED  # the study has its trials (another search's count in too)
        trial = self.study.ask()
        try:
            run_config, family = self._space.draw(trial)
        except Exception as exc:  # the space itself failed: record the trial as FAIL, then let Tune say so
            _record.write_failed_draw(trial, f"{type(exc).__name__}: {exc}")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        rungs = self._rungs_for(trial)
        _record.write_draw(trial, run_config=run_config, family=family, rungs=rungs, store=self._store)
        self._live[trial_id] = trial
        self._curves[trial_id] = []
        self._drawn_at[trial_id] = time.time()  # wall clock: the trainable's entry is stamped in another process
        self._families[trial_id] = family
        if self._listener is not None:
            self._listener.trial_drawn(trial.number, family, _record.prior_of(trial))
        return self._space.tune_config(trial.number, run_config, family, rungs, _record.prior_of(trial))

    def handed_out(self, trial_id: str) -> None:
        """Tune starts this suggestion now (search._order.LongestFirst hands it out)."""
        if self._listener is not None and trial_id in self._live:
            trial = self._trial(trial_id)
            self._listener.trial_started(trial.number)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id in self._live and self._add_point(trial_id, result):
            # Live, so that a study read mid-search (status, plots, the dashboard) shows it.
            trial = self._trial(trial_id)
            _record.write_curve(trial, self._curves[trial_id], store=self._store)
            if len(self._curves[trial_id]) == 1:  # the first report: what the trial's start cost
                _record.write_startup(trial, _record.startup_attrs(result, self._drawn_at.get(trial_id)))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self._live:
            return
        if error:  # its reason comes next, from search._ray.TrialErrors (or it is told without one)
            self._parked[trial_id] = time.time()
            return
        if result:  # the report the scheduler stopped the trial at reaches only here
            self._add_point(trial_id, result)
        # The scheduler knows the trial by Tune's id, which the result carries; a wrapping
        # searcher (search._order.LongestFirst) may have drawn it under another.
        tune_id = (result or {}).get("trial_id", trial_id)
        stopped_at = self._stopped_at(tune_id) if self._stopped_at is not None else None
        outcome = _record.stopped_early(stopped_at) if stopped_at is not None else _record.outcome(result, metric=self._task_metric)
        self._finish(trial_id, outcome, result)

    def trial_error(self, trial_id: str, reason: str) -> None:
        """The reason a parked (errored) trial ended: tell it now, FAIL with that error."""
        if trial_id in self._parked:
            del self._parked[trial_id]
            outcome = _record.outcome(None, metric=self._task_metric)
            outcome.fail(reason)
            self._finish(trial_id, outcome, None)

    def put_back(self, trial_id: str) -> None:
        """A suggestion drawn but never started (the search ended first, e.g. at its time budget):
        recorded as such, its parameters queued for the study's next search (_record.requeue)."""
        trial = self._trial(trial_id)
        _record.requeue(self.study, self._storage.get(), trial.number, trial.params, status="not started")
        self._forget(trial_id)

    def close(self) -> None:
        """At the end of the job: errored trials whose reason never came are told without it."""
        self._tell_parked(older_than=0.0)

    # ------------------------------------------------------------------ inside

    def _rungs_for(self, trial: optuna.Trial) -> list[float]:
        """The rungs of the trial's bracket: none for a prior (it always trains to the target)."""
        if self._brackets is None:
            return []
        if _record.prior_of(trial):
            return []
        if self._counts is None:  # a resumed search goes on with the study's split
            self._counts = [0] * len(self._brackets.rungs)
            for r in _record.trials(self.study):
                if r.rungs is not None and not r.prior and list(r.rungs) in self._brackets.rungs:
                    self._counts[self._brackets.rungs.index(list(r.rungs))] += 1
        bracket = self._brackets.assign(sum(self._counts), self._counts)
        self._counts[bracket] += 1
        return list(self._brackets.rungs[bracket])

    def _finish(self, trial_id: str, outcome: _record.Outcome, result: dict | None) -> None:
        trial = self._trial(trial_id)
        drawn_at, family = self._drawn_at.get(trial_id), self._families.get(trial_id, "?")
        outcome.with_curve(self._curves.get(trial_id, []), _record.startup_attrs(result, drawn_at))
        _record.record(trial, outcome, artifact_store=self._store, storage=self._storage.get())
        self.study.tell(trial, outcome.values, state=outcome.state)
        self._forget(trial_id)
        if self._listener is not None:
            seconds = None if drawn_at is None else time.time() - drawn_at
            self._listener.trial_finished(trial.number, family, outcome.status, outcome.values, seconds, outcome.error)

    def _forget(self, trial_id: str) -> None:
        for table in (self._live, self._curves, self._drawn_at, self._parked, self._families):
            table.pop(trial_id, None)

    def _tell_parked(self, older_than: float) -> None:
        now = time.time()
        for trial_id, since in list(self._parked.items()):
            if now - since >= older_than:
                self.trial_error(trial_id, "its worker died or Tune ended it (Ray recorded no reason)")

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
