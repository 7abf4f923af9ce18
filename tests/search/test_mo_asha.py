"""MO-ASHA's rung decisions, its brackets and its within-family rungs, on hand-made objective
pairs (no Ray run: the scheduler's own logic)."""

import math

import pytest
from ray.tune.schedulers import TrialScheduler

from search.mo_asha import MOASHA, Brackets, crowding_distances, goes_on, nondominated_ranks, rung_epochs

GO, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


class _Scheduler(MOASHA):
    """One bracket with rungs at 1 and 3 epochs, every trial of one family (unless told)."""

    def decide(self, trial_id, epoch, values, *, rungs=(1.0, 3.0), family="f"):
        return super().decide(trial_id, epoch, values, rungs=list(rungs), family=family)

    def pool(self, at: float) -> dict:
        return self.pools[((1.0, 3.0), at, None)]


def _scheduler(eta=3, modes=("max", "min"), family_until=0.0):
    return _Scheduler(metrics=["val_acc", "instability"], modes=modes, eta=eta, family_until=family_until)


def test_rungs_lie_at_grace_times_eta_powers_below_the_budget():
    assert rung_epochs(1, 3, 9) == [1, 3]
    assert rung_epochs(1, 3, 10) == [1, 3, 9]
    assert rung_epochs(2, 2, 16) == [2, 4, 8]
    assert rung_epochs(3, 3, 3) == []


def test_a_rung_with_one_trial_lets_it_go_on():
    s = _scheduler()
    assert s.decide("a", 1, [0.1, 9.0]) == GO  # however bad: nobody to compare with
    assert s.stopped_at("a") is None


def test_a_dominated_trial_stops_and_its_rung_is_recorded():
    s = _scheduler()
    assert s.decide("good", 1, [0.9, 0.1]) == GO
    assert s.decide("bad", 1, [0.5, 0.5]) == STOP  # lower accuracy and higher instability
    assert s.stopped_at("bad") == 1 and s.stopped_at("good") is None


def test_a_non_dominated_trial_goes_on_even_if_worse_on_one_objective():
    s = _scheduler()
    s.decide("accurate", 1, [0.9, 0.5])
    s.decide("dominated", 1, [0.6, 0.6])
    # Less accurate than the first, but more stable: on the front with it, at an end of it.
    assert s.decide("stable", 1, [0.7, 0.1]) == GO


def test_directions_follow_the_study():
    # Both minimised (e.g. val_mse): the lower mse now wins where the higher accuracy did.
    s = _scheduler(modes=("min", "min"))
    s.decide("a", 1, [0.9, 0.1])
    assert s.decide("b", 1, [0.5, 0.1]) == GO
    assert s.decide("c", 1, [0.95, 0.2]) == STOP


def test_ties_on_the_front_are_broken_by_crowding_distance():
    # Everyone on one front (minimised): the ends are infinitely far; of the inner points,
    # the one crowded next to another ranks last.
    s = _scheduler(eta=2, modes=("min", "min"))
    for trial, point in {"end1": [0.0, 1.0], "end2": [1.0, 0.0], "mid": [0.5, 0.5]}.items():
        s.decide(trial, 1, point)
    # n=4, the top 2 go on: the two ends rank first, and this point is closer to "mid" than "mid" is to the ends.
    assert s.decide("crowded", 1, [0.45, 0.55]) == STOP

    s = _scheduler(eta=2, modes=("min", "min"))
    for trial, point in {"end1": [0.0, 1.0], "end2": [1.0, 0.0], "mid": [0.5, 0.5], "near": [0.55, 0.45]}.items():
        s.decide(trial, 1, point)
    # n=5, the top 3 go on: the ends, then this point, which lies in the front's widest gap.
    assert s.decide("lonely", 1, [0.25, 0.75]) == GO


def test_exact_ties_give_the_new_trial_the_benefit():
    s = _scheduler(modes=("min", "min"))
    s.decide("a", 1, [0.3, 0.3])
    assert s.decide("b", 1, [0.3, 0.3]) == GO  # equal: neither ranks before the other


def test_missing_or_nan_objectives_rank_worst_on_that_objective():
    s = _scheduler()
    s.decide("a", 1, [0.6, 0.1])
    assert s.decide("b", 1, [0.7, None]) == GO  # more accurate: not dominated for lack of an instability
    assert s.decide("c", 1, [0.5, None]) == STOP
    assert s.decide("d", 1, [math.nan, 0.05]) == GO
    assert s.decide("e", 1, [math.nan, 0.2]) == STOP


def test_each_rung_decides_once_and_later_rungs_compare_only_who_reached_them():
    s = _scheduler()
    assert s.decide("a", 1, [0.5, 0.5]) == GO
    assert s.decide("a", 2, [0.6, 0.5]) == GO  # between rungs: nothing to decide
    assert s.decide("b", 1, [0.9, 0.1]) == GO
    assert s.decide("a", 3, [0.7, 0.5]) == GO  # alone at rung 3
    assert s.decide("b", 3, [0.95, 0.1]) == GO  # dominates a
    assert list(s.pool(3.0)) == ["a", "b"]
    assert s.decide("c", None, [0.1, 0.1]) == GO  # a report without an epoch (the run's final one)


