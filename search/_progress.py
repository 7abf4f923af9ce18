"""Live progress of a search in the terminal: trials done / running / failed, best so far, elapsed."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text


class Progress:
    """Counts trials as the search reports them and shows one live status line (plus a line per trial)."""

    def __init__(self, *, total: int, done: int, metric: str, direction: str, console: Console | None = None):
        self.total, self.done = total, done
        self.metric, self.direction = metric, direction
        self.console = console or Console(stderr=True)
        self.running: dict[int, str] = {}
        self.failed = self.pruned = self.completed = 0
        self.best: tuple[float, int, str] | None = None
        self.started = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> "Progress":
        # Live re-renders `self` (see __rich__) on every refresh, so the elapsed time ticks.
        self._live = Live(self, console=self.console, refresh_per_second=2, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
        self.console.print(self._status_line())

    def trial_started(self, number: int, family: str) -> None:
        self.running[number] = family
        self._refresh()

    def trial_finished(self, number: int, family: str, status: str, values: list[float] | None, seconds: float | None,
                       error: str | None = None) -> None:
        self.running.pop(number, None)
        self.done += 1
        if values is not None:
            self.completed += 1
            value = values[0]
            better = self.best is None or (value > self.best[0] if self.direction == "maximize" else value < self.best[0])
            if math.isfinite(value) and better:
                self.best = (value, number, family)
            shown = f"val_{self.metric} {values[0]:.4g}  instability {values[1]:.3g}"
        elif status == "stopped":
            self.pruned += 1
            shown = "stopped early"
        else:
            self.failed += 1
            # The error's first line, so a search whose trials all fail says why at once.
            shown = status if not error else f"{status}: {error.splitlines()[0][:160]}"
        took = f"  ({seconds:.1f} s)" if seconds else ""
        self.console.print(f"  trial {number:>3}  {family:<22} {shown}{took}", highlight=False)
        self._refresh()

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
            (f"{len(self.running)} running", "cyan"), ", ",
            (f"{self.failed} failed", "red" if self.failed else ""), f", {self.pruned} stopped  ",
            ("best ", "bold"), best, f"  elapsed {int(elapsed // 60)}:{int(elapsed % 60):02d}",
        )

    def __rich__(self) -> Text:
        return self._status_line()
