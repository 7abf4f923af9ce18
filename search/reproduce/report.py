"""The report of a reproduction: data first (`report_info`), then Markdown and plotly HTML.

Everything is read from OUT: plan.json (what was planned and the published numbers), each
run's metrics.json / curves.json / host.json, and for a search preset each seed's
search/seedN/trials.json. Runs still missing are counted, never invented.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from search.reproduce._claim import TRIALS_FILE, search_dir
from search.reproduce._execute import ERROR_FILE, HOST_FILE, read_plan

REPORT_MD = "report.md"
REPORT_HTML = "report.html"

# How each task metric is shown: accuracy in % (as the papers print it), losses as they are.
_SHOWN = {"accuracy": ("test accuracy (%)", 100.0), "mse": ("test MSE", 1.0), "cross_entropy": ("test cross-entropy", 1.0)}


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _run_files(out: Path, run: dict[str, Any]) -> dict[str, Any]:
    folder = out / "runs" / run["id"]
    return {"metrics": _read(folder / "metrics.json"), "curves": _read(folder / "curves.json"),
            "host": _read(folder / HOST_FILE), "failed": (folder / ERROR_FILE).is_file()}


def report_info(out: str | Path) -> dict[str, Any]:
    """The whole report as plain data: one row per (table, cell, hidden size), curves, budget, search."""
    out = Path(out)
    plan = read_plan(out)
    groups: dict[tuple, list] = defaultdict(list)
    for run in plan["runs"]:
        groups[(run["table"], run["label"], run["hidden"])].append((run, _run_files(out, run)))
    rows, curves, hardware = [], {}, set()
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
        mean, std = _mean_std(tests)
        ratio_mean, _ = _mean_std(ratios)
        rows.append({
            "table": table, "label": label, "hidden": hidden, "metric": metric,
            "planned": len(members), "done": len(done), "completed": len(completed),
            "diverged": sum(files["metrics"]["status"] == "diverged" for _, files in done),
            "failed": sum(files["failed"] and files["metrics"] is None for _, files in members),
            "test": tests, "mean": mean, "std": std,
            "published": first["published"], "published_hidden": first["published_hidden"], "note": first["note"],
            "grad_ratio_log10": ratio_mean,
            "epochs": max((files["metrics"]["epochs"] for _, files in done), default=None),
            "seconds_per_run": statistics.fmean(seconds) if seconds else None,
            "gpu_seconds_per_epoch": statistics.fmean(per_epoch) if per_epoch else None,
        })
        curves[(table, label, hidden)] = _mean_curves([files["curves"] for files in completed if files["curves"]], metric)
    info = {"plan": {k: v for k, v in plan.items() if k != "runs"}, "rows": rows, "curves": curves,
            "hardware": sorted(hardware), "gpu_seconds": gpu_seconds, "cpu_seconds": cpu_seconds,
            "full_gpu_hours": _full_cost(plan, rows)}
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
    """Per seed: the search's best trial by validation, against the hand-picked cell's run."""
    search = plan["search"]
    seeds = []
    for seed in range(search["seeds"]):
        trials = _read(search_dir(out, seed) / TRIALS_FILE) or []
        scored = [t for t in trials if t["state"] == "COMPLETE" and t.get("metrics") and t["metrics"].get("validation")]
        entry: dict[str, Any] = {"seed": seed, "trials": len(trials), "complete": len(scored),
                                 "seconds": sum((t.get("metrics") or {}).get("seconds", 0.0) for t in trials)}
        if scored:
            metric = scored[0]["metrics"]["metric"]
            sign = 1 if scored[0]["metrics"]["direction"] == "maximize" else -1
            best = max(scored, key=lambda t: sign * t["metrics"]["validation"][metric])
            scale = _SHOWN.get(metric, (None, 1.0))[1]
            entry.update(best={"number": best["number"], "family": best["family"], "params": best["params"],
                               "test": best["metrics"]["test"][metric] * scale,
                               "instability": best["metrics"]["stability"]["instability"]})
        seeds.append(entry)
    hand = _baseline_runs(out, plan)
    return {"space": search["space"], "trials": search["trials"], "epochs": search["epochs"], "seeds": seeds,
            "baseline": hand, "answer": _answer(seeds, hand)}


def _baseline_runs(out: Path, plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for run in plan["runs"]:
        metrics = _run_files(out, run)["metrics"]
        if metrics is None or metrics["status"] != "completed":
            continue
        scale = _SHOWN.get(metrics["metric"], (None, 1.0))[1]
        found.append({"seed": run["seed"], "label": run["label"], "test": metrics["test"][metrics["metric"]] * scale,
                      "instability": metrics["stability"]["instability"], "seconds": metrics["seconds"],
                      "epochs": metrics["epochs"]})
    return found


def _compare(ours: list[float], theirs: list[float], higher_is_better: bool, better: str, worse: str, same: str) -> str:
    """One sentence: is `ours` better than `theirs` beyond the seed spread (the two stds combined)?"""
    a, sa = _mean_std(ours)
    b, sb = _mean_std(theirs)
    if a is None or b is None:
        return "not answered: runs are missing"
    spread = math.hypot(sa or 0.0, sb or 0.0)
    diff = a - b if higher_is_better else b - a
    verdict = better if diff > spread else worse if diff < -spread else same
    numbers = f"{a:.4g} ± {sa:.2g} against {b:.4g} ± {sb:.2g}, {len(ours)} vs {len(theirs)} seeds"
    if min(len(ours), len(theirs)) < 2:
        numbers += "; one seed has no spread to judge the difference by"
    return f"{verdict} ({numbers})"


def _answer(seeds: list[dict], hand: list[dict]) -> dict[str, str]:
    found = [s["best"] for s in seeds if "best" in s]
    return {
        "accuracy": _compare([b["test"] for b in found], [h["test"] for h in hand], True,
                             "yes: the search's best cell is more accurate", "no: the hand-picked cell is more accurate",
                             "no difference beyond the seed spread"),
        "stability": _compare([b["instability"] for b in found if b["instability"] is not None],
                              [h["instability"] for h in hand if h["instability"] is not None], False,
                              "yes: the search's best cell is more stable (lower instability)",
                              "no: the hand-picked cell is more stable", "no difference beyond the seed spread"),
    }


# ---------------------------------------------------------------------------- Markdown


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _published(row: dict[str, Any]) -> str:
    value = row["published"]
    if value is None:
        return "–"
    text = f"{value:.2f}" if isinstance(value, (int, float)) else str(value)
    return text if row["published_hidden"] == row["hidden"] else f"{text} (n={row['published_hidden']})"


def _difference(row: dict[str, Any]) -> str:
    if not isinstance(row["published"], (int, float)) or row["mean"] is None:
        return "–"
    return f"{row['mean'] - row['published']:+.2f}"


def markdown(info: dict[str, Any]) -> str:
    """The report as Markdown: the budget, one table per task, notes, and the search's answer."""
    plan = info["plan"]
    lines = [f"# {plan['title']}", "", f"Preset `{plan['preset']}`. Source: {plan['source']}.", ""]
    hours = info["gpu_seconds"] / 3600
    lines += [f"- Budget: {plan['budget']}; seeds: {plan['seeds']} per cell.",
              f"- Hardware: {', '.join(info['hardware']) or 'no run finished yet'}.",
              f"- Training time: {info['gpu_seconds']:.0f} GPU-seconds ({hours:.2f} GPU-hours, each run's seconds "
              f"times its GPU share) and {info['cpu_seconds']:.0f} CPU-only seconds."]
    if info["full_gpu_hours"] is not None:
        lines.append(f"- The published epochs ({', '.join(f'{k}: {v}' for k, v in plan['full_epochs'].items())}) for these cells, "
                     f"sizes and seeds would take about {info['full_gpu_hours']:.1f} GPU-hours on this hardware "
                     "(measured GPU-seconds per epoch times the epochs; `--budget full`).")
    for claim in plan.get("claims") or []:
        lines.append(f"- Claim: {claim}")
    tables: dict[str, list] = defaultdict(list)
    for row in info["rows"]:
        tables[row["table"]].append(row)
    for name, rows in tables.items():
        metric = next((r["metric"] for r in rows if r["metric"]), "accuracy")
        shown, digits = _SHOWN.get(metric, (metric, 1.0))[0], (2 if metric == "accuracy" else 4)
        lines += ["", f"## {name}", "",
                  f"| cell | n | {shown}, mean ± std | seeds done | published | ours − published | grad_ratio_log10 | epochs | s per run |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            ours = "–" if row["mean"] is None else f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"
            seeds = f"{row['completed']}/{row['planned']}"
            if row["diverged"]:
                seeds += f" ({row['diverged']} diverged)"
            if row["failed"]:
                seeds += f" ({row['failed']} failed)"
            lines.append(f"| {row['label']} | {row['hidden']} | {ours} | {seeds} | {_published(row)} | {_difference(row)} | "
                         f"{_fmt(row['grad_ratio_log10'], 1)} | {_fmt(row['epochs'], 0) if row['epochs'] is not None else '–'} | "
                         f"{_fmt(row['seconds_per_run'], 0)} |")
        notes = [f"- {r['label']}: {r['note']}" for r in rows if r["note"]]
        if notes:
            lines += ["", *dict.fromkeys(notes)]
    if "search" in info:
        lines += _search_markdown(info["search"])
    return "\n".join(lines) + "\n"


def _search_markdown(search: dict[str, Any]) -> list[str]:
    lines = ["", "## The search against the hand-picked cell", "",
             f"`momnas search --space {search['space']}`: {search['trials']} trials of {search['epochs']} epoch(s) per seed; "
             f"the hand-picked cell trained {search['trials']} × {search['epochs']} epochs, the same number of training epochs.",
             "", "| seed | search: best trial (by validation) | its test metric | its instability | search seconds | "
             "hand-picked test metric | hand-picked instability | hand-picked seconds |", "|---|---|---|---|---|---|---|---|"]
    hand = {h["seed"]: h for h in search["baseline"]}
    for entry in search["seeds"]:
        best, h = entry.get("best"), hand.get(entry["seed"])
        found = "–" if best is None else f"#{best['number']} {best['family']} " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines.append(f"| {entry['seed']} | {found} | {_fmt(best and best['test'])} | {_fmt(best and best['instability'])} | "
                     f"{entry['seconds']:.0f} | {_fmt(h and h['test'])} | {_fmt(h and h['instability'])} | {_fmt(h and h['seconds'], 0)} |")
    lines += ["", f"- More accurate at equal cost? {search['answer']['accuracy']}.",
              f"- More stable at equal cost? {search['answer']['stability']}."]
    return lines


# ---------------------------------------------------------------------------- figures


def figures(info: dict[str, Any]) -> list:
    """One plotly figure per table: the validation metric and grad_ratio_log10 against epochs, per cell."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    by_table: dict[str, list] = defaultdict(list)
    for (table, label, hidden), curve in info["curves"].items():
        by_table[table].append((f"{label} n={hidden}", curve))
    figs = []
    for table, entries in by_table.items():
        metric = next((k for _, c in entries for k in c if k.startswith("val_")), "val_metric")
        shown, scale = _SHOWN.get(metric.removeprefix("val_"), (metric, 1.0))
        fig = make_subplots(rows=1, cols=2, subplot_titles=(
            f"validation {shown.removeprefix('test ')} against epochs (mean over seeds)",
            "grad_ratio_log10 = log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖)"))
        for i, (name, curve) in enumerate(entries):
            if not curve:
                continue
            color = f"hsl({(i * 67) % 360},65%,45%)"
            values = [None if v is None else v * scale for v in curve[metric]]
            fig.add_trace(go.Scatter(x=curve["epoch"], y=values, name=name, legendgroup=name,
                                     mode="lines+markers", line={"color": color}), row=1, col=1)
            fig.add_trace(go.Scatter(x=curve["epoch"], y=curve["grad_ratio_log10"], name=name, legendgroup=name,
                                     showlegend=False, mode="lines+markers", line={"color": color}), row=1, col=2)
        fig.update_xaxes(title_text="epoch")
        fig.update_layout(title=f"{info['plan']['title']}: {table}", height=460)
        figs.append(fig)
    return figs


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write OUT/report.md and OUT/report.html (plotly.min.js beside it); returns both paths."""
    import plotly.offline

    out = Path(out)
    info = report_info(out)
    text = markdown(info)
    md = out / REPORT_MD
    _atomic(md, text)
    parts = [fig.to_html(full_html=False, include_plotlyjs=False) for fig in figures(info)]
    js = out / "plotly.min.js"
    if not js.is_file():
        _atomic(js, plotly.offline.get_plotlyjs())
    from html import escape

    page = ("<!doctype html><html><head><meta charset='utf-8'><title>" + escape(info["plan"]["title"]) +
            "</title><script src='plotly.min.js'></script></head><body style='font-family:sans-serif'>"
            "<pre style='white-space:pre-wrap'>" + escape(text) + "</pre>" + "".join(parts) + "</body></html>\n")
    html = out / REPORT_HTML
    _atomic(html, page)
    return md, html


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
