"""The named spaces: every sampled trial is a valid run config, and no parameter name ever
carries two distributions (Optuna raises if it does), across hundreds of trials."""

import warnings

import optuna
import pytest

import cells
import runs
import spaces
from spaces import FAMILY_PARAM

optuna.logging.set_verbosity(optuna.logging.WARNING)
NAMED = list(spaces.list_spaces())


def _valid(run: dict) -> None:
    cell = {"input_size": 2, "hidden_size": 16, **run["cell"]}
    cfg = cells.CellConfig.from_dict(cell)
    assert cfg.family == f"{run['cell']['dynamics']}-{run['cell']['core']}"
    runs.TrainConfig.from_dict(run["train"])


def _sample(space, sampler, n):
    seen = []

    def objective(trial):
        run = space(trial)
        _valid(run)
        seen.append(run)
        # A value that depends on the draw, so TPE has something to model.
        return float(trial.params.get("lr", 1e-3)) + len(trial.params)

    study = optuna.create_study(sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=n)
    return study, seen


@pytest.mark.parametrize("name", NAMED)
def test_random_sampling_many_trials_valid_and_one_distribution_per_name(name):
    space = spaces.get_space(name)
    study, seen = _sample(space, optuna.samplers.RandomSampler(seed=0), 400)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # Every family gets drawn, and each parameter name keeps a single distribution.
    assert {t.params[FAMILY_PARAM] for t in study.trials} == set(space.families)
    dists = {}
    for t in study.trials:
        for key, dist in t.distributions.items():
            assert dists.setdefault(key, dist) == dist, key
    # Only the family's own branch is drawn: names start with its dynamics or core (or are shared).
    shared = set(space.cell) | set(space.train) | {FAMILY_PARAM}
    for t in study.trials:
        dyn, core = spaces.split_family(t.params[FAMILY_PARAM])
        for key in t.params:
            assert key in shared or key.split(".")[0] in (dyn, core), (key, t.params[FAMILY_PARAM])


