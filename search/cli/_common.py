"""What every command shares: consoles, and turning a user's mistake into a one-line error."""

import contextlib
import sys

import typer
from rich.console import Console


def _console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and not at all into a file or pipe
    (rich would otherwise cut lines at 80 columns in the middle of values)."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, soft_wrap=True, width=max(probe.width, 240))


console = _console()
err_console = _console(stderr=True)

# The errors momnas raises on purpose for bad input (validation raises ValueError; a missing or
# existing file its own kinds): one line, exit code 2. Anything else is a bug in momnas and
# keeps its traceback, exit code 1, so that it is not mistaken for the user's mistake.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError)
INTERRUPTED = 130  # the shell's exit code for SIGINT


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors():
    """Run a command body; a bad-input exception becomes `error: ...` and exit code 2, Ctrl-C exit code 130."""
    try:
        yield
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt as exc:
        err_console.print(str(exc) or "interrupted", highlight=False)
        sys.exit(INTERRUPTED)
