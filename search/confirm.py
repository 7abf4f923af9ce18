"""Confirmation: retrain a search's best cells with fresh seeds at the target budget, and say
whether the best of them beats the best prior beyond the seed spread.

A search ranks cells by one training run each. Before a cell is called better, NAS practice
(Lindauer & Hutter 2020) retrains the final candidates with several seeds and compares them
with the baselines at the same budget. `confirm_study` does that: the K cells of the study's
Pareto set nearest its knee (search._knee: the balance of both objectives that export picks),
and its best prior (the papers' cell with the best validation metric in the search), each
retrained `seeds` times at the study's target epochs with seeds that differ from the search's.
The confirmed answer is the knee of the confirmed cells' means. The runs go through Ray (search._ray), packed like trials, each into its
own folder (OUT/STUDY/confirm/trial-N/seed-S): a run whose metrics.json is there for the same
config is kept, so the same call after an interruption trains only what is missing.

The verdict per cell, against the best prior: an objective is better (or worse) beyond the
seed spread when the intervals mean ± std do not overlap. "yes": better beyond the spread on
one objective and not worse beyond it on the other; "no": worse beyond the spread on one and
better on neither; "no difference" otherwise (overlapping spreads, one seed, or a trade-off).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import optuna

from search import _record
from search._knee import knee_order
from search.errors import BadInput

PRIORS = ("best", "all", "none")


@dataclasses.dataclass(frozen=True)
class ConfirmedCell:
    """One cell retrained with several seeds."""

    trial: int
    family: str
    prior: str | None
    seeds: tuple[int, ...]
    values: tuple[tuple[float, float], ...]   # per seed: (validation metric, instability); NaN where the run failed
    statuses: tuple[str, ...]
    search_values: tuple[float, ...] | None   # what the search's own run of it gave

    @property
    def label(self) -> str:
        return f"trial {self.trial} ({self.prior or self.family})"

    def finite(self, k: int) -> list[float]:
        return [v[k] for v in self.values if math.isfinite(v[k])]

    def mean(self, k: int) -> float:
        values = self.finite(k)
        return statistics.fmean(values) if values else math.nan

    def std(self, k: int) -> float:
        """The sample standard deviation over seeds (0 with one seed)."""
        values = self.finite(k)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "family": self.family, "prior": self.prior, "seeds": list(self.seeds),
                "values": [list(v) for v in self.values], "statuses": list(self.statuses),
                "search_values": list(self.search_values) if self.search_values else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConfirmedCell":
        return cls(trial=data["trial"], family=data["family"], prior=data.get("prior"), seeds=tuple(data["seeds"]),
                   values=tuple(tuple(float(x) if x is not None else math.nan for x in v) for v in data["values"]),
                   statuses=tuple(data["statuses"]),
                   search_values=tuple(data["search_values"]) if data.get("search_values") else None)


@dataclasses.dataclass(frozen=True)
class Verdict:
    answer: str   # "yes", "no", "no difference"
    detail: str


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """A study's confirmed cells and their verdicts against its best prior."""

    study: str
    target_epochs: int
    metric_names: tuple[str, str]
    maximize: bool
    cells: tuple[ConfirmedCell, ...]
    runs_dir: str
    seconds: float
    prior_trial: int | None = None             # the best prior the others are judged against

    @property
    def best_prior(self) -> ConfirmedCell | None:
        return next((c for c in self.cells if c.trial == self.prior_trial and c.finite(0)), None)

    def verdict(self, cell: ConfirmedCell) -> Verdict | None:
        """The cell against the best prior (None for the best prior itself, or without one)."""
        base = self.best_prior
        if base is None or cell is base:
            return None
        return compare(cell, base, self.metric_names, self.maximize)

    @property
    def complete(self) -> bool:
        """Whether every planned run ended (completed, diverged or failed); a stopped confirmation
        leaves runs "missing", and the same call trains them."""
        return all("missing" not in cell.statuses for cell in self.cells)

    def headline(self) -> str:
        """One line: the confirmed answer (`best`), its mean ± std over its seeds."""
        best = self.best()
        if best is None:
            return f"{len(self.cells)} cell(s), none completed"
        return f"trial {best.trial} best: {self.metric_names[0]} {best.mean(0):.4g} ± {best.std(0):.2g} (n = {len(best.finite(0))})"

    def best(self) -> ConfirmedCell | None:
        """The confirmed answer: the knee of the confirmed cells' means (both objectives)."""
        done = [c for c in self.cells if c.finite(0) and c.finite(1)]
        if not done:
            return None
        sign = -1.0 if self.maximize else 1.0
        return done[knee_order([[sign * c.mean(0), c.mean(1)] for c in done])[0]]

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "target_epochs": self.target_epochs, "metric_names": list(self.metric_names),
                "maximize": self.maximize, "cells": [c.to_dict() for c in self.cells], "runs_dir": self.runs_dir,
                "seconds": round(self.seconds, 1), "prior_trial": self.prior_trial}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Confirmation":
        return cls(study=data["study"], target_epochs=data["target_epochs"], metric_names=tuple(data["metric_names"]),
                   maximize=data["maximize"], cells=tuple(ConfirmedCell.from_dict(c) for c in data["cells"]),
                   runs_dir=data["runs_dir"], seconds=data.get("seconds", 0.0), prior_trial=data.get("prior_trial"))


