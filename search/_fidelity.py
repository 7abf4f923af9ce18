"""Did the early rungs predict the end? The rank correlation between each rung's ranking and the
ranking at the target, from a study's own learning curves.

Over the trials that reached the target, each trial's validation metric at a rung (its curve's
last point at or before that epoch) is ranked against its metric at the target; Spearman's rho
near 1 says the rung ranked the trials as the target did, so stopping there lost little; near
0 or below, that the rung's ranking said little about the end. This is how multi-fidelity
benchmarks judge a low fidelity (LCBench, YAHPO). With fewer than MIN_TRIALS trials no rho is
given.
"""

from __future__ import annotations

import dataclasses
import math

import optuna

from search import _record
from search._brackets import rung_epochs

MIN_TRIALS = 4


@dataclasses.dataclass(frozen=True)
class RungFidelity:
    epoch: float
    trials: int                 # trials that reached both this rung and the target
    spearman: float | None      # None: fewer than MIN_TRIALS, or a constant ranking
    points: tuple[tuple[float, float, int], ...]  # (metric at the rung, metric at the target, trial number)


def metric_at(curve: list[dict], epoch: float) -> float | None:
    """The curve's validation metric at `epoch`: its last point at or before it (None: none yet)."""
    value = None
    for point in curve:
        if point["epoch"] <= epoch + 1e-9 and point.get("metric") is not None:
            value = point["metric"]
    return value


def rung_fidelity(study: optuna.Study) -> list[RungFidelity]:
    """Per rung of the search (or, where it had none, epochs 1, 3, 9, ... below the target)."""
    from scipy.stats import spearmanr

    info = _record.StudyRecord.of(study)
    target = info.target_epochs
    if not target:
        return []
    reached = [r for r in _record.trials(study) if r.completed and (r.epochs_trained or 0) >= target - 1e-9]
    rungs = info.rungs or rung_epochs(1, 3, target)
    out = []
    for epoch in rungs:
        points = []
        for r in reached:
            early, final = metric_at(r.curve, epoch), metric_at(r.curve, target)
            if early is not None and final is not None and math.isfinite(early) and math.isfinite(final):
                points.append((early, final, r.number))
        rho = None
        if len(points) >= MIN_TRIALS and len({p[0] for p in points}) > 1 and len({p[1] for p in points}) > 1:
            rho = float(spearmanr([p[0] for p in points], [p[1] for p in points]).statistic)
        out.append(RungFidelity(epoch, len(points), rho, tuple(points)))
    return out
