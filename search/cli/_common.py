"""What every command shares: consoles, and turning momnas's deliberate errors into one line."""

import contextlib
import logging
import signal
import sys
import warnings

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup


def _console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and not at all into a file or pipe
    (rich would otherwise cut lines at 80 columns in the middle of values)."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, soft_wrap=True, width=max(probe.width, 240))


console = _console()
err_console = _console(stderr=True)

class _FlagsTakeNoValue:
    """Help without a value type beside a flag: Typer's panel shows `<bool>` beside `--help` and
    `--resume/--no-resume`, which take no value (an empty metavar shows nothing)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(_FlagsTakeNoValue, TyperCommand):
    """Every momnas command's class (`app.command(cls=Command)`)."""


class Group(_FlagsTakeNoValue, TyperGroup):
    """The class of momnas and of its command groups (`typer.Typer(cls=Group)`)."""


# Exit codes: a user's mistake 2; a signal 128 + its number (the shell's convention).
USER_ERROR = 2
EXIT_BY_SIGNAL = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


def fail(message: str, code: int = USER_ERROR) -> typer.Exit:
    """Print `error: message` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def quiet_libraries() -> None:
    """The command line shows its own progress: Optuna's per-trial logs and its experimental-API
    warnings are noise there (a library caller keeps Optuna's defaults)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.getLogger("search").setLevel(logging.WARNING)


@contextlib.contextmanager
def user_errors():
    """Run a command body: a MomnasError (the user's input, storage or cluster) becomes
    `error: ...` and exit code 2, as does an OSError of a full or read-only disk (naming the
    path); Ctrl-C exits 130 and SIGTERM 143. Any other exception is a bug in momnas and keeps
    its traceback (exit code 1), so that it is never mistaken for the user's mistake."""
    from optuna.exceptions import StorageInternalError

    from search.errors import MomnasError, disk_error

    try:
        yield
    except MomnasError as exc:
        raise fail(str(exc)) from None
    except StorageInternalError as exc:  # the database refused a write: full, read-only, or gone
        cause = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise fail(f"the study's storage could not be written ({cause}); free some space, make it writable, "
                   "or search into another --out / --storage; --resume goes on from what it kept") from None
    except OSError as exc:
        message = disk_error(exc)
        if message is None:
            raise
        raise fail(message) from None
    except KeyboardInterrupt as exc:
        err_console.print(str(exc) or "interrupted", highlight=False)
        sys.exit(EXIT_BY_SIGNAL.get(getattr(exc, "signal_name", "SIGINT"), EXIT_BY_SIGNAL["SIGINT"]))
