"""What `momnas ... --help` and `momnas reproduce --list` show a user: defaults in one form, no
value type beside a flag, every figure `plot` writes, preset names whole in a narrow terminal."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from search.cli import app

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _commands(group=None, path=()):
    """(path, click command) of every momnas command and group, the root included."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name)) if hasattr(command, "commands") else [((*path, name), command)]


def test_every_help_shows_defaults_one_way_and_no_type_beside_a_flag():
    runner = CliRunner()
    with_defaults = set()
    for path, _ in _commands():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        # Before: `(default: x)` in some helps, `[default: x]` in search's, which rich took for markup
        # and dropped; `<bool>` beside --help and --resume/--no-resume.
        assert "(default" not in result.output and "<bool>" not in result.output, (path, result.output)
        if "[default:" in result.output:
            with_defaults.add(" ".join(path))
    assert {"train", "search", "confirm", "plot", "export", "reproduce", "bench"} <= with_defaults
    search_help = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "200"}).output
    assert "[default: (5)]" in search_help and "[default: (the task's)]" in search_help


def test_the_search_helps_defaults_are_the_configs():
    """`search`'s options default to None (a flag given overrides a --config file or a preset),
    so their help names the default: the one SearchConfig has."""
    from search._config import FLAT, SearchConfig

    defaults = SearchConfig()
    checked = 0
    for param in typer.main.get_command(app).commands["search"].params:
        section, name = FLAT.get(param.name, (None, None))
        value = getattr(defaults if section is None else getattr(defaults, section), name or "", None)
        shown = param.show_default if isinstance(param.show_default, str) else None
        if value is None or shown is None or " " in shown.split(",")[0]:
            continue  # no default, or one described in words
        forms = {str(value)} | ({f"{value:g}", f"{value:.3g}"} if isinstance(value, (int, float)) else set())
        assert shown.split(",")[0] in forms, (param.name, shown, value)
        checked += 1
    assert checked >= 15


def test_plot_help_names_every_figure_it_writes():
    from search.plots._writer import _PLOTS

    words = {"pareto_front": "Pareto front", "hypervolume": "hypervolume", "grad_profiles": "gradient profiles",
             "importances": "importances", "momentum": "mu/s", "learning_curves": "learning curves",
             "fidelity": "rung-to-target", "confirmation": "confirmation"}
    assert set(words) == set(_PLOTS), "a new figure: name it in `momnas plot`'s help and here"
    shown = " ".join(CliRunner().invoke(app, ["plot", "--help"], env={"COLUMNS": "200"}).output.split())
    assert [w for w in words.values() if w not in shown] == []


def test_reproduce_list_keeps_preset_names_whole_in_an_80_column_terminal():
    """Before: rich folded the names mid-word (`dtriv-psmni` / `st`) in an 80-column terminal."""
    import fcntl
    import pty
    import termios

    from search.reproduce import presets

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "COLUMNS": "80", "LINES": "24", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "search.cli", "reproduce", "--list"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        assert proc.wait(timeout=60) == 0
    lines = ANSI.sub("", b"".join(chunks).decode()).splitlines()
    assert lines and max(len(line.rstrip()) for line in lines) <= 80  # the terminal's width
    first_column = {line.split()[0] for line in lines if line.strip()}
    assert set(presets()) <= first_column, lines
