"""Fixtures for every test package: the shared MNIST folder, and few threads for tests that train."""

from pathlib import Path

import pytest
import torch

# The shared data folder sits beside the checkout (CI clones the repository next to ../shared).
MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.fixture
def few_threads():
    """One torch thread for the test (the CPU is shared), the previous count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mnist_dir() -> Path:
    assert (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), (
        f"the MNIST files are expected in {MNIST_DIR} (the shared data folder beside the checkout)"
    )
    return MNIST_DIR
