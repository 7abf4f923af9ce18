"""A local search's trial workers: started with its Ray, one per trial it runs at once, each
with a trial's imports done before the first trial is drawn (search._pool)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import search
from search import _pool
from search._ray import local_at_once
from search._resources import TrialResources
from tests_search_helpers import TINY

ROOT = Path(search.__file__).resolve().parents[1]


def test_the_pool_is_one_worker_per_trial_at_once_and_ray_gets_the_cpus_they_ask_for():
    for at_once, cpus, expected_cpus, expected_pool in ((3, 1.0, 3, 3), (2, 2.0, 4, 2), (4, 0.5, 2, 2), (1, 0.25, 1, 1)):
        args, pool = _pool.ray_init_args(at_once, cpus)
        try:
            assert args["num_cpus"] == expected_cpus and pool.size == expected_pool
            assert args["_system_config"]["preload_python_modules"][-1] == "search._warmed"  # it reports the rest done
            assert os.environ[_pool.ENV] == str(pool.folder) and pool.ready() == 0
        finally:
            _pool.forget_env()
            pool.close()
    assert _pool.ENV not in os.environ


def test_a_local_ray_is_sized_to_the_trials_this_machine_runs_at_once():
    cpus = len(os.sched_getaffinity(0))
    assert local_at_once(TrialResources(1, 0)) == cpus                  # no GPU: one trial per CPU
    assert local_at_once(TrialResources(1, 0), at_once=1) == 1          # fewer trials to run, or --max-concurrent
    assert local_at_once(TrialResources(1, 0), at_once=10 * cpus) == cpus  # never more than fit
    assert local_at_once(TrialResources(cpus + 1, 0)) == 1


def test_wait_returns_once_every_worker_reported_or_says_it_timed_out(tmp_path):
    pool = _pool.Pool(size=2, folder=tmp_path)
    (tmp_path / "101").touch()
    assert pool.wait(timeout_s=0.2) is False and pool.waited_s >= 0.2
    (tmp_path / "102").touch()
    assert pool.wait() is True  # a later call does not wait again


def test_trial_actors_lose_tunes_lightning_variable_only_inside_the_block():
    # What the pool relies on in Tune (internal): every trial actor gets this runtime env, and
    # Ray gives an actor with a runtime env none of the workers it started with.
    from ray.tune.execution import class_cache

    assert class_cache.DEFAULT_ENV_VARS == _pool.TUNE_ENV, "Tune's trial env changed: update search/_pool.py"
    with _pool.plain_trial_actors():
        assert class_cache.DEFAULT_ENV_VARS == {}
    assert class_cache.DEFAULT_ENV_VARS == _pool.TUNE_ENV


@pytest.mark.slow
def test_a_local_searchs_first_trials_find_their_workers_ready_before_they_are_drawn(tmp_path):
    # A fresh process: a search's own local Ray (the other tests share one started without a pool).
    out = tmp_path / "out"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY, "trials": 4}.items()]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "search.cli", "search", *flags, "--out", str(out), "--study", "pool"],
                          cwd=ROOT, env=env, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "trial workers: 2 of 2 warm in" in said, said
    study = optuna.load_study(study_name="pool", storage=f"sqlite:///{out / 'optuna.db'}")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    firsts = [t.user_attrs for t in trials if t.user_attrs["worker_trial"] == 1]
    # Two workers, each one's first trial drawn after the worker had imported torch, dynamo and the trial's module.
    assert len(firsts) == 2, json.dumps([t.user_attrs for t in trials], default=str)
    assert all(a["worker_ready_s"] < 0 for a in firsts), json.dumps([t.user_attrs for t in trials], default=str) + said
