"""Shared fixtures for the runs tests: few threads (the CPU is shared), the MNIST folder."""

from pathlib import Path

import pytest
import torch

# The shared data folder sits beside the checkout (CI clones the repository next to ../shared).
REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def _few_threads():
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
