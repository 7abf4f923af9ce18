"""The `momnas` command line: each command parses its options and makes one call into the library.

Commands live one group per module beside this file and are registered here, in the order
a user meets them: look at the cells, train one, search many, then look at the results.
"""

import typer

from search.cli._common import Command, Group
from search.cli.bench import bench_command
from search.cli.cells import cells_command
from search.cli.reproduce import reproduce_command
from search.cli.results import dashboard_command, export_command, plot_command
from search.cli.search import confirm_command, search_command, status_command
from search.cli.spaces import spaces_app
from search.cli.train import train_command

app = typer.Typer(
    name="momnas",
    help="Search recurrent momentum cells for accuracy and gradient stability.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)

app.command("cells", cls=Command)(cells_command)
app.command("train", cls=Command)(train_command)
app.add_typer(spaces_app, name="spaces")
app.command("search", cls=Command)(search_command)
app.command("status", cls=Command)(status_command)
app.command("confirm", cls=Command)(confirm_command)
app.command("plot", cls=Command)(plot_command)
app.command("dashboard", cls=Command)(dashboard_command)
app.command("export", cls=Command)(export_command)
app.command("reproduce", cls=Command)(reproduce_command)
app.command("bench", cls=Command)(bench_command)
