"""The search's own claim: a search plus a confirmation, given the GPU time of a few hand-picked runs.

A search preset asks "which cell should one train for the target epochs?". Its hand-picked
cell is trained first, each seed alone on its device, and its mean GPU time T sets the
budget: `budget_runs` x T GPU-seconds for the search and its confirmation together. The
search (`search.run_search`, in this process, into OUT/search with its storage named, so that
a MOMNAS_STORAGE in the environment cannot send it elsewhere) gets three quarters of it as its
time budget, with the papers' cells as priors and early stopping towards the target; then
`search.confirm` retrains its top cells and its best prior with the plan's seeds. What was
spent is kept in OUT/search/claim.json: the same command again goes on with what is left.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from search.reproduce._presets import Plan, PlannedRun

CLAIM_FILE = "claim.json"
STUDY = "claim"
SEARCH_SHARE = 0.75     # of the budget, for the search's trials; the rest is the confirmation's
MIN_SEARCH_S = 30.0     # a tiny budget still gives the search time to run its first trials


def search_dir(out: Path) -> Path:
    return out / "search"


def storage(out: Path) -> str:
    return f"sqlite:///{(search_dir(out) / 'optuna.db').resolve()}"


def read_claim(out: Path) -> dict[str, Any] | None:
    path = search_dir(out) / CLAIM_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _write_claim(out: Path, data: dict[str, Any]) -> None:
    folder = search_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{CLAIM_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, folder / CLAIM_FILE)


def hand_picked_seconds(out: Path, plan: Plan) -> float | None:
    """The mean GPU-seconds (seconds x the GPU share it had; seconds on a CPU) of the hand-picked runs."""
    from search.reproduce._execute import HOST_FILE, run_dir

    spent = []
    for run in plan.runs:
        folder = run_dir(out, run)
        if not run.hand_picked or not (folder / "metrics.json").is_file():
            continue
        seconds = json.loads((folder / "metrics.json").read_text())["seconds"]
        host = json.loads((folder / HOST_FILE).read_text()) if (folder / HOST_FILE).is_file() else {}
        spent.append(seconds * (host.get("gpus") or 1.0))
    return sum(spent) / len(spent) if spent else None


def hand_picked(plan: Plan) -> list[PlannedRun]:
    return [run for run in plan.runs if run.hand_picked]


def run_claim(plan: Plan, out: Path, *, gpus_per_trial: float | str, cpus_per_trial: float, listener=None) -> list[str]:
    """Run (or go on with) the preset's search and confirmation within its budget; returns errors."""
    import torch

    from search import SearchConfig, run_search

    search = plan.search
    per_run = hand_picked_seconds(out, plan)
    if per_run is None:
        return ["search: the hand-picked runs did not finish, so there is no budget to give the search"]
    devices = torch.cuda.device_count() or 1
    budget = search["budget_runs"] * per_run
    claim = read_claim(out) or {"budget_gpu_seconds": budget, "hand_picked_gpu_seconds": per_run, "devices": devices,
                                "search_seconds": 0.0, "confirm_seconds": 0.0, "calls": 0}
    left = SEARCH_SHARE * budget / devices - claim["search_seconds"]
    from search.confirm import Confirmation

    if claim.get("confirmed") and Confirmation.from_dict(claim["confirmed"]).complete and left <= 0:
        return []  # done: the budget is spent and the answer confirmed
    config = SearchConfig.from_flat({
        **{k: v for k, v in search["task"].items() if k != "name"}, "task": search["task"]["name"],
        **search["train"], "epochs": search["epochs"], "hidden": search["hidden"], "space": search["space"],
        "warm_start": "paper", "early_stop": "auto", "trials": 10_000, "seed": 0,
        "confirm": search["confirm"], "confirm_seeds": search["seeds"],
        "time_budget_s": max(left, MIN_SEARCH_S if claim["calls"] == 0 else 1.0),
        "gpus_per_trial": gpus_per_trial, "cpus_per_trial": cpus_per_trial,
        "out": str(search_dir(out)), "storage": storage(out), "study": STUDY, "resume": True,
    })
    started = time.monotonic()
    if left > 0 or claim["calls"] == 0:
        outcome = run_search(config, listener=listener)
        confirmation, interrupted = outcome.confirmed, outcome.interrupted
    else:  # the search's share is spent: only the confirmation is left to finish
        from search import open_study
        from search.confirm import confirm_study

        confirmation = confirm_study(open_study(search_dir(out), storage(out), STUDY), top=search["confirm"],
                                     seeds=search["seeds"], out_dir=search_dir(out), resources=config.resources,
                                     listener=listener)
        interrupted = False
    wall = time.monotonic() - started
    confirm_s = confirmation.seconds if confirmation is not None else 0.0
    claim.update(search_seconds=claim["search_seconds"] + wall - confirm_s,
                 confirm_seconds=claim["confirm_seconds"] + confirm_s, calls=claim["calls"] + 1,
                 confirmed=confirmation.to_dict() if confirmation is not None else claim.get("confirmed"),
                 command=f"momnas reproduce {plan.preset}")
    _write_claim(out, claim)
    if interrupted or (confirmation is not None and not confirmation.complete):
        return ["search: stopped before its confirmation ended; the same command goes on with it"]
    return [] if confirmation is not None else ["search: no trial completed, so nothing was confirmed"]
