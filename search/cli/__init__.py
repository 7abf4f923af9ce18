"""The `momnas` command line: each command parses its options and makes one call into the library.

Commands live one group per module beside this file and are registered here.
"""

import typer

app = typer.Typer(
    name="momnas",
    help="Search recurrent momentum cells for accuracy and gradient stability.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Registrations: one line per command module (keep this list sorted by workflow order).
from search.cli.results import dashboard_command, export_command, plot_command  # noqa: E402

app.command("plot")(plot_command)
app.command("dashboard")(dashboard_command)
app.command("export")(export_command)

from search.cli.bench import bench_command  # noqa: E402

app.command("bench")(bench_command)

from search.cli.search import search_command, status_command  # noqa: E402
from search.cli.spaces import spaces_app  # noqa: E402

app.command("search")(search_command)
app.command("status")(status_command)
app.add_typer(spaces_app, name="spaces")

from search.cli.cells import cells_command  # noqa: E402

app.command("cells")(cells_command)

from search.cli.train import train_command  # noqa: E402
app.command("train")(train_command)
