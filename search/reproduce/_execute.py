"""Train a plan's runs with Ray Tune: one Tune trial per run, packed on the GPUs (or CPUs).

Every run writes its files in OUT/runs/ID/ (runs.train's run.json, metrics.json,
curves.json, checkpoint.pt, plus host.json: the hardware it ran on). A run whose
metrics.json is there and whose run.json is the planned config is done and skipped, so the
same command after an interruption trains only what is missing; a run that was cut off
(no metrics.json yet) starts again from scratch.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search._cluster import start_ray
from search.reproduce._presets import Plan, PlannedRun

PLAN_FILE = "plan.json"
HOST_FILE = "host.json"
ERROR_FILE = "error.txt"


def run_dir(out: Path, run: PlannedRun) -> Path:
    return out / "runs" / run.id


def is_done(out: Path, run: PlannedRun) -> bool:
    """True when the run's metrics are written for exactly the planned config."""
    folder = run_dir(out, run)
    if not (folder / "metrics.json").is_file():
        return False
    return json.loads((folder / "run.json").read_text()) == run.config.to_dict()


def check_out(out: Path, plan: Plan) -> None:
    """Refuse an OUT that holds finished runs of another plan (another budget, size or data):
    skipping them would mix two experiments in one report."""
    for run in plan.runs:
        folder = run_dir(out, run)
        if (folder / "metrics.json").is_file() and not is_done(out, run):
            raise ValueError(
                f"{folder} holds a finished run of another configuration (budget, hidden size or data); "
                "give another --out, or the options it was run with")


def read_plan(out: Path) -> dict[str, Any]:
    """The plan.json a reproduction wrote into `out`."""
    path = out / PLAN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out} holds no reproduction (run `momnas reproduce NAME --out {out}`)")
    return json.loads(path.read_text())


def check_tasks(plan: Plan) -> None:
    """Load every task of the plan at a few examples, so missing data (MNIST) stops the command
    with one line before anything is written, rather than failing every run."""
    import runs

    for task in {json.dumps(run.config.task.to_dict(), sort_keys=True) for run in plan.runs}:
        small = {**json.loads(task), "n_train": 1, "n_val": 1, "n_test": 1}
        runs.load_task(small)


def write_plan(out: Path, plan: Plan) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{PLAN_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    os.replace(tmp, out / PLAN_FILE)


def _hardware(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def train_run(config: dict[str, Any], folder: Path, *, gpus: float = 0, report=None) -> str:
    """Train one planned run (its RunConfig as a dict) into `folder`; returns its status, or
    "failed" with the error in error.txt (one broken run is that run's result, not the preset's end)."""
    import torch

    import runs

    folder.mkdir(parents=True, exist_ok=True)
    (folder / ERROR_FILE).unlink(missing_ok=True)
    try:
        run_config = runs.RunConfig.from_dict(config)
        device = "cuda" if run_config.train.device == "auto" and torch.cuda.is_available() else run_config.train.device
        (folder / HOST_FILE).write_text(json.dumps({"hardware": _hardware(device), "gpus": gpus, "node": platform.node()}) + "\n")
        return runs.train(run_config, report=report, out_dir=folder).status
    except Exception as exc:
        (folder / ERROR_FILE).write_text(f"{type(exc).__name__}: {exc}\n")
        return "failed"


def trainable(config: dict[str, Any], *, configs: dict[str, dict]) -> None:
    """One Tune trial: train one planned run into its folder, reporting every evaluation."""
    import torch
    from ray import tune

    from search._tune import report_to_tune

    torch.set_num_threads(int(config["threads"]))
    folder = Path(config["out"]) / "runs" / config["id"]
    status = train_run(configs[config["id"]], folder, gpus=config["gpus"], report=report_to_tune)
    tune.report({"finished": 1.0, "failed": float(status == "failed"), "diverged": float(status == "diverged")})


class _ProgressLines:
    """For a Tune callback that keeps one rich line per running run and one bar for the whole plan."""

    def __init__(self, progress: Progress, labels: dict[str, str], total_task):
        self.progress, self.labels, self.total = progress, labels, total_task
        self.lines: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment's state; a terminal display is not state.
        return {"progress": None, "labels": self.labels, "total": self.total, "lines": {}}

    def _line(self, trial):
        run_id = trial.config["id"]
        if run_id not in self.lines:
            self.lines[run_id] = self.progress.add_task(self.labels[run_id], total=None)
        return self.lines[run_id]

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.progress is None or result.get("finished"):
            return
        metric = next((f"{k} {v:.4g}" for k, v in result.items() if k in ("val_accuracy", "val_mse", "val_cross_entropy")), "")
        self.progress.update(self._line(trial), description=f"{self.labels[trial.config['id']]}  epoch {result.get('epoch', 0):g}  {metric}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        if self.progress is None:
            return
        line = self.lines.pop(trial.config["id"], None)
        if line is not None:
            self.progress.remove_task(line)
        self.progress.advance(self.total)

    on_trial_error = on_trial_complete


def _progress_callback(progress: Progress, labels: dict[str, str], total_task):
    from ray import tune

    class ProgressCallback(_ProgressLines, tune.Callback):
        pass

    return ProgressCallback(progress, labels, total_task)


def execute(plan: Plan, out: Path, *, gpus_per_run: float, cpus_per_run: float, show_progress: bool = True) -> list[str]:
    """Train the plan's runs that are not done yet; returns the ids of the runs that failed."""
    out = out.resolve()
    check_out(out, plan)
    check_tasks(plan)
    pending = [run for run in plan.runs if not is_done(out, run)]
    if not pending:
        write_plan(out, plan)
        return []
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ctrl-C ends the command at once (KeyboardInterrupt) instead of Tune's graceful stop, after
    # which a search preset would go on to its searches: a cut-off run starts again anyway.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    started = start_ray(None)  # a quiet, private local Ray, as a search starts it (before ray is imported)
    import ray
    from ray import tune

    try:
        resources = ray.cluster_resources()
        if gpus_per_run > resources.get("GPU", 0) or cpus_per_run > resources.get("CPU", 0):
            raise ValueError(
                f"this Ray has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs, less than one run's "
                f"{cpus_per_run:g} CPU(s) and {gpus_per_run:g} GPU(s); ask for less with --cpus-per-run / --gpus-per-run")
        write_plan(out, plan)
        labels = {run.id: f"{run.table}: {run.label} n={run.hidden} seed {run.seed}" for run in pending}
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress, transient=False) as progress:
            total = progress.add_task(f"{plan.preset}: runs", total=len(plan.runs), completed=len(plan.runs) - len(pending))
            callback = _progress_callback(progress, labels, total)
            tuner = tune.Tuner(
                tune.with_resources(tune.with_parameters(trainable, configs={r.id: r.config.to_dict() for r in pending}),
                                    {"cpu": cpus_per_run, "gpu": gpus_per_run}),
                param_space={
                    "id": tune.grid_search([run.id for run in pending]),
                    "out": str(out), "threads": max(1, int(cpus_per_run)), "gpus": gpus_per_run,
                },
                tune_config=tune.TuneConfig(reuse_actors=True),
                run_config=tune.RunConfig(
                    name=f"{plan.preset}-{time.strftime('%Y%m%d-%H%M%S')}",
                    storage_path=str(out / "tune"), verbose=0, callbacks=[callback],
                    failure_config=tune.FailureConfig(max_failures=0)),
            )
            tuner.fit()
    finally:
        if started:
            ray.shutdown()
    return [run.id for run in pending if not (run_dir(out, run) / "metrics.json").is_file()]
