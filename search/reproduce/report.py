"""The report of a reproduction: data first (`report_info`), then the same blocks of text and
tables as Markdown (`markdown`) and as an HTML page with plotly figures (`html_page`).

Everything is read from OUT: plan.json (what was planned, the run configurations that ran and
the published numbers), each run's metrics.json / curves.json / host.json, and for a search
preset search/claim.json (its budget, what it spent, its confirmation). Runs still missing are
counted, never invented.
The report says what ran (task sizes, budget, seeds, hardware, time measured) and sets ours
against the published number only where the task that ran is the published one.
"""

from __future__ import annotations

import html
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from cells.io import atomic_write
from search.reproduce._claim import read_claim
from search.reproduce._execute import ERROR_FILE, HOST_FILE, read_plan
from search.reproduce._presets import preset

REPORT_MD = "report.md"
REPORT_HTML = "report.html"

# How each task metric is shown: accuracy in % (as the papers print it), losses as they are.
_SHOWN = {"accuracy": ("test accuracy (%)", 100.0), "mse": ("test MSE", 1.0), "cross_entropy": ("test cross-entropy", 1.0)}
# Task options that say where the data live or how they are drawn, not what the task is.
_NOT_THE_TASK = ("seed", "data_dir")
_SIZES = ("n_train", "n_val", "n_test")


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """The mean, and the standard deviation where there are two values or more (else None)."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _run_files(out: Path, run: dict[str, Any]) -> dict[str, Any]:
    folder = out / "runs" / run["id"]
    return {"metrics": _read(folder / "metrics.json"), "curves": _read(folder / "curves.json"),
            "host": _read(folder / HOST_FILE), "failed": (folder / ERROR_FILE).is_file()}


def _published_tasks(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table name -> the task its published numbers are for (from the preset; {} for a preset gone since)."""
    try:
        return {t["name"]: t["task"] for t in preset(plan["preset"])["tables"]}
    except ValueError:
        return {}


def _task_changes(ran: dict[str, Any], published: dict[str, Any] | None) -> list[str]:
    """How the task that ran departs from the published one, in words ("T = 32, not 1000")."""
    if published is None:
        return []
    changes = [f"{key} = {ran.get(key)}, not {value}" for key, value in published.items()
               if key not in _NOT_THE_TASK and ran.get(key) != value]
    if any(key in ran and key not in published for key in _SIZES):
        changes.append("a subset of the data, not the full sets")
    return changes


def _recipe(train: dict[str, Any]) -> str:
    """A run's training in a few words: "rmsprop lr 0.001, batch 16, clip 1, 2 steps"."""
    words = [f"{train.get('optimizer')} lr {train.get('lr'):g}"]
    if train.get("orthogonal_lr") is not None:
        words[0] += f" (orthogonal {train['orthogonal_lr']:g})"
    words.append(f"batch {train.get('batch_size')}")
    if train.get("clip") is not None:
        words.append(f"clip {train['clip']:g}")
    words.append(f"{train['steps']} steps" if train.get("steps") else f"{train.get('epochs')} epochs")
    return ", ".join(words)


