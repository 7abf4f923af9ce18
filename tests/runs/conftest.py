"""Every runs test trains with few threads (the CPU is shared): `few_threads` of tests/conftest.py."""

import pytest


@pytest.fixture(autouse=True)
def _few_threads(few_threads):
    yield