def stored(study: optuna.Study) -> Confirmation | None:
    """The study's last confirmation, or None."""
    data = _record.StudyRecord.of(study).confirmed
    return Confirmation.from_dict(data) if data else None


def compare(cell: ConfirmedCell, base: ConfirmedCell, names: tuple[str, str], maximize: bool) -> Verdict:
    """`cell` against `base`, objective by objective, by their seed spreads (module docstring)."""
    if len(cell.finite(0)) < 2 or len(base.finite(0)) < 2:
        return Verdict("no difference", "fewer than 2 seeds: no spread to compare beyond")
    better, worse, shown = [], [], []
    for k, (name, higher) in enumerate(zip(names, (maximize, False))):
        sign = 1.0 if higher else -1.0
        a_lo, a_hi = sorted((sign * (cell.mean(k) - cell.std(k)), sign * (cell.mean(k) + cell.std(k))))
        b_lo, b_hi = sorted((sign * (base.mean(k) - base.std(k)), sign * (base.mean(k) + base.std(k))))
        shown.append(f"{name} {cell.mean(k):.4g} ± {cell.std(k):.2g} against {base.mean(k):.4g} ± {base.std(k):.2g}")
        if a_lo > b_hi:
            better.append(name)
        elif a_hi < b_lo:
            worse.append(name)
    if better and not worse:
        answer = "yes"
    elif worse and not better:
        answer = "no"
    else:
        answer = "no difference"
    same = [name for name in names if name not in better and name not in worse]
    why = "; ".join(part for part in (f"better on {', '.join(better)}" if better else "",
                                      f"worse on {', '.join(worse)}" if worse else "",
                                      f"within the spread on {', '.join(same)}" if same else "") if part)
    return Verdict(answer, f"{why}: " + "; ".join(shown))


def candidates(study: optuna.Study, top: int, priors: str = "best") -> tuple[list[_record.TrialRecord], int | None]:
    """The `top` cells of the Pareto set nearest its knee (the best prior aside), then the priors
    (`best`: the completed one with the best validation metric, `all`, or `none`); each trial
    once. Returns them and the best prior's trial number (None without one)."""
    if priors not in PRIORS:
        raise BadInput(f"confirm: --priors must be one of {', '.join(PRIORS)}, got {priors!r}")
    info = _record.StudyRecord.of(study)
    sign = -1.0 if info.maximize else 1.0
    done_priors = sorted((r for r in _record.trials(study) if r.prior and r.completed),
                         key=lambda r: (sign * r.values[0], r.number))
    best_prior = done_priors[0].number if done_priors and priors != "none" else None
    front = sorted(_record.best_trials(study), key=lambda r: r.number)
    front = [r for r in front if r.completed and r.number != best_prior]
    chosen = [front[i] for i in knee_order([[sign * r.values[0], r.values[1]] for r in front])[:top]] if front else []
    for r in {"best": done_priors[:1], "all": done_priors, "none": []}[priors]:
        if r.number not in {c.number for c in chosen}:
            chosen.append(r)
    if not chosen:
        raise BadInput(f"study {study.study_name!r} has no completed trial to confirm; let the search finish some trials")
    return chosen, best_prior


