"""The search's own claim: `momnas search` over a space, one search per seed, as a subprocess.

The search runs through the command line a user types (`python -m search.cli search ...`),
so this module depends on what `momnas search` promises (its flags, the study it stores,
the trial attributes of docs/architecture.md), not on how its searcher works. After each
search, the trials the report needs are copied out of the study into
OUT/search/seedN/trials.json, so the report reads plain files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TRIALS_FILE = "trials.json"


def search_dir(out: Path, seed: int) -> Path:
    return out / "search" / f"seed{seed}"


def study_name(seed: int) -> str:
    return f"reproduce-seed{seed}"


def search_command(search: dict[str, Any], out: Path, seed: int, *, gpus_per_trial: float, cpus_per_trial: float) -> list[str]:
    """The `momnas search` command line of one seed's search (with --resume once its study exists)."""
    task, train, folder = search["task"], search["train"], search_dir(out, seed)
    args = [sys.executable, "-m", "search.cli", "search",
            "--task", task["name"], "--space", search["space"], "--trials", str(search["trials"]),
            "--epochs", str(search["epochs"]), "--hidden", str(search["hidden"]), "--seed", str(seed),
            "--optimizer", train["optimizer"], "--lr", str(train["lr"]), "--batch-size", str(train["batch_size"]),
            "--gpus-per-trial", f"{gpus_per_trial:g}", "--cpus-per-trial", f"{cpus_per_trial:g}",
            "--out", str(folder), "--study", study_name(seed),
            # Named, so that a MOMNAS_STORAGE in the environment does not send the study elsewhere.
            "--storage", f"sqlite:///{(folder / 'optuna.db').resolve()}"]
    for key, flag in (("T", "--T"), ("n_train", "--n-train"), ("n_val", "--n-val"), ("n_test", "--n-test"), ("data_dir", "--data-dir")):
        if task.get(key) is not None:
            args += [flag, str(task[key])]
    if (folder / "optuna.db").is_file():
        args.append("--resume")
    return args


def trial_rows(out_dir: Path, seed: int) -> list[dict[str, Any]]:
    """Each finished trial of a seed's study as plain data: family, parameters, status, metrics."""
    from search import open_study
    from search._record import trials

    study = open_study(out_dir=str(out_dir), storage=f"sqlite:///{(out_dir / 'optuna.db').resolve()}", study=study_name(seed))
    return [{"number": r.number, "state": r.state.name, "family": r.family,
             "params": {k: v for k, v in r.params.items() if k != "family"}, "status": r.status, "metrics": r.metrics}
            for r in trials(study) if r.state.is_finished()]


def run_searches(search: dict[str, Any], out: Path, *, gpus_per_trial: float, cpus_per_trial: float) -> list[str]:
    """Run (or resume) one search per seed and store its trials; returns the failed seeds' errors."""
    errors = []
    for seed in range(search["seeds"]):
        folder = search_dir(out, seed)
        folder.mkdir(parents=True, exist_ok=True)
        command = search_command(search, out, seed, gpus_per_trial=gpus_per_trial, cpus_per_trial=cpus_per_trial)
        (folder / "command.txt").write_text(" ".join(command[1:]) + "\n")
        finished = subprocess.run(command, env={**os.environ, "COLUMNS": os.environ.get("COLUMNS", "120")})
        if finished.returncode != 0:
            errors.append(f"search seed {seed}: `momnas search` exited with {finished.returncode}")
    refresh_trials(search, out)
    return errors


def refresh_trials(search: dict[str, Any], out: Path) -> None:
    """Copy each seed's finished trials out of its study into trials.json (what the report reads)."""
    for seed in range(search["seeds"]):
        folder = search_dir(out, seed)
        if (folder / "optuna.db").is_file():
            rows = trial_rows(folder, seed)
            tmp = folder / f".{TRIALS_FILE}.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(rows, indent=2) + "\n")
            os.replace(tmp, folder / TRIALS_FILE)
