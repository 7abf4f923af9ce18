"""`momnas spaces` lists the search spaces; `momnas spaces show NAME` prints one."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from search.cli._common import Command, Group, console, user_errors
from search.errors import bad_input

spaces_app = typer.Typer(help="The search spaces: list them, or show one (a name or a YAML file).", invoke_without_command=True,
                         cls=Group)


@spaces_app.callback()
def list_command(ctx: typer.Context) -> None:
    """List the named spaces."""
    if ctx.invoked_subcommand is not None:
        return
    import spaces

    table = Table(title="search spaces (momnas spaces show NAME)", title_justify="left")
    for col in ("name", "families", "description"):
        table.add_column(col)
    for name, space in spaces.list_spaces().items():
        table.add_row(name, str(len(space.families)), space.description)
    console.print(table)
    console.print("Your own: a YAML file (families, exclude, params), used as --space FILE.yaml.")


@spaces_app.command("show", cls=Command)
def show_command(
    name: Annotated[str, typer.Argument(help="A named space or a YAML space file.")],
    yaml_out: Annotated[bool, typer.Option("--yaml", help="Print it as a YAML space file (a start for your own).")] = False,
) -> None:
    """Print one space: its families and every parameter's range."""
    import yaml

    import spaces

    with user_errors(), bad_input():  # a space's name or YAML file is the user's input
        space = spaces.get_space(name)
        info = spaces.describe(space)
    if yaml_out:
        typer.echo(yaml.safe_dump(space.to_data(), sort_keys=False), nl=False)  # unwrapped: it must stay YAML
        return
    console.print(f"[bold]{info['name']}[/]: {info['description']}", highlight=False)
    console.print(f"{len(info['families'])} families:")
    for core, dynamics in info["by_core"].items():
        console.print(f"  {core:<11} {', '.join(dynamics)}", highlight=False)
    table = Table(title="parameters (trial name, drawn for, range)", title_justify="left")
    for col in ("parameter", "families", "range"):
        table.add_column(col)
    for row in info["params"]:
        table.add_row(row["param"], row["families"], row["range"])
    console.print(table)
