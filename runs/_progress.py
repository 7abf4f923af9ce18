"""A rich progress bar for one run: steps, loss, the last validation metric, speed."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressBar:
    """Context manager; does nothing when disabled (the default inside searches)."""

    def __init__(self, total: int, metric: str, *, enabled: bool):
        self.metric = metric
        self.progress = None
        if enabled:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("val {task.fields[metric]}"),
                TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self.task = self.progress.add_task("train", total=total, loss="-", metric=f"{metric} -", speed="")

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def step(self, loss: float) -> None:
        if self.progress is not None:
            speed = self.progress.tasks[0].speed
            self.progress.update(self.task, advance=1, loss=f"{loss:.4g}",
                                 speed=f"{speed:.1f} it/s" if speed else "")

    def evaluated(self, value: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, metric=f"{self.metric} {value:.4g}")