@pytest.mark.parametrize("name", NAMED)
def test_multivariate_tpe_sampling_stays_valid(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(multivariate=True, group=True, seed=1, n_startup_trials=20)
    study, _ = _sample(spaces.get_space(name), sampler, 80)
    assert len(study.trials) == 80


def test_fixed_trial_momentum_lstm_returns_the_run_config():
    params = {"family": "momentum-lstm", "momentum.mu": 0.6, "momentum.s": 0.6, "lstm.fg_init": 1.0, "lr": 1e-3}
    run = spaces.get_space("momentum")(optuna.trial.FixedTrial(params))
    assert run == {
        "cell": {"core": "lstm", "dynamics": "momentum", "mu": 0.6, "s": 0.6, "fg_init": 1.0},
        "train": {"lr": 1e-3},
    }


def test_fixed_trial_orthogonal_branches_draw_only_their_parameters():
    space = spaces.get_space("momentum")
    exp = space(optuna.trial.FixedTrial(
        {"family": "plain-orthogonal", "orthogonal.param": "exp", "orthogonal.K": 5, "orthogonal.init": "henaff", "lr": 1e-3}))
    assert exp["cell"] == {"core": "orthogonal", "dynamics": "plain", "param": "exp", "K": 5, "init": "henaff"}
    cayley = space(optuna.trial.FixedTrial(
        {"family": "plain-orthogonal", "orthogonal.param": "cayley", "orthogonal.init": "cayley", "lr": 1e-3}))
    assert "K" not in cayley["cell"] and "m" not in cayley["cell"]
    svd = space(optuna.trial.FixedTrial(
        {"family": "plain-orthogonal", "orthogonal.param": "svd", "orthogonal.K": 0, "orthogonal.m": 0.1,
         "orthogonal.init": "henaff", "lr": 1e-3}))
    assert svd["cell"]["m"] == 0.1 and svd["cell"]["K"] == 0


@pytest.mark.parametrize("name", ["momentum", "full"])
def test_unicornn_dropout_is_drawn_only_with_stacked_layers(name):
    space = spaces.get_space(name)
    base = {"family": "plain-unicornn", "unicornn.dt": 0.19, "unicornn.alpha": 30.0, "lr": 1e-3,
            "hidden_size": 32, "batch_size": 32}
    one = space(optuna.trial.FixedTrial({**base, "unicornn.layers": 1}))
    assert "dropout" not in one["cell"]  # a single layer has nothing to drop between
    three = space(optuna.trial.FixedTrial({**base, "unicornn.layers": 3, "unicornn.dropout": 0.2}))
    assert three["cell"]["dropout"] == 0.2 and three["cell"]["layers"] == 3
    _valid(one)
    _valid(three)
    assert cells.CellConfig.from_dict({"input_size": 1, **three["cell"]}).dropout == 0.2


def test_fixed_trial_missing_parameter_of_the_branch_is_an_error():
    # FixedTrial refuses a suggestion it has no value for: the momentum branch needs mu and s.
    with pytest.raises(ValueError):
        spaces.get_space("momentum")(optuna.trial.FixedTrial({"family": "momentum-lstm", "lstm.fg_init": 0.0, "lr": 1e-3}))


def test_paper_nag_form_only_where_the_core_allows_it():
    full = spaces.get_space("full")
    base = {"nag_restart.s": 0.5, "nag_restart.restart": 4, "lr": 1e-3, "hidden_size": 32, "batch_size": 64}
    gru = full(optuna.trial.FixedTrial({"family": "nag_restart-gru", **base}))
    assert "nag_form" not in gru["cell"]  # gru's candidate gate is not additive: cell default (input form)
    lstm = full(optuna.trial.FixedTrial({"family": "nag_restart-lstm", "nag_restart.nag_form": "paper", "lstm.fg_init": 1.0, **base}))
    assert lstm["cell"]["nag_form"] == "paper"
    _valid(gru)
    _valid(lstm)


def test_paper_space_uses_the_published_grid():
    paper = spaces.get_space("paper")
    assert paper.dynamics["momentum"]["mu"].choices == (0.0, 0.1, 0.3, 0.6, 0.9)
    assert paper.dynamics["momentum"]["s"].choices == (0.1, 0.3, 0.6, 0.9, 1.0)
    assert "momentum-lstm" in paper.families and "plain-cornn" in paper.families
    # every core's recipe is in REFERENCE §3's ranges: coRNN adding dt 0.06, gamma 66, eps 15
    cornn = paper.cores["cornn"]
    assert cornn["dt"].low <= 0.06 <= cornn["dt"].high and cornn["gamma"].low <= 66 <= cornn["gamma"].high


def test_momentum_space_covers_every_core_with_every_optimizer_dynamics():
    fams = set(spaces.get_space("momentum").families)
    for core in (f.name for f in cells.families() if f.kind == "core"):
        for dyn in ("momentum", "adam", "rmsprop", "nag_restart"):
            assert f"{dyn}-{core}" in fams


@pytest.mark.parametrize("name", NAMED)
def test_space_parameters_exist_in_the_cells_table(name):
    known = spaces.known_parameters()
    space = spaces.get_space(name)
    for dyn, table in space.dynamics.items():
        assert set(table) <= set(known["dynamics"][dyn])
    for core, table in space.cores.items():
        assert set(table) <= set(known["cores"][core])


@pytest.mark.parametrize("name", NAMED)
def test_yaml_form_reads_back_to_the_same_space(name, tmp_path):
    import yaml

    space = spaces.get_space(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**space.to_data(), "base": name}))
    again = spaces.load_space(path)
    assert again.families == space.families
    assert again.cell == space.cell and again.train == space.train
    for dyn in again.dynamics:
        assert again.dynamics[dyn] == space.dynamics.get(dyn, {})
    for core in again.cores:
        assert again.cores[core] == space.cores.get(core, {})


def test_spaces_read_the_cells_vocabulary():
    """The momentum and full spaces search every dynamics on every core that cells has, and the
    paper form of NAG only where cells marks the core additive: one vocabulary, not a copy."""
    from cells.config import CORES, DYNAMICS

    every = {spaces.family_name(d, c) for c in CORES for d in DYNAMICS}
    assert set(spaces.get_space("momentum").families) == set(spaces.get_space("full").families) == every
    nag_form = spaces.get_space("full").dynamics["nag_restart"]["nag_form"]
    assert nag_form.when == ("core", tuple(c for c, info in CORES.items() if info["additive"]))
    assert "gru" not in nag_form.when[1]


def test_importing_spaces_leaves_torch_out():
    """The vocabulary comes from cells only when a space is asked for: reading a study stays light."""
    import subprocess
    import sys

    code = "import sys, spaces, search; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
