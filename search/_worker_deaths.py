"""A trial whose Ray worker died (kill -9, the OOM killer, a segfault) as one line, as other
failed trials get, instead of Ray's 20-line ActorDiedError traceback.

Tune logs such a trial's failure with the traceback (the `ray.tune.execution.tune_controller`
logger) and, in the same call, tells the searcher the trial ended in error without a result;
at the end it logs "Trials did not complete: [trainable_...]" (`ray.tune.tune`). `WorkerDeaths`
is a logging filter on those two loggers: it drops exactly these records and keeps the death's
reason for the searcher, which records it as the trial's error and prints the trial's line.
Every other record, including other trial errors, passes unchanged.
"""

from __future__ import annotations

import logging
import re

from ray.exceptions import RayActorError

LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.tune")
_TRIAL_FAILED = "Trial task failed for trial "


_EXIT = re.compile(r"Worker exit type: (\S+) Worker exit detail: (.*)")


def reason(exc: BaseException) -> str:
    """One line: Ray's message is a header, tab-indented actor details and then why it died
    ("... Worker exit type: SYSTEM_ERROR Worker exit detail: ..."), the part kept."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith("\t")]
    why = lines[-1] if len(lines) > 1 else (lines[0] if lines else "")
    ended = _EXIT.search(why)
    kind = f"{type(exc).__name__}, {ended[1]}" if ended else type(exc).__name__
    return f"its worker died ({kind}): {ended[2] if ended else why}".rstrip(": ")


class WorkerDeaths(logging.Filter):
    """Drops Tune's logs of trials whose worker died and keeps each death's reason until the
    searcher takes it (`take`). Use as a context manager: on the Ray loggers while it is open."""

    def __init__(self) -> None:
        super().__init__()
        self._died: set[str] = set()  # Tune's trial names, for its "did not complete" summary
        self._latest: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RayActorError) and isinstance(record.msg, str) and record.msg.startswith(_TRIAL_FAILED):
            self._died.add(record.msg[len(_TRIAL_FAILED):])
            self._latest = reason(exc)
            return False
        if record.msg == "Trials did not complete: %s" and record.args:
            # Each of them already has its line; others (e.g. left pending by Ctrl-C) keep this one.
            return not all(str(trial) in self._died for trial in record.args[0])
        return True

    def take(self) -> str | None:
        """The reason of the death Tune logged last, once: Tune tells the searcher of a failed
        trial right after logging it (TuneController._process_trial_failure), in one thread."""
        latest, self._latest = self._latest, None
        return latest

    def __enter__(self) -> "WorkerDeaths":
        for name in LOGGERS:
            logging.getLogger(name).addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)
