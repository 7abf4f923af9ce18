"""Checks on where a command will write, made before it does any work."""

from __future__ import annotations

from pathlib import Path


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is a file, so that the folders `path`
    needs could not be made; None when nothing blocks them."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None
