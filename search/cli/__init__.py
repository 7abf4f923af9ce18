"""The `momnas` command line: each command parses its options and makes one call into the library.

Commands live one group per module beside this file and are registered here, in the order
a user meets them: look at the cells, train one, search many, then look at the results.
"""

import typer

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
)

app.command("cells")(cells_command)
app.command("train")(train_command)
app.add_typer(spaces_app, name="spaces")
app.command("search")(search_command)
app.command("status")(status_command)
app.command("confirm")(confirm_command)
app.command("plot")(plot_command)
app.command("dashboard")(dashboard_command)
app.command("export")(export_command)
app.command("reproduce")(reproduce_command)
app.command("bench")(bench_command)
