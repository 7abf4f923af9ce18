"""The confirmation's judgement on hand-made seed results: the seed-spread rule, the knee of the
confirmed means, and a confirmation cut short (runs missing) is not taken for a finished one."""

import math

from search.confirm import Confirmation, ConfirmedCell, compare

NAMES = ("val_acc", "instability")


def _cell(trial, values, prior=None, statuses=None):
    return ConfirmedCell(trial, "plain-lstm", prior, tuple(range(1, len(values) + 1)), tuple(values),
                         tuple(statuses or ["completed"] * len(values)), None)


def test_better_only_beyond_the_seed_spread_on_one_objective_and_not_worse_on_the_other():
    base = _cell(0, [(0.80, 1.0), (0.82, 1.2), (0.81, 1.1)], prior="LSTM")
    more_accurate = _cell(1, [(0.90, 1.0), (0.91, 1.1), (0.92, 1.2)])
    assert compare(more_accurate, base, NAMES, True).answer == "yes"
    trade_off = _cell(2, [(0.90, 2.0), (0.91, 2.1), (0.92, 2.2)])
    verdict = compare(trade_off, base, NAMES, True)
    assert verdict.answer == "no difference" and "better on val_acc" in verdict.detail and "worse on instability" in verdict.detail
    overlapping = _cell(3, [(0.79, 1.0), (0.83, 1.2), (0.81, 1.1)])
    assert compare(overlapping, base, NAMES, True).answer == "no difference"
    worse = _cell(4, [(0.70, 1.1), (0.71, 1.1), (0.72, 1.1)])
    assert compare(worse, base, NAMES, True).answer == "no"
    one_seed = _cell(5, [(0.99, 0.1)])
    assert compare(one_seed, base, NAMES, True).detail.startswith("fewer than 2 seeds")


def test_the_confirmed_answer_is_the_knee_of_the_means_and_a_stopped_confirmation_is_not_complete():
    prior = _cell(0, [(0.86, 1.5), (0.84, 1.6), (0.85, 1.4)], prior="DTRIV")
    balanced = _cell(1, [(0.84, 0.25), (0.83, 0.30), (0.85, 0.20)], prior="coRNN")
    stable = _cell(2, [(0.78, 0.10), (0.79, 0.12), (0.77, 0.11)])
    done = Confirmation("s", 24, NAMES, True, (balanced, stable, prior), "x", 1.0, prior_trial=0)
    assert done.best() is balanced and done.best_prior is prior and done.complete
    assert done.verdict(balanced).answer == "yes" and done.verdict(prior) is None
    cut = _cell(3, [(0.9, 0.1), (math.nan, math.nan)], statuses=["completed", "missing"])
    assert not Confirmation("s", 24, NAMES, True, (cut, prior), "x", 1.0, prior_trial=0).complete
    again = Confirmation.from_dict(done.to_dict())
    assert again == done
