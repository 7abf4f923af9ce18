"""Long trials first: a Tune searcher wrapper that starts the most expensive of the next few
suggestions first, so that the long trials of a search do not run alone at its end.

On a GPU a trial's time is set by its family (the unitary and uRNN cells take ten times an
RNN's time per iteration). Started in the sampler's order, a few long trials drawn late keep
one GPU busy alone at the end of a search. `LongestFirst` draws up to `lookahead` suggestions
ahead from the searcher it wraps and hands out the most expensive one first (Tune starts
trials in the order they are suggested); it never draws more than the search's trials. A
search looks one wave ahead: as many draws as trials run at once (at least LOOKAHEAD). A
sampler that learns from results then draws at most a wave before it sees them, as it does
for the first wave anyway. `benchmarks/order_replay.py` replays a finished study through this
rule; the measurements: docs/benchmarks.md, "Long trials first". Any
`ray.tune.search.Searcher` can be wrapped: results go back to it under the id it drew the
suggestion with.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

from ray.tune.search import Searcher

from search._record import PRIOR_KEY, RUN_KEY

# ms per training iteration, B = 128, T = 784, H = 128, on one GPU (eager `auto`; docs/benchmarks.md,
# "Kernels"): by core (the mean of its plain and momentum families), and cell options that
# change it (listed options win over the core).
MS_BY_CORE = {
    "rnn": 2.7, "lstm": 6.3, "gru": 7.1, "orthogonal": 9.8, "unitary": 27.8, "urnn": 27.5,
    "enrnn": 14.3, "cornn": 8.3, "unicornn": 6.8,
}
MS_BY_OPTION = {("nag_form", "paper"): 24.3, ("param", "svd"): 11.1, ("param", "cayley"): 9.0}
LOOKAHEAD = 4


def trial_cost(config: dict[str, Any]) -> float:
    """Expected ms per training iteration of a trial's cell (its Tune config); a core not in
    the table counts as the dearest known, so that it is not left for the end. A prior (a
    published cell, which always trains to the target) comes before every other trial."""
    if config.get(PRIOR_KEY):
        return math.inf
    cell = config[RUN_KEY]["cell"]
    for (key, value), ms in MS_BY_OPTION.items():
        if cell.get(key) == value:
            return ms
    return MS_BY_CORE.get(cell.get("core", ""), max(MS_BY_CORE.values()))


class LongestFirst(Searcher):
    """Wraps `searcher`: each suggestion handed to Tune is the costliest (by `cost`) of the
    next `lookahead` ones it drew, at most `total` drawn in all."""

    def __init__(self, searcher: Searcher, *, total: int, cost: Callable[[dict], float] = trial_cost,
                 lookahead: int = LOOKAHEAD, on_handout: Callable[[str], None] | None = None):
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher, self.cost, self.lookahead, self.total = searcher, cost, lookahead, total
        self.on_handout = on_handout  # told the id a suggestion was drawn with when Tune starts it
        self._ahead: list[tuple[str, dict]] = []  # (id drawn with, config), in order of drawing
        self._drawn = 0
        self._finished = False
        self._drawn_as: dict[str, str] = {}  # Tune's trial id -> the id its suggestion was drawn with

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | str | None:
        while not self._finished and len(self._ahead) < self.lookahead and self._drawn < self.total:
            drawn_as = f"{trial_id}~{self._drawn}"
            config = self.searcher.suggest(drawn_as)
            if config is None:  # not ready now: ask again at Tune's next call
                break
            if config == Searcher.FINISHED:
                self._finished = True
                break
            self._ahead.append((drawn_as, config))
            self._drawn += 1
        if not self._ahead:
            return Searcher.FINISHED if self._finished else None
        pick = max(range(len(self._ahead)), key=lambda i: self.cost(self._ahead[i][1]))  # ties: drawn first
        drawn_as, config = self._ahead.pop(pick)
        self._drawn_as[trial_id] = drawn_as
        if self.on_handout is not None:
            self.on_handout(drawn_as)
        return config

    def unstarted(self) -> list[str]:
        """The ids (as drawn from the wrapped searcher) of the suggestions drawn ahead and never
        handed to Tune: what a search that ended early, at its time budget, leaves drawn."""
        return [drawn_as for drawn_as, _ in self._ahead]

    def drawn_as(self, trial_id: str) -> str:
        """The id the wrapped searcher drew Tune's trial `trial_id` with."""
        return self._drawn_as.get(trial_id, trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.searcher.on_trial_result(self.drawn_as(trial_id), result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        # The id stays known: an errored trial's reason arrives after this (search._ray.TrialErrors).
        self.searcher.on_trial_complete(self.drawn_as(trial_id), result=result, error=error)

    # Tune checkpoints a wrapper's state apart from the searcher it wraps (SearchGenerator.save_to_dir).
    def get_state(self) -> dict:
        state = self.__dict__.copy()
        del state["searcher"], state["on_handout"]
        return copy.deepcopy(state)

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
