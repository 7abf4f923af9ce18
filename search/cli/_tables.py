"""The tables the command line prints from the library's data: Pareto set, status, confirmation."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pareto_table(rows: list[dict[str, Any]], title: str = "Pareto set") -> Table:
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("no completed trial yet")
        return table
    metric_cols = [k for k in rows[0] if k not in ("trial", "family", "prior", "params")]
    for col in ["trial", "family", *metric_cols, "parameters"]:
        table.add_column(col, justify="right" if col in ("trial", *metric_cols) else "left")
    for r in rows:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
        family = r["family"] + (f" (prior: {r['prior']})" if r.get("prior") else "")
        table.add_row(str(r["trial"]), family, *(_fmt(r[c]) for c in metric_cols), params)
    return table


def confirmation_lines(confirmation) -> list[str]:
    """Per confirmed cell, mean ± std of both objectives over its seeds, and the one-line answer
    "better than the best prior beyond the seed spread"."""
    names = confirmation.metric_names
    lines = [f"confirmed at the target of {confirmation.target_epochs} epochs ({confirmation.runs_dir}):"]
    base = confirmation.best_prior
    for cell in confirmation.cells:
        n = len(cell.finite(0))
        shown = ", ".join(f"{name} {cell.mean(k):.4g} ± {cell.std(k):.2g}" if n else f"{name} -" for k, name in enumerate(names))
        failed = f"; {len(cell.seeds) - n} run(s) did not complete ({', '.join(sorted(set(cell.statuses) - {'completed'}))})" \
            if n < len(cell.seeds) else ""
        lines.append(f"  {cell.label:<34} {shown}  (n = {n}){failed}")
    for cell in confirmation.cells:
        verdict = confirmation.verdict(cell)
        if verdict is not None:
            lines.append(f"{cell.label} better than the best prior, {base.label}, beyond the seed spread: "
                         f"{verdict.answer} ({verdict.detail})")
    if base is None:
        lines.append("no prior was confirmed: nothing to compare against (--warm-start paper adds the papers' cells)")
    return lines


def render_status(info: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]study[/] {info['study']}  task {info['task'] or '?'}  space {info['space']}", highlight=False)
    objectives = ", ".join(f"{n} ({d})" for n, d in zip(info["metric_names"], info["directions"]))
    console.print(f"objectives: {objectives}")
    if info["target_epochs"]:
        rungs = f"rungs at epoch(s) {', '.join(f'{r:g}' for r in info['rungs'])}" if info["rungs"] else "no early stopping"
        console.print(f"target: {info['target_epochs']} epochs (what the chosen cell is to be trained for); {rungs}")
    states = ", ".join(f"{v} {k.lower()}" for k, v in sorted(info["states"].items()))
    put_back = [f"{info['requeued']} interrupted"] * bool(info["requeued"]) + [f"{info['not_started']} not started"] * bool(info["not_started"])
    console.print(f"{info['trials']} trials: {states or 'none'}" + (f"  ({', '.join(put_back)}: re-queued)" if put_back else ""))
    if info["statuses"]:
        console.print("run status: " + ", ".join(f"{v} {k}" for k, v in sorted(info["statuses"].items())))
    if info["wall_seconds"] is not None:
        console.print(f"wall time: {info['wall_seconds']:.0f} s")
    metric = info["metric_names"][0] if info["metric_names"] else "value"
    fams = Table(title="families", title_justify="left")
    for col in ("family", "trials", "complete", "stopped", "furthest epoch", f"best {metric}"):
        fams.add_column(col, justify="left" if col == "family" else "right")
    for name, f in info["families"].items():
        fams.add_row(name, str(f["trials"]), str(f["complete"]), str(f["stopped"]),
                     "-" if f["furthest"] is None else f"{f['furthest']:g}", "-" if f["best"] is None else _fmt(f["best"]))
    console.print(fams)
    if info["priors"]:
        priors = Table(title="priors (the papers' cells, trained to the target)", title_justify="left")
        for col in ("trial", "prior", "state", "epochs", metric):
            priors.add_column(col, justify="left" if col in ("prior", "state") else "right")
        for p in info["priors"]:
            priors.add_row(str(p["trial"]), p["prior"], p["state"].lower(), "-" if p["epochs"] is None else f"{p['epochs']:g}",
                           "-" if not p["values"] else _fmt(p["values"][0]))
        console.print(priors)
    if info["fidelity"]:
        shown = [f"epoch {f['epoch']:g}: {_rho(f['spearman'])} (n = {f['trials']})" for f in info["fidelity"]]
        console.print(f"rung-to-target rank correlation (Spearman, trials that reached the target): {'; '.join(shown)}",
                      highlight=False)
    console.print(pareto_table(info["pareto"]))
    if info["confirmed"] is not None:
        for line in confirmation_lines(info["confirmed"]):
            console.print(line, highlight=False, soft_wrap=True)
    if info["artifact_dir"]:
        console.print(f"artifacts: {info['artifact_dir']}")


def _rho(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"
