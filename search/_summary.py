"""What a study holds, as plain data (for `momnas status` and the end of a search), then as tables."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table


def pareto_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The Pareto set (best accuracy against instability), one row per trial, best first."""
    try:
        best = study.best_trials
    except (ValueError, RuntimeError):
        return []
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    best = sorted(best, key=lambda t: -t.values[0] if maximize else t.values[0])
    names = study.metric_names or ["value_0", "value_1"]
    return [
        {
            "trial": t.number,
            "family": t.user_attrs.get("family", t.params.get("family", "?")),
            names[0]: t.values[0],
            names[1]: t.values[1],
            "params": {k: v for k, v in t.params.items() if k != "family"},
        }
        for t in best
    ]


def status_info(study: optuna.Study) -> dict[str, Any]:
    """Counts by state, status and family, the best trial, the Pareto set and where things are."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    statuses = Counter(t.user_attrs.get("status", t.state.name.lower()) for t in trials if t.state.is_finished())
    families: dict[str, dict[str, Any]] = {}
    maximize = bool(study.directions) and study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    for t in trials:
        fam = families.setdefault(t.user_attrs.get("family", "?"), {"trials": 0, "complete": 0, "best": None})
        fam["trials"] += 1
        if t.state == TrialState.COMPLETE:
            fam["complete"] += 1
            v = t.values[0]
            if fam["best"] is None or (v > fam["best"] if maximize else v < fam["best"]):
                fam["best"] = v
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return {
        "study": study.study_name,
        "task": study.user_attrs.get("task"),
        "space": study.user_attrs.get("space"),
        "metric_names": list(study.metric_names or []),
        "directions": [d.name.lower() for d in study.directions],
        "trials": len(trials),
        "states": dict(states),
        "statuses": dict(statuses),
        "interrupted": sum(1 for t in trials if t.user_attrs.get("interrupted")),
        "families": dict(sorted(families.items())),
        "pareto": pareto_rows(study),
        "artifact_dir": study.user_attrs.get("artifact_dir"),
        "wall_seconds": (max(ends) - min(starts)).total_seconds() if starts and ends else None,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pareto_table(rows: list[dict[str, Any]], title: str = "Pareto set") -> Table:
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("no completed trial yet")
        return table
    metric_cols = [k for k in rows[0] if k not in ("trial", "family", "params")]
    for col in ["trial", "family", *metric_cols, "parameters"]:
        table.add_column(col, justify="right" if col in ("trial", *metric_cols) else "left")
    for r in rows:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
        table.add_row(str(r["trial"]), r["family"], *(_fmt(r[c]) for c in metric_cols), params)
    return table


def render_status(info: dict[str, Any], console: Console) -> None:
    task = info["task"] or {}
    task_text = " ".join(f"{k}={v}" for k, v in task.items()) if isinstance(task, dict) else str(task)
    console.print(f"[bold]study[/] {info['study']}  task {task_text}  space {info['space']}")
    objectives = ", ".join(f"{n} ({d})" for n, d in zip(info["metric_names"], info["directions"]))
    console.print(f"objectives: {objectives}")
    states = ", ".join(f"{v} {k.lower()}" for k, v in sorted(info["states"].items()))
    console.print(f"{info['trials']} trials: {states or 'none'}" + (
        f"  ({info['interrupted']} interrupted, re-queued)" if info["interrupted"] else ""))
    if info["statuses"]:
        console.print("run status: " + ", ".join(f"{v} {k}" for k, v in sorted(info["statuses"].items())))
    if info["wall_seconds"] is not None:
        console.print(f"wall time: {info['wall_seconds']:.0f} s")
    fams = Table(title="families", title_justify="left")
    for col in ("family", "trials", "complete", f"best {info['metric_names'][0] if info['metric_names'] else 'value'}"):
        fams.add_column(col, justify="left" if col == "family" else "right")
    for name, f in info["families"].items():
        fams.add_row(name, str(f["trials"]), str(f["complete"]), "-" if f["best"] is None else _fmt(f["best"]))
    console.print(fams)
    console.print(pareto_table(info["pareto"]))
    if info["artifact_dir"]:
        console.print(f"artifacts: {info['artifact_dir']}")
