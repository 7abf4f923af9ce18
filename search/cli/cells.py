"""`momnas cells`: the cores and dynamics a cell is made of, with their parameters, ranges and defaults."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from search.cli._common import console, user_errors
from search.errors import BadInput


def cells_command(
    name: Annotated[Optional[str], typer.Argument(help="Show one core or dynamics only (e.g. lstm, momentum).")] = None,
) -> None:
    """List the cell families: every core and dynamics, its parameters, their ranges and defaults."""
    with user_errors():
        import cells

        families = cells.families()
        if name is not None:
            known = [f.name for f in families]
            if name not in known:
                raise BadInput(f"cells: {name!r} is not a core or a dynamics; choose one of {', '.join(known)}")
            families = [f for f in families if f.name == name]
        for kind, title in (("dynamics", "dynamics (filters over the input projection g = W x + b)"),
                            ("core", "cores")):
            rows = [f for f in families if f.kind == kind]
            if rows:
                console.print(_table(title, rows))
        if name is None:
            console.print("A cell is a dynamics applied to a core: CellConfig(core=..., dynamics=..., input_size=..., "
                          "hidden_size=..., <parameters>); every pair works except nag_form='paper' with gru.")


def _table(title: str, families) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("family", "parameter", "type", "range", "default", "help"):
        table.add_column(column, overflow="fold")
    for family in families:
        table.add_row(f"[bold]{family.name}[/]", "", "", "", "", escape(family.help))
        for p in family.params:
            table.add_row("", p.name, p.type.__name__, p.range, "auto" if p.default is None else str(p.default),
                          escape(p.help))
    return table
