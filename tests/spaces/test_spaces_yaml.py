"""A user's YAML space: what it may declare, and the errors for what it may not."""

import optuna
import pytest
from typer.testing import CliRunner

import spaces
from search.cli import app

GOOD = """
name: mine
base: momentum
families: [momentum-lstm, adam-lstm, "*-cornn"]
exclude: [nag_restart-*]
params:
  momentum.mu: {low: 0.0, high: 0.9}
  momentum.s: [0.3, 0.6, 1.0]
  adam.beta: {low: 1e-3, high: 0.5, log: true}
  cornn.dt: 0.05
  cornn.gamma: {low: 1, high: 80}
  lr: {low: 1.0e-4, high: 1.0e-2, log: true}
  hidden_size: [16, 32]
  batch_size: 64
"""


def _write(tmp_path, text, name="space.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_yaml_space(tmp_path):
    space = spaces.load_space(_write(tmp_path, GOOD))
    assert space.name == "mine"
    assert space.families == ("momentum-lstm", "adam-lstm", "plain-cornn", "momentum-cornn", "adam-cornn", "rmsprop-cornn")
    assert space.dynamics["momentum"]["mu"].kind == "float"
    assert space.dynamics["momentum"]["s"].choices == (0.3, 0.6, 1.0)
    assert space.dynamics["adam"]["beta"].low == 1e-3 and space.dynamics["adam"]["beta"].log  # "1e-3" read as a number
    assert space.cores["cornn"]["dt"].kind == "fixed"
    assert space.cores["cornn"]["gamma"].kind == "float"  # gamma is a float even with integer bounds
    assert space.train["batch_size"].value == 64
    # and it samples into valid, fixed-where-asked run configs
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    runs_seen = []
    study.optimize(lambda t: runs_seen.append(space(t)) or 0.0, n_trials=150)
    cornn = [r for r in runs_seen if r["cell"]["core"] == "cornn"]
    assert cornn and all(r["cell"]["dt"] == 0.05 for r in cornn)
    assert all(r["cell"]["hidden_size"] in (16, 32) and r["train"]["batch_size"] == 64 for r in runs_seen)
    assert "cornn.dt" not in {k for t in study.trials for k in t.params}  # fixed values are not parameters


def test_get_space_accepts_a_yaml_path(tmp_path):
    path = _write(tmp_path, "families: [momentum-gru]\n")
    space = spaces.get_space(str(path))
    assert space.families == ("momentum-gru",) and space.name == "space"


def test_when_condition_in_yaml(tmp_path):
    path = _write(tmp_path, """
families: [plain-orthogonal]
params:
  orthogonal.param: [exp, cayley]
  orthogonal.K: {low: 1, high: 50, when: {param: [exp]}}
""")
    space = spaces.load_space(path)
    run = space(optuna.trial.FixedTrial({"family": "plain-orthogonal", "orthogonal.param": "cayley",
                                          "orthogonal.init": "henaff", "lr": 1e-3}))
    assert "K" not in run["cell"]
    assert space.cores["orthogonal"]["K"].kind == "int"


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "a space file is a mapping"),
    ("famlies: [momentum-lstm]\n", "unknown key(s) famlies"),
    ("base: nope\n", "base: unknown space 'nope'"),
    ("families: [momentum-lsmt]\n", "'momentum-lsmt' matches no family"),
    ("families: momentumlstm\n", "DYNAMICS-CORE"),
    ("families: [momentum-lstm]\nexclude: [momentum-lstm]\n", "no families left"),
    ("families: [momentum-lstm]\nparams:\n  momentum.nu: 0.5\n", "momentum has no parameter 'nu' (its parameters: momentum.mu, momentum.s)"),
    ("families: [momentum-lstm]\nparams:\n  cornn.dt: 0.1\n", "no searched family uses cornn"),
    ("families: [momentum-lstm]\nparams:\n  warp.speed: 1\n", "'warp' is neither a dynamics"),
    ("families: [momentum-lstm]\nparams:\n  depth: 3\n", "unknown parameter 'depth'"),
    ("families: [momentum-lstm]\nparams:\n  momentum.mu: {low: 0.9, high: 0.1}\n", "low < high"),
    ("families: [momentum-lstm]\nparams:\n  lr: {low: 0, high: 0.1, log: true}\n", "log range needs low > 0"),
    ("families: [momentum-lstm]\nparams:\n  momentum.mu: {low: 0.1}\n", "needs low and high"),
    ("families: [momentum-lstm]\nparams:\n  momentum.mu: {low: 0.1, high: 0.5, lgo: true}\n", "unknown key(s) lgo"),
    ("families: [momentum-lstm]\nparams:\n  momentum.mu: {low: abc, high: 0.5}\n", "expected a number, got 'abc'"),
    ("families: [momentum-lstm]\nparams:\n  momentum.s: []\n", "at least one value"),
    ("families: [plain-orthogonal]\nparams:\n  orthogonal.K: {low: 1, high: 9, when: {parm: [exp]}}\n", "`when` refers to 'parm'"),
    ("families: [momentum-lstm]\nparams: [1, 2]\n", "params: expected a mapping"),
    ("families: [\n", "not valid YAML"),
])
def test_yaml_errors_name_the_file_and_the_entry(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        spaces.load_space(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_bad_yaml_folder_and_binary_file_are_one_line_errors(tmp_path):
    path = _write(tmp_path, "families: [1\n")
    with pytest.raises(ValueError, match=r"not valid YAML: expected ',' or '\]', but got '<stream end>' at line 2, column 1") as info:
        spaces.load_space(path)
    assert "\n" not in str(info.value)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "folder.yaml").mkdir()
    runner = CliRunner()
    for name, message in (("binary.yaml", "not a text file"), ("folder.yaml", "is a folder; give a YAML file")):
        result = runner.invoke(app, ["spaces", "show", str(tmp_path / name)])
        assert result.exit_code == 2 and result.output.startswith("error:") and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_missing_file_and_unknown_name():
    with pytest.raises(FileNotFoundError):
        spaces.load_space("/nonexistent/space.yaml")
    with pytest.raises(ValueError, match="named spaces are paper, momentum"):
        spaces.get_space("nope")


def test_cli_lists_and_shows_spaces(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(app, ["spaces"])
    assert listed.exit_code == 0, listed.output
    for name in spaces.list_spaces():
        assert name in listed.output
    shown = runner.invoke(app, ["spaces", "show", "paper"])
    assert shown.exit_code == 0 and "momentum.mu" in shown.output and "cornn.dt" in shown.output
    as_yaml = runner.invoke(app, ["spaces", "show", "momentum", "--yaml"])
    assert as_yaml.exit_code == 0
    path = _write(tmp_path, as_yaml.output + "base: momentum\n", "copy.yaml")
    assert spaces.load_space(path).families == spaces.get_space("momentum").families
    bad = runner.invoke(app, ["spaces", "show", "nope"])
    assert bad.exit_code == 2 and "error: unknown space 'nope'" in bad.output
    bad_file = runner.invoke(app, ["spaces", "show", str(_write(tmp_path, "famlies: []\n", "bad.yaml"))])
    assert bad_file.exit_code == 2 and "unknown key(s) famlies" in bad_file.output
