"""Long trials first: LongestFirst hands Tune the costliest of the next few suggestions of a
real OptunaSearch, never draws more than the search's trials, and returns each result to the
Optuna trial that drew the suggestion."""

import optuna
from ray.tune.search.optuna import OptunaSearch

import spaces

from search._order import LongestFirst, trial_cost
from search._record import RUN_KEY

CORES = ("rnn", "unitary", "lstm", "cornn")


def _space(trial: optuna.Trial) -> dict:
    return {RUN_KEY: {"cell": {"core": trial.suggest_categorical("core", CORES)}}}


def test_the_costliest_of_the_next_suggestions_goes_first_and_results_reach_their_trials():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="minimize", sampler=optuna.samplers.RandomSampler(seed=3))
    searcher = OptunaSearch(space=_space, metric="loss", mode="min", study_name=study.study_name, storage=storage)
    order = LongestFirst(searcher, total=6, lookahead=3)
    handed = [order.suggest(f"t{i}") for i in range(6)]
    assert order.suggest("t6") is None  # the search's 6 trials are drawn: nothing more
    drawn = [t.params["core"] for t in optuna.load_study(study_name=study.study_name, storage=storage).trials]
    assert len(drawn) == 6

    # The same choice by hand: keep the next 3 drawn, hand out the dearest (the first drawn of equals).
    window, expected, queue = [], [], list(drawn)
    while queue or window:
        while queue and len(window) < 3:
            window.append(queue.pop(0))
        dearest = max(window, key=lambda core: trial_cost({RUN_KEY: {"cell": {"core": core}}}))
        expected.append(window.pop(window.index(dearest)))
    assert [c[RUN_KEY]["cell"]["core"] for c in handed] == expected

    for i, config in enumerate(handed):
        order.on_trial_complete(f"t{i}", result={"loss": trial_cost(config)})
    for trial in optuna.load_study(study_name=study.study_name, storage=storage).trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.value == trial_cost({RUN_KEY: {"cell": {"core": trial.params["core"]}}})


def test_paper_form_nag_and_unknown_cores_count_as_dear():
    assert trial_cost({RUN_KEY: {"cell": {"core": "lstm", "nag_form": "paper"}}}) > 3 * trial_cost({RUN_KEY: {"cell": {"core": "lstm"}}})
    known = {spaces.split_family(f)[1] for s in spaces.list_spaces().values() for f in s.families}
    assert trial_cost({RUN_KEY: {"cell": {"core": "someday"}}}) == max(
        trial_cost({RUN_KEY: {"cell": {"core": core}}}) for core in known)


def test_priors_start_before_any_other_trial():
    from search._record import PRIOR_KEY, RUN_KEY
    from search._order import trial_cost

    dear = {RUN_KEY: {"cell": {"core": "urnn", "dynamics": "plain"}}, PRIOR_KEY: None}
    prior = {RUN_KEY: {"cell": {"core": "rnn", "dynamics": "plain"}}, PRIOR_KEY: "LSTM"}
    assert trial_cost(prior) > trial_cost(dear)
