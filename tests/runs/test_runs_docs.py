"""The docstring examples of the runs package run, and stay true."""

import doctest
import importlib

import pytest

MODULES = ["runs._memory"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
