"""SearchConfig: validation, YAML round trip, and the order presets < YAML < flags."""

import pytest

from search import PRESETS, SearchConfig, preset


def test_yaml_round_trip(tmp_path):
    cfg = SearchConfig(task="digits", space="paper", trials=3, epochs=2, gpus_per_trial=0.25, train={"schedule": "cosine"})
    path = tmp_path / "search.yaml"
    cfg.to_yaml(path)
    assert SearchConfig.from_yaml(path) == cfg


def test_resolve_order_defaults_preset_file_flags(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("trials: 5\nepochs: 3\ngpus-per-trial: 0.5\n")
    cfg = SearchConfig.resolve(preset="quickstart", file=path, overrides={"epochs": 7, "seed": None})
    assert cfg.task == PRESETS["quickstart"]["task"]  # from the preset
    assert cfg.trials == 5 and cfg.gpus_per_trial == 0.5  # from the file (flag spelling accepted)
    assert cfg.epochs == 7  # the flag wins
    assert cfg.seed == PRESETS["quickstart"]["seed"]  # an unset flag keeps what came before


@pytest.mark.parametrize("data, message", [
    ({"trails": 3}, "unknown option(s) trails"),
    ({"trials": 0}, "`trials` must be a positive integer"),
    ({"sampler": "cmaes"}, "unknown sampler 'cmaes'"),
    ({"gpus_per_trial": -1}, "`gpus_per_trial` must be auto or a number >= 0"),
    ({"gpus_per_trial": "lots"}, "`gpus_per_trial` must be auto or a number >= 0"),
    ({"gpus_per_trial": 1.5}, "above 1 must be whole"),
    ({"time_budget_s": 0}, "`time_budget_s` must be a positive number of seconds"),
    ({"address": "nowhere"}, "`address` must be auto"),
    # Wrong YAML types: before, `resume: maybe` resumed, and `storage: 5` / `address: 5` were tracebacks.
    ({"resume": "maybe"}, "`resume` must be true or false, got 'maybe'"),
    ({"storage": 5}, "`storage` must be a non-empty string, got 5"),
    ({"address": 5}, "`address` must be a non-empty string, got 5"),
    ({"out": 5}, "`out` must be a non-empty string"),
    ({"space": ["small"]}, "`space` must be a non-empty string"),
    ({"mps": "yes"}, "`mps` must be auto, on or off"),
    ({"mps": True, "gpus_per_trial": 0}, "--mps lets trials that share a GPU run at once; give --gpus-per-trial auto or below 1"),
    ({"mps": True, "gpus_per_trial": 1}, "give --gpus-per-trial auto or below 1"),
    ({"mps": True, "gpus_per_trial": 0.25, "address": "auto"}, "start it on each GPU node before `ray start`"),
])
def test_bad_values_are_named(data, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchConfig.from_dict(data)


def test_bad_yaml_file_names_itself(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("trials: [\n")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        SearchConfig.from_yaml(path)
    with pytest.raises(FileNotFoundError):
        SearchConfig.from_yaml(tmp_path / "missing.yaml")


def test_study_name_and_task_dict():
    cfg = SearchConfig(task="adding", T=200, space="momentum")
    assert cfg.study_name == "momentum-adding-T200"
    assert cfg.task_dict() == {"name": "adding", "T": 200, "seed": 0}  # the full runs TaskConfig
    assert SearchConfig(space="spaces/mine.yaml", task="digits").study_name == "mine-digits"
    assert SearchConfig(study="x").study_name == "x"


def test_task_paths_reach_the_workers_absolute(tmp_path, monkeypatch):
    # Ray runs each trial in a folder of its own: a relative data path must not get there as is.
    monkeypatch.chdir(tmp_path)
    task = SearchConfig(task="npz:data/mine.npz", data_dir="mnist").task_dict()
    assert task["name"] == f"npz:{tmp_path / 'data' / 'mine.npz'}"
    assert task["data_dir"] == str(tmp_path / "mnist")


def test_presets():
    quick = preset("quickstart")
    assert quick.trials <= 16 and quick.task in ("digits", "adding")
    with pytest.raises(ValueError, match="unknown preset 'nope'; presets: quickstart"):
        preset("nope")


@pytest.mark.parametrize("name", ["tpe", "nsga2", "nsga3", "random", "gp"])
def test_every_sampler_name_builds_a_seeded_sampler(name):
    import optuna

    from search import SAMPLERS, make_sampler

    assert name in SAMPLERS
    assert isinstance(make_sampler(name, 3), optuna.samplers.BaseSampler)


def test_reading_studies_does_not_import_ray():
    import subprocess
    import sys

    code = "import sys, search; search.open_study; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paths_may_be_path_objects(tmp_path):
    cfg = SearchConfig(out=tmp_path, space=tmp_path / "mine.yaml")
    assert cfg.out == str(tmp_path) and cfg.space == str(tmp_path / "mine.yaml")