def report_info(out: str | Path) -> dict[str, Any]:
    """The whole report as plain data: what ran per table, one row per (table, cell, hidden
    size), curves, time and hardware, and the search's answer for a search preset."""
    out = Path(out)
    plan = read_plan(out)
    published_tasks = _published_tasks(plan)
    groups: dict[tuple, list] = defaultdict(list)
    for run in plan["runs"]:
        groups[(run["table"], run["label"], run["hidden"])].append((run, _run_files(out, run)))
    rows, curves, hardware, tables = [], {}, set(), {}
    gpu_seconds = cpu_seconds = 0.0
    for (table, label, hidden), members in groups.items():
        done = [(run, files) for run, files in members if files["metrics"] is not None]
        completed = [files for _, files in done if files["metrics"]["status"] == "completed"]
        metric = next((files["metrics"]["metric"] for _, files in done), None)
        scale = _SHOWN.get(metric, (None, 1.0))[1]
        tests = [files["metrics"]["test"][metric] * scale for files in completed]
        ratios = [files["metrics"]["stability"]["grad_ratio_log10"] for files in completed
                  if files["metrics"]["stability"]["grad_ratio_log10"] is not None]
        seconds = [files["metrics"]["seconds"] for _, files in done]
        # GPU-seconds per epoch of one run (seconds times the GPU share), for the cost of the full budget.
        per_epoch = [files["metrics"]["seconds"] * ((files["host"] or {}).get("gpus") or 0) / files["metrics"]["epochs"]
                     for _, files in done if files["metrics"]["epochs"]]
        for _, files in done:
            host = files["host"] or {}
            hardware.add(host.get("hardware", "unknown"))
            share = host.get("gpus") or 0
            gpu_seconds += files["metrics"]["seconds"] * share
            cpu_seconds += files["metrics"]["seconds"] if not share else 0.0
        first = members[0][0]
        config = first["config"]
        if table not in tables:
            ran_task = config["task"]
            tables[table] = {"name": table, "task": ran_task, "published_task": published_tasks.get(table),
                             "changes": _task_changes(ran_task, published_tasks.get(table)), "metric": metric,
                             "full_epochs": (plan.get("full_epochs") or {}).get(table), "recipes": {},
                             "baseline": None}
        entry = tables[table]
        entry["metric"] = entry["metric"] or metric
        entry["recipes"].setdefault(_recipe(config["train"]), []).append(label)
        baselines = [files["metrics"]["baseline"] * scale for _, files in done if files["metrics"].get("baseline") is not None]
        if baselines and entry["baseline"] is None:
            entry["baseline"] = statistics.fmean(baselines)
        mean, std = _mean_std(tests)
        ratio_mean, _ = _mean_std(ratios)
        rows.append({
            "table": table, "label": label, "hidden": hidden, "metric": metric,
            "planned": len(members), "done": len(done), "completed": len(completed),
            "diverged": sum(files["metrics"]["status"] == "diverged" for _, files in done),
            "failed": sum(files["failed"] and files["metrics"] is None for _, files in members),
            "test": tests, "mean": mean, "std": std,
            "published": first["published"], "published_hidden": first["published_hidden"], "note": first["note"],
            "comparable": not entry["changes"],
            "grad_ratio_log10": ratio_mean,
            "epochs": max((files["metrics"]["epochs"] for _, files in done), default=None),
            "steps": max((files["metrics"]["steps"] for _, files in done if files["metrics"].get("steps") is not None), default=None),
            "seconds_per_run": statistics.fmean(seconds) if seconds else None,
            "gpu_seconds_per_epoch": statistics.fmean(per_epoch) if per_epoch else None,
        })
        curves[(table, label, hidden)] = _mean_curves([files["curves"] for files in completed if files["curves"]], metric)
    info = {"plan": {k: v for k, v in plan.items() if k != "runs"}, "tables": list(tables.values()), "rows": rows, "curves": curves,
            "hardware": sorted(hardware), "gpu_seconds": gpu_seconds, "cpu_seconds": cpu_seconds,
            "runs_planned": len(plan["runs"]), "runs_done": sum(r["done"] for r in rows),
            "hidden": sorted({r["hidden"] for r in rows}), "full_gpu_hours": _full_cost(plan, rows)}
    if plan.get("search"):
        info["search"] = _search_info(out, plan, rows)
    return info


def _full_cost(plan: dict[str, Any], rows: list[dict]) -> float | None:
    """GPU-hours the published epochs would take for the planned cells, sizes and seeds, from the
    GPU-seconds per epoch measured here (None when a row has no GPU measurement)."""
    full = plan.get("full_epochs") or {}
    total = 0.0
    for row in rows:
        if not row["gpu_seconds_per_epoch"] or row["table"] not in full:
            return None
        total += row["gpu_seconds_per_epoch"] * full[row["table"]] * row["planned"]
    return total / 3600


def _mean_curves(curves: list[dict], metric: str | None) -> dict[str, list[float]]:
    """Validation metric and grad_ratio_log10 against epochs, averaged over the seeds that have them."""
    if not curves or metric is None:
        return {}
    n = min(len(c["epoch"]) for c in curves)
    mean = {}
    for key in ("epoch", f"val_{metric}", "grad_ratio_log10"):
        columns = [[c[key][i] for c in curves if c.get(key) and c[key][i] is not None] for i in range(n)]
        mean[key] = [statistics.fmean(col) if col else None for col in columns]
    return mean


