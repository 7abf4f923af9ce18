"""Replay a finished search's trials through `search._order.LongestFirst` on N slots, with their
measured times, for several lookaheads: how much the order alone changes the search's span.

Trial numbers are the sampler's draw order; each trial takes its measured training time
(`metrics.seconds`), plus a fresh worker's start (the median `start_wait_s + startup_s` of the
study's first trials) where its slot has not run a trial yet, and 0.1 s otherwise. A model of
the schedule (slots never slow each other, no driver time), checked against the study's own
span: use it to compare orders, not as a measurement.

    python3 benchmarks/order_replay.py benchmarks/.../optuna.db --slots 16 --lookahead 1 4 8 16 64
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def replay(trials: list[dict], slots: int, lookahead: int, fresh_start_s: float) -> float:
    """The span of `trials` (Tune configs with "number" and "seconds"), drawn in number order and
    handed out by `search._order.LongestFirst` itself, each to the first free slot."""
    from ray.tune.search import Searcher

    from search._order import LongestFirst

    class InDrawOrder(Searcher):  # the sampler, replayed: the study's configs in their draw order
        def __init__(self):
            super().__init__()
            self.configs = iter(sorted(trials, key=lambda t: t["number"]))

        def suggest(self, trial_id: str) -> dict:
            return next(self.configs)

    order = LongestFirst(InDrawOrder(), total=len(trials), lookahead=lookahead)
    free = [(0.0, slot, True) for slot in range(slots)]  # (free at, slot, not used yet)
    heapq.heapify(free)
    span = 0.0
    for i in range(len(trials)):
        trial = order.suggest(f"replay{i}")
        at, slot, fresh = heapq.heappop(free)
        done = at + (fresh_start_s if fresh else 0.1) + trial["seconds"]
        span = max(span, done)
        heapq.heappush(free, (done, slot, False))
    return span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storage", help="an optuna.db file or a storage URL")
    parser.add_argument("--study", default="scale")
    parser.add_argument("--slots", type=int, required=True, help="trials at once (the search's workers)")
    parser.add_argument("--lookahead", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()
    import optuna

    from search._record import RUN_KEY
    from trial_timeline import storage_url  # noqa: E402  (benchmarks/, beside this script)

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = storage_url(args.storage)
    study = optuna.load_study(study_name=args.study, storage=url)
    done = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete and "run_config" in t.user_attrs]
    # a trial is its Tune config (what LongestFirst's cost reads) with its number and training time
    trials = [{RUN_KEY: t.user_attrs["run_config"], "number": t.number,
               "seconds": (t.user_attrs.get("metrics") or {}).get("seconds", 0.0)} for t in done]
    starts = [t.user_attrs["start_wait_s"] + t.user_attrs["startup_s"] for t in done
              if t.user_attrs.get("worker_trial") == 1 and "start_wait_s" in t.user_attrs and "startup_s" in t.user_attrs]
    fresh = statistics.median(starts) if starts else 0.0
    first = min(t.datetime_start for t in done)
    measured = max((t.datetime_complete - first).total_seconds() for t in done)
    print(f"{len(trials)} trials on {args.slots} slots, a fresh worker's start {fresh:.1f} s; measured span {measured:.1f} s")
    for k in args.lookahead:
        print(f"  lookahead {k:3d}: span {replay(trials, args.slots, k, fresh):.1f} s")


if __name__ == "__main__":
    main()
