"""One reproduction from start to report: plan, train what is missing, search (search presets), report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search.errors import BadInput
from search.reproduce._claim import hand_picked, run_claim
from search.reproduce._execute import execute
from search.reproduce._presets import plan as make_plan
from search.reproduce._presets import presets
from search.reproduce.report import write_report


def default_gpus_per_run() -> float:
    """A quarter of a GPU where there is one (four runs share it, as `momnas search` packs trials), else none."""
    import torch

    return 0.25 if torch.cuda.is_available() else 0.0


def reproduce(
    name: str,
    *,
    out: str | Path,
    budget: int | None = None,
    seeds: int = 3,
    hidden: int | None = None,
    data_dir: str | None = None,
    tiny: bool = False,
    gpus_per_run: float | None = None,
    cpus_per_run: float = 1.0,
    listener=None,
) -> dict[str, Any]:
    """Train preset `name`'s runs not yet in `out`, run its search if it has one, write the report.

    Returns {"plan", "failed" (run ids and search errors), "report" (the Markdown and HTML paths)}.
    `listener` (a search Listener, e.g. the command line's progress) hears of each run.
    """
    plan = make_plan(name, budget=budget, seeds=seeds, hidden=hidden, data_dir=data_dir, tiny=tiny)
    gpus = default_gpus_per_run() if gpus_per_run is None else gpus_per_run
    if gpus < 0 or cpus_per_run <= 0:
        raise BadInput("--gpus-per-run must be >= 0 and --cpus-per-run > 0")
    out = Path(out).resolve()
    failed = []
    if plan.search is not None:  # the hand-picked cell first, each seed alone on its device: its time sets the budget
        failed += execute(plan, out, gpus_per_run=1.0 if gpus > 0 else 0.0, cpus_per_run=cpus_per_run, listener=listener,
                          only=hand_picked(plan))
    failed += execute(plan, out, gpus_per_run=gpus, cpus_per_run=cpus_per_run, listener=listener)
    if plan.search is not None:
        failed += run_claim(plan, out, gpus_per_trial="auto" if gpus > 0 else 0.0, cpus_per_trial=cpus_per_run,
                            listener=listener)
    return {"plan": plan, "failed": failed, "report": write_report(out)}


def report(out: str | Path) -> tuple[Path, Path]:
    """Rewrite the report from what `out` holds."""
    return write_report(Path(out))


def preset_rows() -> list[dict[str, Any]]:
    """`momnas reproduce --list`: each preset's tables, runs and published budget (3 seeds)."""
    rows = []
    for name, data in presets().items():
        full = make_plan(name)
        rows.append({
            "name": name, "title": data["title"],
            "tables": ", ".join(t["name"] for t in data["tables"]),
            "cells": len({(r.table, r.label) for r in full.runs}),
            "runs": len(full.runs),
            "epochs": ", ".join(sorted({str(t["epochs"]) for t in data["tables"]})),
            "search": bool(data.get("search")),
        })
    return rows