def test_a_report_past_several_rungs_is_ranked_at_each():
    s = _scheduler()
    s.decide("a", 3, [0.9, 0.1])  # e.g. evaluated only every 3 epochs
    assert set(s.pool(1.0)) == set(s.pool(3.0)) == {"a"}
    assert s.decide("b", 3, [0.5, 0.5]) == STOP and s.stopped_at("b") == 1


def test_ranks_and_crowding():
    points = [[0, 1], [1, 0], [0.5, 0.5], [0.6, 0.6], [2, 2]]
    assert nondominated_ranks(points) == [0, 0, 0, 1, 2]
    assert crowding_distances(points[:3]) == [math.inf, math.inf, pytest.approx(2.0)]
    assert crowding_distances(points[:2]) == [math.inf, math.inf]
    assert goes_on([[0.1, 0.1]], 0, eta=3)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="reduction factor > 1"):
        MOASHA(metrics=["a", "b"], modes=["min", "min"], eta=1)


def test_a_trial_of_the_target_bracket_is_never_stopped():
    s = _scheduler()
    s.decide("good", 1, [0.9, 0.1])
    for epoch in (1, 3, 9):
        assert s.decide("prior", epoch, [0.1, 9.0], rungs=()) == GO  # no rung: trains to the target
    assert s.stopped_at("prior") is None


def test_brackets_rank_only_their_own_trials():
    s = _scheduler()
    assert s.decide("a", 1, [0.9, 0.1], rungs=(1.0, 3.0)) == GO
    assert s.decide("b", 1, [0.2, 0.9], rungs=(1.0, 3.0)) == STOP
    # Another bracket's first rung is at 3: trial a's point at rung 3 of its own bracket is not there.
    s.decide("a", 3, [0.95, 0.1], rungs=(1.0, 3.0))
    assert s.decide("c", 3, [0.3, 0.8], rungs=(3.0,)) == GO  # alone in its bracket's rung


def test_before_the_family_fraction_a_trial_is_ranked_among_its_family_only():
    # Rungs below 2 epochs rank within a family; from 2 on, across families.
    s = _scheduler(family_until=2.0)
    s.decide("fast", 1, [0.9, 0.1], family="urnn")
    s.decide("fast2", 1, [0.85, 0.1], family="urnn")
    # A slow starter, far behind the fast family at epoch 1, meets only its own family there.
    assert s.decide("slow", 1, [0.2, 0.9], family="lstm") == GO
    assert s.decide("slower", 1, [0.1, 0.95], family="lstm") == STOP  # beaten by its own family
    # At rung 3 (past the fraction) the families meet: the slow starter, still behind, stops.
    s.decide("fast", 3, [0.95, 0.1], family="urnn")
    s.decide("fast2", 3, [0.93, 0.1], family="urnn")
    assert s.decide("slow", 3, [0.5, 0.5], family="lstm") == STOP and s.stopped_at("slow") == 3


def test_hyperband_brackets_and_their_split():
    plan = Brackets.hyperband(grace=1, eta=3, target=20)
    assert plan.rungs == ([1.0, 3.0, 9.0], [3.0, 9.0], [9.0], [])
    assert plan.weights == (27.0, 12.0, 6.0, 4.0)  # B / (s + 1) * eta^s for B = 4 brackets, s rungs
    assert plan.target == 3 and plan.all_rungs == [1.0, 3.0, 9.0]
    counts = [0, 0, 0, 0]
    for _ in range(49):  # one Hyperband iteration: ceil of each weight
        counts[plan.assign(sum(counts), counts)] += 1
    assert counts == [27, 12, 6, 4]
    # --brackets 2: the most aggressive bracket and the target bracket.
    assert Brackets.hyperband(grace=1, eta=3, target=20, count=2).rungs == ([1.0, 3.0, 9.0], [])
    assert Brackets.hyperband(grace=1, eta=3, target=20, count=1).rungs == ([],)
    assert Brackets.single(grace=1, eta=3, target=6).rungs == ([1.0, 3.0],)


def test_the_split_interleaves_brackets_from_the_first_trials():
    plan = Brackets.hyperband(grace=1, eta=3, target=6)
    assert plan.rungs == ([1.0, 3.0], [3.0], []) and plan.weights == (9.0, 4.5, 3.0)
    counts, order = [0, 0, 0], []
    for _ in range(11):
        bracket = plan.assign(sum(counts), counts)
        counts[bracket] += 1
        order.append(bracket)
    assert counts == [6, 3, 2]  # 9 : 4.5 : 3 of 11 trials
    assert set(order[:4]) == {0, 1, 2}  # every bracket among the first trials, not one after another

