"""The docstring examples of the spaces package run, and stay true."""

import doctest
import importlib

import optuna
import pytest

MODULES = ["spaces", "spaces._space"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