def confirm_study(study: optuna.Study, *, top: int = 3, seeds: int = 3, out_dir: str | Path, resources=None,
                  listener=None, task=None, priors: str = "best", log_to: tuple[str, ...] = ()) -> Confirmation:
    """Retrain the study's best cells (`candidates`) with `seeds` fresh seeds each at its target
    epochs, store the result with the study (and its figure for the dashboard), and return it.

    Example:
        >>> from search import open_study
        >>> from search.confirm import confirm_study
        >>> confirmation = confirm_study(open_study("momnas-runs"), top=2, seeds=2, out_dir="momnas-runs")
        >>> [(c.label, c.seeds, len(c.finite(0))) for c in confirmation.cells]
        [('trial 1 (momentum-lstm)', (1, 2), 2)]

    `resources`: a search Resources (where the runs train; default: this machine, packed as trials).
    `task`: the study's task, already loaded (else it is loaded from the study's record).
    `log_to`: experiment trackers that also record the runs' curves, beside the search's (search._trackers).
    """
    import runs

    from search import _ray, _resources
    from search._config import Resources

    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise BadInput(f"confirm: --top must be a number of cells >= 0, got {top!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BadInput(f"confirm: --seeds must be a positive integer, got {seeds!r}")
    info = _record.StudyRecord.of(study)
    chosen, prior_trial = candidates(study, top, priors)
    resources = resources or Resources()
    folder = Path(out_dir).resolve() / study.study_name / "confirm"
    planned: list[tuple[_record.TrialRecord, int, dict[str, Any], Path]] = []
    for record in chosen:
        base_seed = int((record.run_config.get("train") or {}).get("seed", 0))
        for k in range(1, seeds + 1):
            run_config = json.loads(json.dumps(record.run_config))
            run_config["train"]["seed"] = base_seed + k  # fresh: never the search's own seed
            if info.target_epochs:
                run_config["train"]["epochs"] = info.target_epochs
            planned.append((record, base_seed + k, run_config, folder / f"trial-{record.number:05d}" / f"seed-{base_seed + k}"))
    pending = [p for p in planned if not _ray.ran_as_planned(p[3], runs.RunConfig.from_dict(p[2]).to_dict())]
    if listener is not None:
        listener.note(f"confirm: {len(chosen)} cell(s) x {seeds} seed(s) at the target of {info.target_epochs} epochs "
                      f"({len(planned) - len(pending)} run(s) already done) into {folder}")
    started = time.monotonic()
    if pending and listener is not None:
        listener.search_started(total=len(planned), done=len(planned) - len(pending), metric=info.metric or "metric",
                                direction=info.directions[0] if info.directions else "maximize")
    if pending:
        if task is None:
            task = runs.load_task(runs.TaskConfig.from_dict(info.task))
        from search import _trackers

        trackers = _trackers.callbacks(log_to, folder.parent, study.study_name)
        warm = _ray.warm_pool(resources.gpus_per_trial, resources.cpus_per_trial, len(pending), resources.max_concurrent)
        with _ray.session(resources.address, **warm):
            gpus = _resources.ray_gpus()
            trial_resources = _resources.trial_resources(resources.gpus_per_trial, resources.cpus_per_trial, gpus)
            configs = tuple({_record.RUN_KEY: _with_threads(run_config, trial_resources.threads),
                             _record.TRIAL_DIR_KEY: str(path), _record.OBJECTIVES_KEY: info.metric_names}
                            for _, _, run_config, path in pending)
            labels = {str(path): (f"{r.number}/s{seed}", r.prior or r.family) for r, seed, _, path in pending}
            _ray.run_job(_ray.TuneJob(
                name=f"{study.study_name}-confirm", run_dir=Path(out_dir) / "ray", resources=trial_resources.as_tune(),
                num_samples=len(configs), configs=configs, task=task,
                max_concurrent=_ray.most_at_once(trial_resources, resources.max_concurrent),
                callbacks=((_ray.RunEvents(labels, listener, info.metric or "metric"),) if listener is not None else ())
                + trackers, note=listener.note if listener is not None else None))
    cells = []
    for record in chosen:
        rows = [(seed, path) for r, seed, _, path in planned if r.number == record.number]
        values, statuses = [], []
        for seed, path in rows:
            metrics = _read_metrics(path)
            statuses.append((metrics or {}).get("status", "missing"))
            ok = metrics is not None and metrics.get("status") == "completed"
            values.append(tuple(_record.objective_values(metrics, info.metric or "metric")) if ok else (math.nan, math.nan))
        cells.append(ConfirmedCell(trial=record.number, family=record.family, prior=record.prior,
                                   seeds=tuple(s for s, _ in rows), values=tuple(values), statuses=tuple(statuses),
                                   search_values=tuple(record.values) if record.values else None))
    confirmation = Confirmation(study=study.study_name, target_epochs=info.target_epochs or 0,
                                metric_names=tuple(info.metric_names), maximize=info.maximize, cells=tuple(cells),
                                runs_dir=str(folder), seconds=time.monotonic() - started, prior_trial=prior_trial)
    from search._study import study_artifact_store

    _record.write_confirmed(study, confirmation.to_dict(), headline=confirmation.headline(),
                            store=study_artifact_store(study, out_dir))
    return confirmation


def _with_threads(run_config: dict[str, Any], threads: int) -> dict[str, Any]:
    """The run config with the torch threads of the CPUs each run is given."""
    return {**run_config, "train": {**run_config["train"], "threads": threads}}


def _read_metrics(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
