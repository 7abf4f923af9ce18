"""Real Optuna studies with the schema `momnas search` writes (docs/architecture.md), built trial by trial.

`make_study` stores real trials (`optuna.trial.create_trial` + `Study.add_trial`) in a real
SQLite storage, so plots and export read them exactly as they read a search's study.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

import search

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([f"val_{metric}", "instability"])
    artifact_dir = Path(out_dir) / "artifacts"
    artifact_dir.mkdir(parents=True, exist_ok=True)
    for key, value in {"task": task, "metric": metric, "direction": direction, "space": "momentum",
                       "artifact_dir": str(artifact_dir.resolve()), "target_epochs": target, "rungs": list(rungs)}.items():
        study.set_user_attr(key, value)
    for spec in trials:
        dynamics, core = spec["family"].split("-")
        cell = {"core": core, "dynamics": dynamics, "input_size": input_size, "hidden_size": spec["hidden"]}
        params = {"family": spec["family"], "lr": spec["lr"]}
        for key in ("mu", "s"):
            if spec[key] is not None:
                cell[key] = params[key] = spec[key]
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
        user_attrs = {
            "run_config": {"cell": cell, "task": task, "train": {"epochs": 1, "lr": spec["lr"], "batch_size": 16}},
            "family": spec["family"], "status": metrics["status"], "metrics": metrics, "artifacts": {},
        }
        if spec["curve"] is not None:
            user_attrs["curve"] = spec["curve"]
        if spec["stopped_at"] is not None:
            user_attrs["stopped_at_epoch"] = spec["stopped_at"]
            del user_attrs["metrics"]
        if spec["profile"] is not None:
            user_attrs["grad_profile"] = list(spec["profile"])
            user_attrs["grad_profile_t"] = list(range(len(spec["profile"])))
        study.add_trial(
            optuna.trial.create_trial(
                state=_STATES[spec["state"]],
                values=list(values) if spec["state"] == "complete" else None,
                params=params,
                distributions={k: DISTRIBUTIONS[k] for k in params},
                user_attrs=user_attrs,
            )
        )
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
    """Train `run` for real (runs.train) and record it the way a search does: ask, attributes and
    artifacts (checkpoint.pt, metrics.json, ...) uploaded to the trial, then tell. Returns its number."""
    import runs
    from optuna.artifacts import upload_artifact

    result = runs.train(runs.RunConfig.from_dict(run), out_dir=trial_dir)
    assert result.status == "completed", result.status
    trial = study.ask()
    artifacts = {
        path.name: upload_artifact(artifact_store=search.study_artifact_store(study), file_path=str(path), study_or_trial=trial)
        for path in sorted(trial_dir.iterdir())
    }
    t, norms = result.profile()
    cell = run["cell"]
    for key, value in {
        "run_config": result.config.to_dict(), "family": f"{cell['dynamics']}-{cell['core']}", "status": result.status,
        "metrics": result.to_dict(), "grad_profile": norms, "grad_profile_t": t, "artifacts": artifacts,
    }.items():
        trial.set_user_attr(key, value)
    study.tell(trial, [result.value, result.stability["instability"]])
    return trial.number


@pytest.fixture(scope="session")
def add_trained_trial():
    """`add_trained_trial(study, {"cell", "task", "train"}, trial_dir)` -> the number of a really trained trial."""
    return _add_trained_trial
