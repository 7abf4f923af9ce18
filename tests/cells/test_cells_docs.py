"""The docstring examples of the cells package run, and stay true."""

import doctest
import importlib

import pytest

MODULES = ["cells", "cells.cell", "cells.config", "cells.dynamics", "cells.build", "cells.io", "cells.manifolds", "cells.manifolds._linalg", "cells.manifolds._optim"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
