"""SearchConfig: the nested sections, the flat adapter, validation, and the order presets < YAML < flags."""

import pytest

from runs import TaskConfig, TrainConfig
from search import FLAT, PRESETS, EarlyStop, Resources, SearchConfig, Store, preset
from search.errors import BadInput


def test_the_sections_are_the_runs_configs_and_the_searchs_own():
    cfg = SearchConfig.from_flat({"task": "digits", "epochs": 7, "lr": 3e-3, "schedule": "cosine", "seed": 4,
                                  "gpus_per_trial": 0.5, "early_stop": "hyperband", "out": "x", "study": "s"})
    assert cfg.task == TaskConfig("digits")
    assert cfg.train == TrainConfig(epochs=7, lr=3e-3, schedule="cosine", clip=1.0, seed=4)  # the search's clip default
    assert cfg.epochs == 7 and cfg.seed == 4  # the target budget; the sampler's seed is also the trials'
    assert cfg.resources == Resources(gpus_per_trial=0.5)
    assert cfg.early_stop == EarlyStop(mode="hyperband") and cfg.store == Store(out="x", study="s")


def test_every_field_of_every_section_is_a_flat_key():
    # A new option is a field of its section (plus its flag): nothing else lists it.
    import dataclasses

    for section in (EarlyStop, Resources, Store):
        assert {f.name for f in dataclasses.fields(section)} - {"mode"} <= set(FLAT)
    owned = {"seed", "device", "threads", "steps"}  # the search sets these per trial
    assert {f.name for f in dataclasses.fields(TrainConfig)} - owned <= set(FLAT)
    assert {"task", "T", "n_train", "data_dir", "data_seed"} <= set(FLAT)


def test_yaml_round_trip(tmp_path):
    cfg = SearchConfig.from_flat({"task": "digits", "space": "paper", "trials": 3, "epochs": 2, "gpus_per_trial": 0.25,
                                  "schedule": "cosine", "warm_start": "none", "brackets": 2})
    path = tmp_path / "search.yaml"
    cfg.to_yaml(path)
    assert SearchConfig.from_yaml(path) == cfg


