"""MO-ASHA: asynchronous successive halving on two objectives, as a Ray Tune scheduler.

Schmucker et al. 2021, "Multi-objective asynchronous successive halving". Rungs lie at
`grace * eta**k` epochs below the trials' full budget. When a trial reaches a rung, it is
ranked among every trial that has reached that rung so far: by non-dominated front first,
then by crowding distance within its front (points at a front's ends count as infinitely
far). It goes on if fewer than ceil(n / eta) of the n trials there rank strictly before it,
so a rung with one trial lets it go on, and a trial tied with others is given the benefit.
Otherwise the scheduler stops it, and records the epoch, which the searcher reads to tell
Optuna the trial was PRUNED.

Decisions are made as trials arrive (asynchronously): a trial is never stopped later for
what later trials did, so no worker waits for a rung to fill.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

EPOCH = "epoch"  # the key of runs.train's reports that counts the budget used so far


def rung_epochs(grace: float, eta: float, max_epochs: float) -> list[float]:
    """The rungs below `max_epochs`: grace, grace*eta, grace*eta^2, ... (the end is no rung)."""
    rungs, at = [], float(grace)
    while at < max_epochs:
        rungs.append(at)
        at *= eta
    return rungs


def nondominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Each point's front (0: not dominated by any), all objectives minimised."""
    def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    ranks, left, front = [0] * len(points), set(range(len(points))), 0
    while left:
        current = {i for i in left if not any(dominates(points[j], points[i]) for j in left if j != i)}
        for i in current:
            ranks[i] = front
        left -= current
        front += 1
    return ranks


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point within its set (the ends: infinity)."""
    n = len(points)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for k in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][k])
        low, high = points[order[0]][k], points[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        span = high - low
        if not math.isfinite(span) or span == 0:
            continue
        for before, i, after in zip(order, order[1:], order[2:]):
            distance[i] += (points[after][k] - points[before][k]) / span
    return distance


def goes_on(points: Sequence[Sequence[float]], index: int, eta: float) -> bool:
    """Whether points[index] ranks in the top 1/eta of `points` (front, then crowding)."""
    ranks = nondominated_ranks(points)
    crowding = [0.0] * len(points)
    for front in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == front]
        for i, d in zip(members, crowding_distances([points[i] for i in members])):
            crowding[i] = d
    key = [(ranks[i], -crowding[i]) for i in range(len(points))]
    before = sum(1 for i in range(len(points)) if key[i] < key[index])
    return before < math.ceil(len(points) / eta)


class MOASHA(FIFOScheduler):
    """Stops trials whose two objectives rank below the top 1/eta at a rung (module docstring).

    metrics / modes: the result keys of the objectives and "max" or "min" for each (the
    study's directions). A missing or NaN value counts as the worst.
    """

    _supports_buffered_results = False  # a decision per report, as it arrives

    def __init__(self, *, metrics: Sequence[str], modes: Sequence[str], max_epochs: float, grace: float = 1,
                 eta: float = 3):
        super().__init__()
        if grace <= 0 or eta <= 1:
            raise ValueError(f"MO-ASHA needs grace > 0 and a reduction factor > 1, got {grace} and {eta}")
        self.metrics, self.signs = list(metrics), [-1.0 if m == "max" else 1.0 for m in modes]
        self.eta = eta
        self.rungs: dict[float, dict[str, list[float]]] = {at: {} for at in rung_epochs(grace, eta, max_epochs)}
        self.stopped: dict[str, float] = {}  # trial id -> the rung (epochs) it was stopped at

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the objectives come from the study, not from TuneConfig's one metric

    def on_trial_result(self, tune_controller, trial, result: dict[str, Any]) -> str:
        return self.decide(trial.trial_id, result.get(EPOCH), [result.get(m) for m in self.metrics])

    def decide(self, trial_id: str, epoch: float | None, values: Sequence[float | None]) -> str:
        """CONTINUE or STOP for a trial that reports `values` (the objectives) after `epoch` epochs."""
        if epoch is None:
            return TrialScheduler.CONTINUE
        point = [s * v if isinstance(v, (int, float)) and not math.isnan(v) else math.inf for s, v in zip(self.signs, values)]
        for at, reached in self.rungs.items():
            if epoch < at or trial_id in reached:
                continue
            reached[trial_id] = point
            ids = list(reached)
            if not goes_on([reached[i] for i in ids], ids.index(trial_id), self.eta):
                self.stopped[trial_id] = at
                return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def stopped_at(self, trial_id: str) -> float | None:
        """The rung (epochs) at which this scheduler stopped the trial, or None."""
        return self.stopped.get(trial_id)

    def debug_string(self) -> str:
        rungs = ", ".join(f"{at:g}: {len(reached)}" for at, reached in self.rungs.items())
        return f"MO-ASHA (eta {self.eta:g}): trials per rung {{{rungs}}}, {len(self.stopped)} stopped"
