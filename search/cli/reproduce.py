"""`momnas reproduce`: rerun a seed paper's experiment (a preset), then report ours beside the published numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from search.cli._common import console, err_console, fail, quiet_libraries, user_errors
from search.cli._progress import Progress
from search.errors import BadInput

_BUDGET = "budget"
_WHERE = "where it runs"


def reproduce_command(
    name: Annotated[Optional[str], typer.Argument(help="The preset (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the presets and exit.")] = False,
    budget: Annotated[str, typer.Option("--budget", help="Epochs per run, or 'full' for the published recipe's.", rich_help_panel=_BUDGET)] = "full",
    seeds: Annotated[int, typer.Option("--seeds", help="Training seeds per cell (mean ± std over them).", rich_help_panel=_BUDGET)] = 3,
    hidden: Annotated[Optional[int], typer.Option("--hidden", help="Train every cell at this hidden size instead of the published ones.", rich_help_panel=_BUDGET)] = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="A smoke run: 2 steps on 32 examples, hidden 8, T <= 32 (checks that everything runs).", rich_help_panel=_BUDGET)] = False,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Where MNIST lives (else $MOMNAS_DATA).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the runs and the report.", show_default="momnas-repro/NAME")] = None,
    gpus_per_run: Annotated[Optional[float], typer.Option("--gpus-per-run", help="GPUs per run; fractions pack runs on a GPU.", show_default="0.25 with a GPU, else 0", rich_help_panel=_WHERE)] = None,
    cpus_per_run: Annotated[float, typer.Option("--cpus-per-run", help="CPUs (and torch threads) per run.", rich_help_panel=_WHERE)] = 1.0,
    report_only: Annotated[bool, typer.Option("--report-only", help="Only rewrite the report from the runs already in --out.")] = False,
) -> None:
    """Reproduce a paper's table: train its cells by Ray Tune (resumable), write report.md and report.html."""
    from search import reproduce as repro

    quiet_libraries()
    with user_errors():
        if list_:
            console.print(_preset_table(repro.preset_rows()))
            return
        if name is None:
            raise BadInput("name a preset (momnas reproduce --list shows them)")
        repro.preset(name)
        folder = out if out is not None else Path("momnas-repro") / name
        if report_only:
            md, html = repro.report(folder)
            console.print(f"report: {md} and {html}")
            return
        options = dict(budget=repro.parse_budget(budget), seeds=seeds, hidden=hidden, data_dir=data_dir, tiny=tiny)
        planned = repro.plan(name, **options)
        sizes = sorted({run.hidden for run in planned.runs})
        console.print(f"{name}: {len(planned.runs)} runs ({len({(r.table, r.label) for r in planned.runs})} cells, "
                      f"n = {', '.join(map(str, sizes))}, {seeds} seed(s)), budget {planned.budget}; into {folder}",
                      highlight=False, soft_wrap=True)
        with Progress(err_console) as progress:
            result = repro.reproduce(name, out=folder, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run,
                                     listener=progress, **options)
    md, html = result["report"]
    console.print(md.read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print(f"report: {md} and {html}", soft_wrap=True)
    if result["failed"]:
        first = result["failed"][0]
        where = folder / "runs" / first / "error.txt"
        raise fail(f"{len(result['failed'])} run(s) or search(es) failed, first: {first}"
                   f"{f' ({where})' if where.is_file() else ''}; the same command retries them", code=1)


def _preset_table(rows) -> Table:
    table = Table(title="reproduction presets (momnas reproduce NAME): runs at 3 seeds, the published epochs",
                  title_justify="left", box=box.SIMPLE_HEAD)
    # A preset's name is what the user types: never wrapped; the prose columns wrap between words.
    table.add_column("preset", no_wrap=True)
    table.add_column("what", ratio=3)
    table.add_column("tables", ratio=2)
    for column in ("cells", "runs", "epochs"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        what = row["title"] + (" (runs `momnas search` per seed)" if row["search"] else "")
        table.add_row(row["name"], what, row["tables"], str(row["cells"]), str(row["runs"]), row["epochs"])
    return table
