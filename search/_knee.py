"""The knee of a Pareto set: the point nearest the ideal point, each objective scaled to [0, 1]
over the set. momnas's answer to "which one cell?" among cells that trade one objective for the
other: export picks it, confirmation retrains the cells nearest it and names the confirmed one."""

from __future__ import annotations

import math
from collections.abc import Sequence


def knee_distances(losses: Sequence[Sequence[float]]) -> list[float]:
    """Each point's distance to the ideal point (every objective minimised), scaled per objective
    to [0, 1] over the points; rounded so that equal distances tie exactly."""
    lows = [min(col) for col in zip(*losses)]
    highs = [max(col) for col in zip(*losses)]
    return [round(math.hypot(*((v - lo) / (hi - lo) if hi > lo else 0.0 for v, lo, hi in zip(loss, lows, highs))), 9)
            for loss in losses]


def knee_order(losses: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points, nearest the ideal point first. Equal distances go to the better
    primary objective, then the earlier point: with two points both lie at distance 1, and the
    knee is then the better on the primary objective, never a much worse one for a small gain
    on the other."""
    distances = knee_distances(losses)
    return sorted(range(len(losses)), key=lambda i: (distances[i], losses[i][0], i))
