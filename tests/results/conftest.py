"""Real Optuna studies with the schema `momnas search` writes (docs/architecture.md), built trial by trial.

`make_study` asks for real trials in a real SQLite storage and writes them through search._record,
as the search's searcher does (user attributes, and artifacts in OUT/artifacts), then tells them,
so plots and export read them exactly as they read a search's study.
"""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

import search
import spaces
from search import _record

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTRIBUTIONS = {
    "family": CategoricalDistribution(["momentum-lstm", "plain-lstm", "adam-gru", "plain-rnn", "rmsprop-lstm"]),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "mu": FloatDistribution(0.0, 1.0),
    "s": FloatDistribution(0.0, 1.0),
}
_STATES = {"complete": TrialState.COMPLETE, "fail": TrialState.FAIL, "pruned": TrialState.PRUNED}
_STATUS = {"complete": "completed", "fail": "diverged", "pruned": "stopped"}


def _trial_spec(family, values=None, *, state="complete", mu=None, s=None, lr=1e-3, hidden=8, profile=None, recorded=None, status=None,
                curve=None, stopped_at=None):
    """One trial: its family ("{dynamics}-{core}"), objective values, and what a run records
    (`curve`: its per-evaluation objectives; `stopped_at`: MO-ASHA stopped it there, so it has no metrics.json)."""
    return {
        "family": family, "values": values, "state": state, "mu": mu, "s": s, "lr": lr,
        "hidden": hidden, "profile": profile, "recorded": recorded, "status": status,
        "curve": curve, "stopped_at": stopped_at,
    }


def _make_study(out_dir: Path, trials: list[dict], *, name="study", metric="acc", direction="maximize", input_size=1, task=None,
                target=None, rungs=()):
    """A study in `out_dir/optuna.db`, as `momnas search --out out_dir` would leave it (with
    `target` epochs and `rungs`, as a search with early stopping records them)."""
    task = task or {"name": "adding", "T": 12}
    storage = search.make_storage(search.storage_url(out_dir))
    study = optuna.create_study(storage=storage, study_name=name, directions=[direction, "minimize"])
    store = search.artifact_store(out_dir)
    _record.write_study_header(study, store=store, task=task, metric=metric, direction=direction, space="momentum",
                               space_spec=spaces.get_space("momentum").to_data(), artifact_dir=str((Path(out_dir) / "artifacts").resolve()),
                               config={"space": "momentum", "task": task["name"]}, target_epochs=target, rungs=list(rungs))
    for spec in trials:
        dynamics, core = spec["family"].split("-")
        cell = {"core": core, "dynamics": dynamics, "input_size": input_size, "hidden_size": spec["hidden"]}
        params = {"family": spec["family"], "lr": spec["lr"]}
        for key in ("mu", "s"):
            if spec[key] is not None:
                cell[key] = params[key] = spec[key]
        study.enqueue_trial(params)
        trial = study.ask({k: DISTRIBUTIONS[k] for k in params})
        _record.write_draw(trial, run_config={"cell": cell, "task": task, "train": {"epochs": 1, "lr": spec["lr"], "batch_size": 16}},
                           family=spec["family"], rungs=[], store=store)
        values = spec["values"]
        recorded = spec["recorded"] if spec["recorded"] is not None else values
        val, inst = recorded if recorded is not None else (float("nan"), float("nan"))
        metrics = {
            "status": spec["status"] or _STATUS[spec["state"]], "task": task["name"], "metric": metric, "direction": direction,
            "validation": {metric: val, "loss": 0.5}, "test": {metric: val, "loss": 0.5}, "baseline": 0.167,
            "stability": {"grad_ratio_log10": -inst if math.isfinite(inst) else None, "instability": inst,
                          "grad_norm_max": 3.0, "loss_spikes": 0, "diverged": spec["state"] == "fail"},
            "epochs": 1, "steps": 10, "seconds": 1.0,
        }
        if spec["stopped_at"] is not None:  # MO-ASHA stopped it: no metrics.json
            outcome = _record.stopped_early(spec["stopped_at"])
        else:
            outcome = _record.Outcome(_STATES[spec["state"]], None, {"status": metrics["status"]}, {"metrics.json": metrics})
        if spec["profile"] is not None:
            outcome.files.update(_record.grad_profile_file({"t": list(range(len(spec["profile"]))), "norm": list(spec["profile"])}))
        outcome.with_curve(spec["curve"] or [], {})
        _record.record(trial, outcome, artifact_store=store, storage=storage)
        study.tell(trial, list(values) if spec["state"] == "complete" else None, state=_STATES[spec["state"]])
    return study


@pytest.fixture
def known_study(tmp_path):
    """Five trials with hand-checked roles, accuracy maximised:

    0  momentum-lstm (0.90, 0.50)  Pareto
    1  plain-lstm    (0.80, 0.20)  Pareto
    2  momentum-lstm (0.70, 0.60)  dominated (by 0 and 1)
    3  momentum-lstm diverged (NaN): failed, no finite value
    4  adam-gru      stopped early at (0.50, 0.30)
    """
    return _make_study(
        tmp_path,
        [
            _trial_spec("momentum-lstm", (0.9, 0.5), mu=0.6, s=0.6, profile=[1e-3, 1e-2, 1e-1, 1.0]),
            _trial_spec("plain-lstm", (0.8, 0.2), profile=[0.5, 0.6, 0.7, 1.0]),
            _trial_spec("momentum-lstm", (0.7, 0.6), mu=0.1, s=0.9, profile=[1.0, 1.0, 1.0, 1.0]),
            _trial_spec("momentum-lstm", state="fail", mu=0.9, s=1.0),
            _trial_spec("adam-gru", state="pruned", mu=0.3, s=0.3, recorded=(0.5, 0.3)),
        ],
    )


@pytest.fixture(scope="session")
def make_study():
    """`make_study(out_dir, [trial_spec(...), ...], metric=..., direction=...)` -> a stored study."""
    return _make_study


@pytest.fixture(scope="session")
def trial_spec():
    """`trial_spec(family, values, state=..., mu=..., s=..., profile=..., recorded=...)` -> one trial."""
    return _trial_spec


def _add_trained_trial(study, run: dict, trial_dir: Path):
    """Train `run` for real (runs.train) and record it the way a search does: ask, its run config,
    then its outcome with the run's files (checkpoint.pt, metrics.json, ...) uploaded, then tell.
    Returns its number."""
    import runs

    result = runs.train(runs.RunConfig.from_dict(run), out_dir=trial_dir)
    assert result.status == "completed", result.status
    store = search.study_artifact_store(study)
    trial = study.ask()
    cell = run["cell"]
    _record.write_draw(trial, run_config=result.config.to_dict(), family=f"{cell['dynamics']}-{cell['core']}", rungs=[], store=store)
    t, norms = result.profile()
    values = [result.value, result.stability["instability"]]
    outcome = _record.Outcome(TrialState.COMPLETE, values, {"status": result.status},
                              {"metrics.json": result.to_dict(), **_record.grad_profile_file({"t": t, "norm": norms})},
                              trial_dir=str(trial_dir))
    _record.record(trial, outcome, artifact_store=store, storage=None)
    study.tell(trial, values)
    return trial.number


@pytest.fixture(scope="session")
def add_trained_trial():
    """`add_trained_trial(study, {"cell", "task", "train"}, trial_dir)` -> the number of a really trained trial."""
    return _add_trained_trial
