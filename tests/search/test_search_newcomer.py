"""What a newcomer meets in the first hour: no references to files they lack, a quiet install."""

from __future__ import annotations

import warnings
from pathlib import Path

from typer.testing import CliRunner

import search
from search.cli import app

ROOT = Path(search.__file__).resolve().parents[1]  # the momnas under test


def test_spaces_listing_cites_nothing_a_user_does_not_have():
    result = CliRunner().invoke(app, ["spaces"])
    assert result.exit_code == 0, result.output
    assert "REFERENCE" not in result.output  # a file of the developers' notes, not shipped


def test_pyproject_reads_without_setuptools_warnings():
    """`pip install` printed setuptools' `project.license` deprecation warning three times."""
    from setuptools.config.pyprojecttoml import read_configuration

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        config = read_configuration(ROOT / "pyproject.toml")
    assert config["project"]["license"] == "MIT"
    assert not [w for w in seen if "license" in str(w.message).lower()], [str(w.message) for w in seen]
