"""Train a plan's runs with Ray Tune: one Tune trial per run, packed on the GPUs (or CPUs).

Every run writes its files in OUT/runs/ID/ (runs.train's run.json, metrics.json,
curves.json, checkpoint.pt, plus host.json: the hardware it ran on). A run whose
metrics.json is there and whose run.json is the planned config is done and skipped, so the
same command after an interruption trains only what is missing; a run that was cut off
(no metrics.json yet) starts again from scratch.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from search.errors import BadInput
from search.reproduce._presets import Plan, PlannedRun

PLAN_FILE = "plan.json"
HOST_FILE = "host.json"
ERROR_FILE = "error.txt"


def run_dir(out: Path, run: PlannedRun) -> Path:
    return out / "runs" / run.id


def is_done(out: Path, run: PlannedRun) -> bool:
    """True when the run's metrics are written for exactly the planned config."""
    from search._ray import ran_as_planned

    return ran_as_planned(run_dir(out, run), run.config.to_dict())


def check_out(out: Path, plan: Plan) -> None:
    """Refuse an OUT that holds finished runs of another plan (another budget, size or data):
    skipping them would mix two experiments in one report."""
    for run in plan.runs:
        folder = run_dir(out, run)
        if (folder / "metrics.json").is_file() and not is_done(out, run):
            raise BadInput(
                f"{folder} holds a finished run of another configuration (budget, hidden size or data); "
                "give another --out, or the options it was run with")


def read_plan(out: Path) -> dict[str, Any]:
    """The plan.json a reproduction wrote into `out`."""
    path = out / PLAN_FILE
    if not path.is_file():
        raise BadInput(f"{path} not found: {out} holds no reproduction (run `momnas reproduce NAME --out {out}`)")
    return json.loads(path.read_text())


def check_tasks(plan: Plan) -> str:
    """Load every task of the plan at a few examples, so missing data (MNIST) stops the command
    with one line before anything is written, rather than failing every run. Returns the
    first task's metric."""
    import runs

    from search.errors import bad_input

    metrics = []
    for task in dict.fromkeys(json.dumps(run.config.task.to_dict(), sort_keys=True) for run in plan.runs):
        small = {**json.loads(task), "n_train": 1, "n_val": 1, "n_test": 1}
        with bad_input():
            metrics.append(runs.load_task(runs.TaskConfig.from_dict(small)).metric)
    return metrics[0]


def write_plan(out: Path, plan: Plan) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{PLAN_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    os.replace(tmp, out / PLAN_FILE)


def _hardware() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def execute(plan: Plan, out: Path, *, gpus_per_run: float, cpus_per_run: float, listener=None,
            only: list[PlannedRun] | None = None) -> list[str]:
    """Train the plan's runs (or `only` these) that are not done yet, through search._ray as a
    search's trials; returns the ids of the runs that failed."""
    from search import _ray, _record
    from search._resources import TrialResources

    out = out.resolve()
    check_out(out, plan)
    metric = check_tasks(plan)
    pending = [run for run in (plan.runs if only is None else only) if not is_done(out, run)]
    if not pending:
        write_plan(out, plan)
        return []
    if listener is not None:
        listener.search_started(total=len(plan.runs), done=len(plan.runs) - len([r for r in plan.runs if not is_done(out, r)]),
                                metric=metric, direction="maximize" if metric == "accuracy" else "minimize")
    resources = TrialResources(cpus_per_run, gpus_per_run)
    _ray.check_resources(cpus_per_trial=cpus_per_run, gpus_per_trial=gpus_per_run, unit="run")
    with _ray.session(None, trials=resources, at_once=len(pending)):
        write_plan(out, plan)
        for run in pending:
            (run_dir(out, run) / ERROR_FILE).unlink(missing_ok=True)
        configs = tuple({_record.RUN_KEY: {**run.config.to_dict(), "train": {**run.config.train.to_dict(), "threads": resources.threads}},
                         _record.TRIAL_DIR_KEY: str(run_dir(out, run))} for run in pending)
        labels = {str(run_dir(out, run)): (run.id, f"{run.label} n={run.hidden} seed {run.seed}") for run in pending}
        _ray.run_job(_ray.TuneJob(
            name=f"{plan.preset}-{time.strftime('%Y%m%d-%H%M%S')}", run_dir=out / "tune", resources=resources.as_tune(),
            num_samples=len(configs), configs=configs,
            callbacks=(_ray.RunEvents(labels, listener, metric),) if listener is not None else (),
            note=listener.note if listener is not None else None))
    hardware = _hardware()
    for run in pending:
        if (run_dir(out, run) / "metrics.json").is_file():
            (run_dir(out, run) / HOST_FILE).write_text(json.dumps({"hardware": hardware, "gpus": gpus_per_run,
                                                                   "node": platform.node()}) + "\n")
    return [run.id for run in pending if not (run_dir(out, run) / "metrics.json").is_file()]
