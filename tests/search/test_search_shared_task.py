"""The task a search loads once and shares with its trials through Ray's object store: what a
trial gets from it in a Ray worker is the task it would have read from the files."""

import pytest
import torch

import runs
from search._shared_task import SharedTask


@pytest.mark.slow
def test_a_worker_gets_the_task_it_would_read_from_the_files(ray_session, mnist_dir):
    config = runs.TaskConfig(name="psmnist", data_dir=str(mnist_dir), n_train=96, n_val=32, n_test=32)
    other = runs.TaskConfig(name="psmnist", data_dir=str(mnist_dir), n_train=96, n_val=32, n_test=32, seed=1)
    ref = ray_session.put(SharedTask(runs.load_task(config)))

    @ray_session.remote
    def in_a_worker(shared: SharedTask):  # a Ray worker process, as a trial gets it (the ref resolved)
        task = shared.for_config(config)
        return task, shared.for_config(other), task.train.x.sum().item()

    shared, for_other, train_sum = ray_session.get(in_a_worker.remote(ref))
    read = runs.load_task(config)  # what the trial loaded itself before
    assert for_other is None  # another task (seed) is not served from this one
    assert (shared.name, shared.kind, shared.output_size, shared.baseline, shared.config) == \
        (read.name, read.kind, read.output_size, read.baseline, read.config)
    for split in ("train", "val", "test"):
        got, want = getattr(shared, split), getattr(read, split)
        assert got.x.dtype == want.x.dtype and got.y.dtype == want.y.dtype
        assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y), split
    assert train_sum == pytest.approx(read.train.x.sum().item())
