"""Where a search's trials may be stopped early: the rungs of Hyperband's brackets (no Ray here).

Bracket k's rungs start at grace * eta^k epochs, then lie eta times apart below the target;
the last bracket has no rung, so its trials always train to the target. A search spreads its
trials over the brackets the way Hyperband (Li et al. 2018) splits its budget: the bracket
with s rungs gets the weight B / (s + 1) * eta^s among B brackets, handed out in a fixed,
interleaved order. search.mo_asha ranks trials at these rungs.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence


def rung_epochs(grace: float, eta: float, target: float) -> list[float]:
    """The rungs below `target`: grace, grace*eta, grace*eta^2, ... (the target is no rung)."""
    rungs, at = [], float(grace)
    while at < target:
        rungs.append(at)
        at *= eta
    return rungs


@dataclasses.dataclass(frozen=True)
class Brackets:
    """The brackets of a search: each one's rungs (the last: none), and each one's share of trials.

    Example:
        >>> plan = Brackets.hyperband(grace=1, eta=3, target=20)
        >>> plan.rungs
        ([1.0, 3.0, 9.0], [3.0, 9.0], [9.0], [])
        >>> plan.weights
        (27.0, 12.0, 6.0, 4.0)
    """

    rungs: tuple[list[float], ...]
    weights: tuple[float, ...]

    @classmethod
    def hyperband(cls, *, grace: float, eta: float, target: float, count: int | None = None) -> "Brackets":
        """Brackets whose first rungs are grace * eta^k below the target, plus the target bracket;
        `count` keeps the first count - 1 of them and the target bracket (None: all)."""
        firsts = rung_epochs(grace, eta, target)
        early = [rung_epochs(first, eta, target) for first in firsts]
        if count is not None:
            early = early[: max(0, count - 1)]
        rungs = (*early, [])
        n = len(rungs)
        weights = tuple(n / (len(r) + 1) * eta ** len(r) for r in rungs)
        return cls(rungs, weights)

    @classmethod
    def single(cls, *, grace: float, eta: float, target: float) -> "Brackets":
        """One MO-ASHA bracket (no target bracket): every trial can be stopped from `grace` on."""
        return cls((rung_epochs(grace, eta, target),), (1.0,))

    @property
    def all_rungs(self) -> list[float]:
        return sorted({r for rungs in self.rungs for r in rungs})

    @property
    def target(self) -> int:
        """The index of the bracket that trains to the target (no rung); -1 if there is none."""
        return next((i for i, r in enumerate(self.rungs) if not r), -1)

    def assign(self, index: int, counts: Sequence[int]) -> int:
        """The bracket of the next trial, given how many trials each bracket has so far: the one
        furthest below its share (smooth weighted round robin; ties to the earlier bracket)."""
        total = sum(self.weights)
        want = [(sum(counts) + 1) * w / total - c for w, c in zip(self.weights, counts)]
        return max(range(len(want)), key=lambda i: (want[i], -i))

    def describe(self) -> str:
        shares = [w / sum(self.weights) for w in self.weights]
        parts = [(f"rungs {', '.join(f'{r:g}' for r in rungs)}" if rungs else "to the target") + f" ({share:.0%})"
                 for rungs, share in zip(self.rungs, shares)]
        return "; ".join(parts)
