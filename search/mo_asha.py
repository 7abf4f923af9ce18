"""Early stopping that serves a target budget: Hyperband brackets of MO-ASHA, as a Ray Tune scheduler.

MO-ASHA (Schmucker et al. 2021, "Multi-objective asynchronous successive halving"): when a
trial reaches a rung it is ranked among every trial that has reached that rung so far, by
non-dominated front first, then by crowding distance within its front (a front's ends count
as infinitely far). It goes on if fewer than ceil(n / eta) of the n trials there rank
strictly before it (so a rung with one trial lets it go on); otherwise it stops there, and
the scheduler records the epoch, which the searcher reads to tell Optuna the trial was PRUNED.
Decisions are made as trials arrive: no worker waits for a rung to fill.

One grace period decides how early a slow starter can be cut, and the papers' best cells in
this space are slow starters. So, as Hyperband (Li et al. 2018) hedges over that choice:

- **Brackets.** Bracket k's rungs start at grace * eta^k epochs (then * eta, ... below the
  target); the last bracket has no rung, so its trials always train to the target. Each
  bracket ranks only its own trials. A search spreads its trials over the brackets the way
  Hyperband splits its budget (bracket with s rungs: weight B / (s + 1) * eta^s among B
  brackets), in a fixed interleaved order (`Brackets.assign`). Priors (the papers' cells) go
  to the target bracket.
- **No family wiped out early.** At a rung below `within_family` of the target, a trial is
  ranked only among trials of its own family at that rung: a fast-starting family cannot end
  every trial of a slow-starting family at epoch 1, and the sampler keeps evidence of each.

Why these rules, and the default numbers, measured: docs/benchmarks.md, "Early stopping".
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from search._brackets import Brackets, rung_epochs  # noqa: F401  (the rungs a scheduler ranks at)

EPOCH = "epoch"  # the key of runs.train's reports that counts the budget used so far


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
    """Stops trials whose two objectives rank below the top 1/eta at one of their rungs.

    Each trial's Tune config names its rungs (`rungs_key`: its bracket's) and its family
    (`family_key`). metrics / modes: the result keys of the objectives and "max" or "min" for
    each (the study's directions); a missing or NaN value counts as the worst.
    `family_until`: rungs below this many epochs rank a trial among its own family only.
    """

    _supports_buffered_results = False  # a decision per report, as it arrives

    def __init__(self, *, metrics: Sequence[str], modes: Sequence[str], eta: float, family_until: float = 0.0,
                 rungs_key: str = "rungs", family_key: str = "family"):
        super().__init__()
        if eta <= 1:
            raise ValueError(f"MO-ASHA needs a reduction factor > 1, got {eta}")
        self.metrics, self.signs = list(metrics), [-1.0 if m == "max" else 1.0 for m in modes]
        self.eta, self.family_until = eta, family_until
        self.rungs_key, self.family_key = rungs_key, family_key
        # (the bracket's rungs, the rung, the family or None) -> trial id -> its point there
        self.pools: dict[tuple, dict[str, list[float]]] = {}
        self.stopped: dict[str, float] = {}  # trial id -> the rung (epochs) it was stopped at

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the objectives come from the study, not from TuneConfig's one metric

    def on_trial_result(self, tune_controller, trial, result: dict[str, Any]) -> str:
        config = trial.config
        return self.decide(trial.trial_id, result.get(EPOCH), [result.get(m) for m in self.metrics],
                           rungs=config.get(self.rungs_key) or [], family=config.get(self.family_key, ""))

    def decide(self, trial_id: str, epoch: float | None, values: Sequence[float | None], *,
               rungs: Sequence[float], family: str = "") -> str:
        """CONTINUE or STOP for a trial of `family` whose bracket has `rungs`, reporting
        `values` (the objectives) after `epoch` epochs."""
        if epoch is None:
            return TrialScheduler.CONTINUE
        point = [s * v if isinstance(v, (int, float)) and not math.isnan(v) else math.inf for s, v in zip(self.signs, values)]
        for at in rungs:
            pool = self.pools.setdefault((tuple(rungs), at, family if at < self.family_until else None), {})
            if epoch < at or trial_id in pool:
                continue
            pool[trial_id] = point
            ids = list(pool)
            if not goes_on([pool[i] for i in ids], ids.index(trial_id), self.eta):
                self.stopped[trial_id] = at
                return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def stopped_at(self, trial_id: str) -> float | None:
        """The rung (epochs) at which this scheduler stopped the trial, or None."""
        return self.stopped.get(trial_id)

    def debug_string(self) -> str:
        rungs = ", ".join(f"{key[1]:g}{'/' + key[2] if key[2] else ''}: {len(pool)}" for key, pool in self.pools.items())
        return f"MO-ASHA (eta {self.eta:g}): trials per rung {{{rungs}}}, {len(self.stopped)} stopped"
