"""`momnas cells` through typer's CliRunner."""

from typer.testing import CliRunner

from cells import families
from search.cli import app

runner = CliRunner()


def test_lists_every_family_with_params_and_defaults():
    result = runner.invoke(app, ["cells"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for family in families():
        assert family.name in result.output
        for p in family.params:
            assert p.name in result.output
    assert "[0, 1)" in result.output and "0.042" in result.output and "30.65" in result.output


def test_unicornn_lists_its_dropout():
    result = runner.invoke(app, ["cells", "unicornn"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "dropout" in result.output and "shared over time" in result.output


def test_one_family():
    result = runner.invoke(app, ["cells", "momentum"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "mu" in result.output and "unicornn" not in result.output


def test_unknown_family_is_a_one_line_error():
    result = runner.invoke(app, ["cells", "transformer"])
    assert result.exit_code == 2
    assert "'transformer' is not a core or a dynamics" in result.output
