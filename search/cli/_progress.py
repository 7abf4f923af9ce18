"""Live progress in the terminal (a search.Listener): a line per finished trial, and one live
status line: done, running, queued (drawn ahead, waiting for a slot), failed, stopped, best so far."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

ERROR_CHARS = 160  # a failed trial's error, first line, at most this long


def shorten(text: str, limit: int = ERROR_CHARS) -> str:
    """The first line of `text`, cut at a word boundary with an ellipsis when longer than `limit`."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else line[: limit - 1]) + "…"


class Progress:
    """Counts trials as the search reports them and shows one live status line (plus a line per trial)."""

    def __init__(self, console: Console | None = None):
        self.total = self.done = 0
        self.metric, self.direction = "metric", "maximize"
        self.console = console or Console(stderr=True)
        self.queued: dict[int | str, str] = {}
        self.running: dict[int | str, str] = {}
        self.failed = self.pruned = self.completed = 0
        self.best: tuple[float, int | str, str] | None = None
        self.started = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
            self.console.print(self._status_line())

    # ------------------------------------------------------------------ search.Listener

    def search_started(self, *, total: int, done: int, metric: str, direction: str) -> None:
        """The trials to come: show the live line from now on."""
        self.total, self.done, self.metric, self.direction = total, done, metric, direction
        self.started = time.monotonic()
        if self._live is None:
            # Live re-renders `self` (see __rich__) on every refresh, so the elapsed time ticks.
            self._live = Live(self, console=self.console, refresh_per_second=2, transient=True)
            self._live.__enter__()

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def trial_drawn(self, number: int | str, family: str, prior: str | None) -> None:
        self.queued[number] = f"{family} (prior: {prior})" if prior else family
        self._refresh()

    def trial_started(self, number: int | str) -> None:
        self.running[number] = self.queued.pop(number, "?")
        self._refresh()

    def trial_finished(self, number: int | str, family: str, status: str, values: list[float] | None,
                       seconds: float | None, error: str | None = None) -> None:
        label = self.running.pop(number, None) or self.queued.pop(number, None) or family
        self.done += 1
        if values is not None:
            self.completed += 1
            value = values[0]
            better = self.best is None or (value > self.best[0] if self.direction == "maximize" else value < self.best[0])
            if math.isfinite(value) and better:
                self.best = (value, number, label)
            shown = f"val_{self.metric} {values[0]:.4g}  instability {values[1]:.3g}"
        elif status == "stopped":
            self.pruned += 1
            shown = "stopped early"
        else:
            self.failed += 1
            # The error's first line, so a search whose trials all fail says why at once.
            shown = status if not error else f"{status}: {shorten(error)}"
        took = f"  ({seconds:.1f} s)" if seconds else ""
        self.console.print(f"  trial {number:>3}  {label:<22} {shown}{took}", highlight=False, soft_wrap=True)
        self._refresh()

    # ------------------------------------------------------------------ display

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _status_line(self) -> Text:
        elapsed = time.monotonic() - self.started
        best = "-"
        if self.best is not None:
            best = f"val_{self.metric} {self.best[0]:.4g} (trial {self.best[1]}, {self.best[2]})"
        return Text.assemble(
            ("trials ", "bold"), f"{self.done}/{self.total} done, ",
            (f"{len(self.running)} running", "cyan"), f", {len(self.queued)} queued, ",
            (f"{self.failed} failed", "red" if self.failed else ""), f", {self.pruned} stopped  ",
            ("best ", "bold"), best, f"  elapsed {int(elapsed // 60)}:{int(elapsed % 60):02d}",
        )

    def __rich__(self) -> Text:
        return self._status_line()