def _search_info(out: Path, plan: dict[str, Any], rows: list[dict]) -> dict[str, Any]:
    """The claim: the budget and what was spent, the confirmed cells, and the confirmed best cell
    against the best prior, the hand-picked cell and each other planned cell, by one rule
    (search.confirm.compare: beyond the seed spread when the intervals mean ± std do not overlap)."""
    from search.confirm import Confirmation, ConfirmedCell, compare

    search, claim = plan["search"], read_claim(out) or {}
    info: dict[str, Any] = {"space": search["space"], "epochs": search["epochs"], "budget_runs": search["budget_runs"],
                            "confirm": search["confirm"], "seeds": search["seeds"], "claim": claim, "verdicts": []}
    if not claim.get("confirmed"):
        return info
    confirmation = Confirmation.from_dict(claim["confirmed"])
    names, maximize = confirmation.metric_names, confirmation.maximize
    baselines = []
    for label in dict.fromkeys(run["label"] for run in plan["runs"]):
        values, seeds, statuses = [], [], []
        for run in (r for r in plan["runs"] if r["label"] == label):
            metrics = _run_files(out, run)["metrics"]
            if metrics is not None:
                seeds.append(run["seed"])
                statuses.append(metrics["status"])
                ok = metrics["status"] == "completed"
                values.append((metrics["validation"][metrics["metric"]], metrics["stability"]["instability"] or math.nan)
                              if ok else (math.nan, math.nan))
        baselines.append(ConfirmedCell(trial=-1, family=label, prior=label, seeds=tuple(seeds), values=tuple(values),
                                       statuses=tuple(statuses), search_values=None))
    best = confirmation.best()
    info.update(confirmation=confirmation, baselines=baselines, best=best)
    if best is not None:
        verdict = confirmation.verdict(best)
        if verdict is not None:
            info["verdicts"].append((f"than the best prior, {confirmation.best_prior.label}", verdict))
        for base in baselines:
            info["verdicts"].append((f"than {base.family}", compare(best, base, names, maximize)))
    return info


def _spread(mean: float, std: float | None, n: int, digits: int | None = None) -> str:
    """`91.00 ± 1.00` for several seeds, `91.00 (n = 1)` for one (a single run has no spread);
    without `digits`, 4 significant digits and no "(n = 1)" (the sentence gives the counts)."""
    number = (lambda v: f"{v:.{digits}f}") if digits is not None else (lambda v: f"{v:.4g}")
    if std is None or n < 2:
        return f"{number(mean)} (n = {n})" if digits is not None else number(mean)
    return f"{number(mean)} ± {f'{std:.{digits}f}' if digits is not None else f'{std:.2g}'}"


