"""The errors momnas raises on purpose, under one root, as Optuna's `OptunaError` and Ray Tune's `TuneError`.

A `MomnasError` says what is wrong and how to fix it in one line: the command line prints it
as `error: ...` and exits with code 2. Any other exception is a bug (in momnas or below it)
and keeps its traceback, so that it is never mistaken for the user's mistake.

`BadInput` is also a `ValueError`, so code that catches `ValueError` around a config keeps working.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

__all__ = ["BadInput", "ClusterError", "MomnasError", "StorageError", "bad_input", "disk_error"]


class MomnasError(Exception):
    """Root of the errors momnas raises deliberately; the message is one line for the user."""


class BadInput(MomnasError, ValueError):
    """A config, flag, file, space or name that cannot work (nothing was started or written)."""


class StorageError(MomnasError):
    """A study's storage cannot be opened, read or written (missing, read-only, full, locked)."""


class ClusterError(MomnasError):
    """Ray could not be started or joined, or no node of it can run a trial."""


@contextlib.contextmanager
def bad_input(what: str | None = None) -> Iterator[None]:
    """Treat the validation errors of `runs`, `cells` and `spaces` raised in the block as the
    user's input errors (`BadInput`), prefixed with `what` (e.g. a file's name) where given.

    Those packages raise `ValueError` for a bad config and `FileNotFoundError` for a missing
    file; they know nothing of momnas's errors, so the search says at its boundary which
    errors came from what the user gave.
    """
    try:
        yield
    except MomnasError:
        raise
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        message = str(exc)
        if what and not message.startswith(what):
            message = f"{what}: {message}"
        raise BadInput(message) from None


def disk_error(exc: OSError) -> str | None:
    """One line for an OSError of a full, read-only or unwritable place, or of a path too long
    (None for other errors)."""
    where = exc.filename or "the output folder"
    if exc.errno == errno.ENAMETOOLONG:
        return f"cannot write {str(where)[:80]}...: the name is longer than this filesystem allows; choose a shorter path"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG):
        return f"cannot write {where}: {exc.strerror or exc}; free some space or choose a writable --out"
    return None
