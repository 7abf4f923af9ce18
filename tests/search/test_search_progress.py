"""The command line's live progress (a search Listener): running and queued apart, errors shortened."""

import io

from rich.console import Console

from search.cli._progress import Progress, shorten


def test_trials_drawn_ahead_are_queued_not_running():
    # Under --max-concurrent 2 the searcher draws a wave ahead: it said "5 running".
    progress = Progress(Console(file=io.StringIO(), width=200))
    progress.search_started(total=10, done=0, metric="accuracy", direction="maximize")
    for number in range(5):
        progress.trial_drawn(number, "momentum-lstm", None)
    progress.trial_started(0)
    progress.trial_started(1)
    line = progress._status_line().plain
    assert "2 running, 3 queued" in line
    progress.trial_finished(0, "momentum-lstm", "completed", [0.9, 0.1], 3.0)
    assert "1/10 done, 1 running, 3 queued" in progress._status_line().plain
    assert "best val_accuracy 0.9 (trial 0, momentum-lstm)" in progress._status_line().plain
    progress.__exit__(None, None, None)


def test_a_long_error_is_cut_at_a_word_with_an_ellipsis():
    error = "RuntimeError: " + " ".join(f"word{i}" for i in range(60)) + "\nsecond line"
    short = shorten(error, 80)
    assert len(short) <= 80 and short.endswith("…") and short[-2] != " " and "second" not in short
    assert shorten("one line", 80) == "one line"