# ---------------------------------------------------------------------------- blocks of text
# A report is a list of blocks, rendered as Markdown and as HTML alike:
# ("h1" | "h2" | "p", text), ("ul", [text, ...]), ("table", header, rows), ("figure", table name).


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    """Seconds as a reader takes them in: 0.093 s, 14 s, 12 min, 3.1 h."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _published(row: dict[str, Any]) -> str:
    value = row["published"]
    if value is None:
        return "–"
    text = f"{value:.2f}" if isinstance(value, (int, float)) else str(value)
    return text if row["published_hidden"] == row["hidden"] else f"{text} (n={row['published_hidden']})"


def _difference(row: dict[str, Any]) -> str:
    if not row["comparable"] or not isinstance(row["published"], (int, float)) or row["mean"] is None:
        return "–"
    return f"{row['mean'] - row['published']:+.2f}"


def _task_text(task: dict[str, Any], *, sizes: bool = True) -> str:
    """A task in words: "copying, T = 32, 32 / 16 / 16 training / validation / test examples"."""
    words = [task["name"]] + [f"{k} = {v}" for k, v in task.items() if k not in ("name", *_NOT_THE_TASK, *_SIZES)]
    if sizes and any(k in task for k in _SIZES):
        words.append(" / ".join(str(task.get(k, "all")) for k in _SIZES) + " training / validation / test examples")
    elif sizes:
        words.append("the task's full training / validation / test sets")
    return ", ".join(words)


def _what_ran(info: dict[str, Any]) -> list[str]:
    plan = info["plan"]
    gpu, cpu = info["gpu_seconds"], info["cpu_seconds"]
    spent = []
    if gpu:
        spent.append(f"{gpu:.0f} GPU-seconds ({gpu / 3600:.2f} GPU-hours; each run's seconds times its GPU share)")
    if cpu or not gpu:
        spent.append(f"{_duration(cpu)} on CPUs only")
    seeds = "training seed 0" if plan["seeds"] == 1 else f"training seeds 0 to {plan['seeds'] - 1}"
    items = [f"Budget: {plan['budget']}; seeds: {plan['seeds']} per cell ({seeds}); "
             f"hidden size {', '.join(map(str, info['hidden'])) or '–'}.",
             f"Runs finished: {info['runs_done']} of {info['runs_planned']}.",
             f"Hardware: {', '.join(info['hardware']) or 'no run finished yet'}.",
             f"Training time measured: {' and '.join(spent)}."]
    if info["full_gpu_hours"] is not None:
        items.append(f"The published epochs ({', '.join(f'{k}: {v}' for k, v in plan['full_epochs'].items())}) for these cells, "
                     f"sizes and seeds would take about {info['full_gpu_hours']:.1f} GPU-hours on this hardware "
                     "(measured GPU-seconds per epoch times the epochs; `--budget full`).")
    return items


def _table_blocks(table: dict[str, Any], rows: list[dict]) -> list[tuple]:
    metric = table["metric"] or "accuracy"
    shown, _ = _SHOWN.get(metric, (metric, 1.0))
    digits = 2 if metric == "accuracy" else 4
    ran = [f"Task: {_task_text(table['task'])}."]
    recipes = table["recipes"]
    trained = (next(iter(recipes)) if len(recipes) == 1
               else "; ".join(f"{recipe} ({', '.join(labels)})" for recipe, labels in recipes.items()))
    ran.append(f"Training: {trained}" + (f"; the published recipe trains {table['full_epochs']} epochs." if table["full_epochs"] else "."))
    if table["baseline"] is not None:
        ran.append(f"The task's baseline (a model that learns nothing) at this size: {table['baseline']:.4g}.")
    if table["changes"]:
        published = _task_text(table["published_task"], sizes=False)
        ran.append(f"The published numbers are for {published}; these runs differ ({'; '.join(table['changes'])}), "
                   "so ours − published is left out: the published numbers and claims hold for the published task only.")
    header = ["cell", "n", f"{shown}, mean ± std", "seeds done", "published", "ours − published", "grad_ratio_log10",
              "epochs", "steps", "time per run"]
    body = []
    for row in rows:
        ours = "–" if row["mean"] is None else _spread(row["mean"], row["std"], len(row["test"]), digits)
        seeds = f"{row['completed']}/{row['planned']}"
        if row["diverged"]:
            seeds += f" ({row['diverged']} diverged)"
        if row["failed"]:
            seeds += f" ({row['failed']} failed)"
        body.append([row["label"], str(row["hidden"]), ours, seeds, _published(row), _difference(row),
                     _fmt(row["grad_ratio_log10"], 1), "–" if row["epochs"] is None else f"{row['epochs']:g}",
                     "–" if row["steps"] is None else str(row["steps"]), _duration(row["seconds_per_run"])])
    blocks = [("h2", table["name"]), ("ul", ran), ("table", header, body)]
    notes = list(dict.fromkeys(f"{r['label']}: {r['note']}" for r in rows if r["note"]))
    if notes:
        blocks.append(("ul", notes))
    blocks.append(("figure", table["name"]))
    return blocks


def blocks(info: dict[str, Any]) -> list[tuple]:
    """The report as blocks of text and tables (what `markdown` and `html_page` render)."""
    plan = info["plan"]
    out = [("h1", plan["title"]), ("p", f"Preset {plan['preset']}. Source: {plan['source']}."),
           ("h2", "What ran"), ("ul", _what_ran(info))]
    claims = plan.get("claims") or []
    if claims:
        out += [("p", "The published claims (for the published tasks and sizes):"), ("ul", list(claims))]
    by_table: dict[str, list] = defaultdict(list)
    for row in info["rows"]:
        by_table[row["table"]].append(row)
    for table in info["tables"]:
        out += _table_blocks(table, by_table[table["name"]])
    if "search" in info:
        out += _search_blocks(info["search"])
    return out


def _search_blocks(search: dict[str, Any]) -> list[tuple]:
    claim = search["claim"]
    lines = [("h2", "The search and its confirmation"),
             ("p", f"momnas search --space {search['space']} --epochs {search['epochs']} --warm-start paper "
                   f"--confirm {search['confirm']} --confirm-seeds {search['seeds']}: the papers' cells as priors, early "
                   f"stopping towards the target of {search['epochs']} epochs, given at most {search['budget_runs']} "
                   "hand-picked runs' GPU time for the search and the confirmation together.")]
    if not claim:
        return lines + [("p", "Not run yet: the same command runs it after the hand-picked runs.")]
    budget, spent = claim["budget_gpu_seconds"], (claim["search_seconds"] + claim["confirm_seconds"]) * claim["devices"]
    lines.append(("ul", [
        f"Budget: {search['budget_runs']} x {_duration(claim['hand_picked_gpu_seconds'])} (one hand-picked run, trained "
        f"alone) = {_duration(budget)} of GPU time.",
        f"Spent: search {_duration(claim['search_seconds'])}, confirmation {_duration(claim['confirm_seconds'])} on "
        f"{claim['devices']} device(s): {_duration(spent)}, {spent / budget:.0%} of the budget, in {claim['calls']} call(s).",
    ]))
    confirmation = search.get("confirmation")
    if confirmation is None:
        return lines + [("p", "Nothing confirmed yet.")]
    names = confirmation.metric_names
    header = ["cell", "seeds", f"{names[0]} (validation)", names[1], "the search's own run"]
    body = []
    for cell in [*confirmation.cells, *search["baselines"]]:
        n = len(cell.finite(0))
        label = cell.label if cell.trial >= 0 else f"{cell.family} (planned, trained to the target)"
        own = "–" if not cell.search_values else f"{cell.search_values[0]:.4g} / {cell.search_values[1]:.3g}"
        body.append([label, str(n), _spread(cell.mean(0), cell.std(0), n, 4) if n else "–",
                     _spread(cell.mean(1), cell.std(1), len(cell.finite(1)), 3) if cell.finite(1) else "–", own])
    lines.append(("table", header, body))
    best = search["best"]
    if best is not None:
        lines.append(("p", f"The confirmed answer (the knee of the confirmed cells' means): {best.label}"
                           + (", the best prior itself: within this budget the search confirmed no other cell nearer the knee"
                              if best is confirmation.best_prior else "")
                           + ". Better beyond the seed spread (the intervals mean ± std do not overlap; yes / no / no difference):"))
        lines.append(("ul", [f"{than}: {verdict.answer} ({verdict.detail})" for than, verdict in search["verdicts"]]))
    return lines


def markdown(info: dict[str, Any]) -> str:
    """The report as Markdown: what ran, one table per task with its notes, and the search's answer."""
    lines: list[str] = []
    for block in blocks(info):
        kind = block[0]
        if kind == "h1":
            lines += [f"# {block[1]}", ""]
        elif kind == "h2":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            _, header, body = block
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in body] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- HTML


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.figure { margin: 1em 0 2em; }
"""


def _cell(text: str, *, numeric: bool) -> str:
    return f"<td class='num'>{html.escape(text)}</td>" if numeric else f"<td>{html.escape(text)}</td>"


def _is_number(text: str) -> bool:
    """A cell that starts with a number ("91.00 ± 1.00", "0.1 s") or is empty ("–"): set right-aligned."""
    head = text.split(" ")[0].lstrip("+-−")
    return bool(head) and (head.replace(".", "", 1).isdigit() or head == "–")


def html_page(info: dict[str, Any], figures: dict[str, Any] | None = None) -> str:
    """The report as one HTML page: the blocks as headings, lists and tables, each table's
    figure (plotly, loading plotly.min.js from beside the page) after it."""
    figures = figures or {}
    parts = []
    for block in blocks(info):
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            _, header, body = block
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            rows = "".join("<tr>" + "".join(_cell(c, numeric=i > 0 and _is_number(c)) for i, c in enumerate(row)) + "</tr>" for row in body)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "figure" and block[1] in figures:
            div = figures[block[1]].to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})
            parts.append(f"<div class='figure'>{div}</div>")
    title = html.escape(info["plan"]["title"] + f" — reproduction ({info['plan']['budget']})")
    return ("<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            f"<title>{title}</title>\n<style>{_CSS}</style>\n<script src='plotly.min.js'></script>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def figures(info: dict[str, Any]) -> dict[str, Any]:
    """Table name -> its plotly figure: per cell, the validation metric and grad_ratio_log10
    against epochs (mean over seeds), or where every run evaluated once, those values per cell."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    by_table: dict[str, list] = defaultdict(list)
    for (table, label, hidden), curve in info["curves"].items():
        if curve:
            by_table[table].append((f"{label} n={hidden}", curve))
    tables = {t["name"]: t for t in info["tables"]}
    figs = {}
    for table, entries in by_table.items():
        metric = next(k for _, c in entries for k in c if k.startswith("val_"))
        shown, scale = _SHOWN.get(metric.removeprefix("val_"), (metric, 1.0))
        shown = shown.removeprefix("test ")
        once = all(len(c["epoch"]) <= 1 for _, c in entries)
        fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
            f"validation {shown}" + ("" if once or info["plan"]["seeds"] == 1 else " (mean over seeds)"),
            "grad_ratio_log10 = log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖)"))
        for i, (name, curve) in enumerate(entries):
            color = f"hsl({(i * 67) % 360},65%,45%)"
            values = [None if v is None else v * scale for v in curve[metric]]
            if once:  # one evaluation per run: a point per cell, not a line
                fig.add_trace(go.Scatter(x=values, y=[name], name=name, mode="markers", marker={"color": color, "size": 11},
                                         showlegend=False), row=1, col=1)
                fig.add_trace(go.Scatter(x=curve["grad_ratio_log10"], y=[name], name=name, mode="markers",
                                         marker={"color": color, "size": 11}, showlegend=False), row=1, col=2)
                continue
            fig.add_trace(go.Scatter(x=curve["epoch"], y=values, name=name, legendgroup=name,
                                     mode="lines+markers", line={"color": color}), row=1, col=1)
            fig.add_trace(go.Scatter(x=curve["epoch"], y=curve["grad_ratio_log10"], name=name, legendgroup=name,
                                     showlegend=False, mode="lines+markers", line={"color": color}), row=1, col=2)
        if once:
            fig.update_yaxes(autorange="reversed", row=1, col=1)
            fig.update_yaxes(autorange="reversed", showticklabels=False, row=1, col=2)
            fig.update_xaxes(title_text=f"validation {shown}", row=1, col=1)
            fig.update_xaxes(title_text="grad_ratio_log10", row=1, col=2)
        else:
            last = max(e for _, c in entries for e in c["epoch"] if e is not None)
            fig.update_xaxes(title_text="epoch", dtick=1 if last <= 12 else None)
        ran = _task_text(tables[table]["task"]) if table in tables else table
        when = "after its one evaluation" if once else "after each epoch"
        height = 200 + 45 * len(entries) if once else 460
        fig.update_layout(title={"text": f"{table}<br><sup>as run: {ran}; {when}</sup>"}, height=height, template="plotly_white")
        figs[table] = fig
    return figs


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write OUT/report.md and OUT/report.html (plotly.min.js beside it); returns both paths."""
    import plotly.offline

    out = Path(out)
    info = report_info(out)
    md = out / REPORT_MD
    _write_text(md, markdown(info))
    js = out / "plotly.min.js"
    bundle = plotly.offline.get_plotlyjs()
    if not js.is_file() or js.read_text(encoding="utf-8", errors="replace") != bundle:  # absent, cut short, or another plotly's
        _write_text(js, bundle)
    page = out / REPORT_HTML
    _write_text(page, html_page(info, figures(info)))
    return md, page


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
