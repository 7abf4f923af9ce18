"""Finding a space by name or file, and describing it as plain rows for the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spaces import _tables
from spaces._space import Space, split_family
from spaces._yaml import load_space as _load_yaml

def known_parameters() -> dict[str, dict[str, tuple[str, ...]]]:
    """`{"dynamics": {name: keys}, "cores": {name: keys}}` from the cells' parameter table:
    what a YAML space may set (sizes aside, which are shared: `hidden_size`)."""
    from cells import families  # torch comes with cells: import it only when a YAML space is read

    out: dict[str, dict[str, tuple[str, ...]]] = {"dynamics": {}, "cores": {}}
    for family in families():
        kind = "cores" if family.kind == "core" else "dynamics"
        out[kind][family.name] = tuple(p.name for p in family.params)
    return out


def list_spaces() -> dict[str, Space]:
    """The named spaces, by name."""
    return dict(_tables.named_spaces())


def load_space(path: str | Path) -> Space:
    """A space from a YAML file (see `spaces._yaml` for the format); errors name the file and entry."""
    return _load_yaml(path, _tables.named_spaces(), known_parameters())


def get_space(name_or_path: str | Path) -> Space:
    """A named space (`paper`, `momentum`, `full`) or a YAML file's space."""
    key = str(name_or_path)
    if key in _tables.named_spaces():
        return _tables.named_spaces()[key]
    if key.endswith((".yaml", ".yml")) or Path(key).exists():
        return load_space(key)
    raise ValueError(f"unknown space {key!r}: named spaces are {', '.join(_tables.named_spaces())}, or give a YAML file")


def describe(space: Space) -> dict[str, Any]:
    """Plain data for `momnas spaces show`: families, and each parameter with its range."""
    rows = []
    for key, p in {**space.cell, **space.train}.items():
        rows.append({"param": key, "families": "all", "range": p.describe()})
    seen: dict[str, list[str]] = {}
    for family in space.families:
        for name in space.branches(family):
            seen.setdefault(name, []).append(family)
    for family in space.families:
        for name, p in space.branches(family).items():
            if name in seen:
                fams = seen.pop(name)
                scope = name.partition(".")[0]
                label = f"{scope} ({len(fams)})" if len(fams) > 1 else fams[0]
                rows.append({"param": name, "families": label, "range": p.describe()})
    by_core: dict[str, list[str]] = {}
    for family in space.families:
        dyn, core = split_family(family)
        by_core.setdefault(core, []).append(dyn)
    return {
        "name": space.name,
        "description": space.description,
        "families": list(space.families),
        "by_core": by_core,
        "params": rows,
    }
