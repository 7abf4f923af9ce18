"""What every command shares: consoles, and turning a user's mistake into a one-line error."""

import contextlib
import sys

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

# Errors that mean "the input is wrong", as opposed to a bug: shown as one line, exit code 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, KeyError, TypeError)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors():
    """Run a command body; a bad-input exception becomes `error: ...` and exit code 2."""
    try:
        yield
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise fail(str(message)) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