def test_resolve_order_defaults_preset_file_flags(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("trials: 5\nepochs: 3\ngpus-per-trial: 0.5\n")
    cfg = SearchConfig.resolve(preset="quickstart", file=path, flags={"epochs": 7, "seed": None})
    assert cfg.task.name == PRESETS["quickstart"]["task"]  # from the preset
    assert cfg.trials == 5 and cfg.resources.gpus_per_trial == 0.5  # from the file (flag spelling accepted)
    assert cfg.epochs == 7  # the flag wins
    assert cfg.seed == PRESETS["quickstart"]["seed"]  # an unset flag keeps what came before


def test_a_value_equal_to_the_default_still_counts_as_set(tmp_path):
    # The quickstart preset says early_stop: none; a config file that says `auto` (the default)
    # means auto. Before, "equal to the default" was taken for "not set", and `none` won.
    path = tmp_path / "search.yaml"
    path.write_text("early_stop: auto\nmax_concurrent: 2\n")
    cfg = SearchConfig.resolve(preset="quickstart", file=path, flags={})
    assert cfg.early_stop.mode == "auto"
    assert SearchConfig.resolve(preset="quickstart", flags={"early_stop": "auto"}).early_stop.mode == "auto"


@pytest.mark.parametrize("data, message", [
    ({"trails": 3}, "unknown option(s) trails"),
    ({"trials": 0}, "`trials` must be a positive integer"),
    ({"epochs": 0}, "train: `epochs` must be a positive integer"),
    ({"T": "long"}, "task: `T` must be a positive integer"),
    ({"sampler": "cmaes"}, "unknown sampler 'cmaes'"),
    ({"gpus_per_trial": -1}, "`gpus_per_trial` must be auto or a number >= 0"),
    ({"gpus_per_trial": "lots"}, "`gpus_per_trial` must be auto or a number >= 0"),
    ({"gpus_per_trial": 1.5}, "above 1 must be whole"),
    ({"time_budget_s": 0}, "`time_budget_s` must be a positive number of seconds"),
    ({"address": "nowhere"}, "`address` must be auto"),
    ({"address": ":"}, "`address` must be auto"),
    ({"resume": "maybe"}, "`resume` must be true or false, got 'maybe'"),
    ({"storage": 5}, "`storage` must be a non-empty string, got 5"),
    ({"address": 5}, "`address` must be a non-empty string, got 5"),
    ({"out": 5}, "`out` must be a non-empty string"),
    ({"out": ""}, "`out` must be a non-empty string"),
    ({"space": ["small"]}, "`space` must be a non-empty string"),
    ({"mps": "yes"}, "`mps` must be auto, on or off"),
    ({"mps": True, "gpus_per_trial": 0}, "--mps lets trials that share a GPU run at once; give --gpus-per-trial auto or below 1"),
    ({"mps": True, "gpus_per_trial": 0.25, "address": "auto"}, "start it on each GPU node before `ray start`"),
    ({"early_stop": "asha"}, "unknown early stop 'asha'"),
    ({"brackets": 0}, "`brackets` must be a positive integer"),
    ({"within_family": 2}, "`within_family` must be a fraction"),
    ({"warm_start": "papers"}, "`warm_start` must be paper, none, auto or study:NAME"),
    ({"warm_start": "study:"}, "`warm_start` must be paper, none, auto or study:NAME"),
    ({"confirm": -1}, "`confirm` must be a number of cells >= 0"),
    ({"steps": 10}, "unknown option(s) steps"),
    ({"early_stop": "hyperband", "epochs": 1}, "--grace-epochs 1, which is not below --epochs 1"),
    ({"study": "../../escaped"}, "a study name is a name, not a path"),
    ({"study": "/abs/path"}, "a study name is a name, not a path"),
    ({"study": "a/b"}, "a study name is a name, not a path"),
    ({"study": ".."}, "a study name is a name, not a path"),
    ({"study": "x" * 300}, "bytes long, more than the 200"),
])
def test_bad_values_are_named_in_one_line(data, message):
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        SearchConfig.from_flat(data)
    assert "\n" not in str(info.value)


def test_bad_yaml_file_names_itself(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("trials: [\n")
    with pytest.raises(BadInput, match="bad.yaml: not valid YAML"):
        SearchConfig.from_yaml(path)
    with pytest.raises(BadInput, match="not found"):
        SearchConfig.from_yaml(tmp_path / "missing.yaml")
    path.write_text("epochs: -2\n")
    with pytest.raises(BadInput, match="bad.yaml: train: `epochs` must be a positive integer"):
        SearchConfig.from_yaml(path)


def test_bare_off_and_on_in_yaml_mean_the_choices(tmp_path):
    """YAML reads `compile: off` as false: the switches take it as the word a user wrote."""
    path = tmp_path / "search.yaml"
    path.write_text("compile: off\ngraph: on\nmps: off\n")
    cfg = SearchConfig.from_yaml(path)
    assert (cfg.train.compile, cfg.train.graph, cfg.resources.mps) == ("off", "on", "off")


def test_study_name():
    assert SearchConfig.from_flat({"task": "adding", "T": 200, "space": "momentum"}).study_name == "momentum-adding-T200"
    assert SearchConfig.from_flat({"space": "spaces/mine.yaml", "task": "digits"}).study_name == "mine-digits"
    assert SearchConfig.from_flat({"study": "x"}).study_name == "x"


def test_task_paths_reach_the_workers_absolute(tmp_path, monkeypatch):
    # Ray runs each trial in a folder of its own: a relative data path must not get there as is.
    monkeypatch.chdir(tmp_path)
    task = SearchConfig.from_flat({"task": "npz:data/mine.npz", "data_dir": "mnist"}).task.to_dict()
    assert task["name"] == f"npz:{tmp_path / 'data' / 'mine.npz'}"
    assert task["data_dir"] == str(tmp_path / "mnist")


def test_the_stored_form_masks_the_storage_password():
    cfg = SearchConfig.from_flat({"storage": "postgresql+psycopg://u:s3cret@db/x"})
    assert cfg.to_flat()["storage"] == "postgresql+psycopg://u:***@db/x"
    assert "s3cret" not in repr(cfg.store.public())


def test_presets():
    quick = preset("quickstart")
    assert quick.trials <= 16 and quick.task.name in ("digits", "adding")
    with pytest.raises(BadInput, match="unknown preset 'nope'; presets: quickstart"):
        preset("nope")


@pytest.mark.parametrize("name", ["tpe", "nsga2", "nsga3", "random", "gp"])
def test_every_sampler_name_builds_a_seeded_sampler(name):
    import optuna

    from search import SAMPLERS, make_sampler

    assert name in SAMPLERS
    assert isinstance(make_sampler(name, 3), optuna.samplers.BaseSampler)


def test_reading_studies_does_not_import_ray_or_torch():
    import subprocess
    import sys

    code = ("import sys, search; search.open_study; search.status_info; search.TrialRecord; "
            "assert 'ray' not in sys.modules, 'ray imported'; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paths_may_be_path_objects(tmp_path):
    cfg = SearchConfig.from_flat({"out": tmp_path, "space": tmp_path / "mine.yaml"})
    assert cfg.store.out == str(tmp_path) and cfg.space == str(tmp_path / "mine.yaml")
