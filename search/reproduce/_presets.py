"""Reproduction presets: the papers' recipes as data (presets/*.yaml), expanded into run plans.

A preset is a list of tables; a table is one task with its published training recipe and
the cells it compares, each with the published number beside it. `plan(...)` turns a
preset, a budget, a number of seeds and an optional hidden size into the `runs.RunConfig`s
to train, one per (cell, hidden size, seed), each with a stable id that names its folder.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

import runs
from search.errors import BadInput

FULL = "full"

# A smoke run: enough to prove that every run of a preset builds, trains, evaluates and
# reaches the report, in seconds on a CPU (the published numbers are still shown).
TINY = {"steps": 2, "batch_size": 16, "n_train": 32, "n_val": 16, "n_test": 16, "hidden": 8, "trials": 2, "T": 32}

_PRESET_KEYS = {"title", "source", "claims", "tables", "search"}
_TABLE_KEYS = {"name", "task", "train", "epochs", "hidden", "runs"}
_RUN_KEYS = {"label", "cell", "train", "published", "note", "hand_picked"}
_SEARCH_KEYS = {"space", "budget_runs", "confirm"}


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One training run of a plan: what to train, and what the paper reported for it."""

    id: str                        # e.g. "psmnist/momentum-lstm-n128-seed0": its folder under OUT/runs
    table: str                     # the table it belongs to ("psMNIST", "adding, T = 500")
    label: str                     # the cell as the paper names it ("Momentum LSTM")
    hidden: int
    seed: int
    published: float | str | None  # the paper's test number (accuracy in %), or its qualitative claim
    published_hidden: int | None   # the hidden size that number was published for
    note: str | None               # where the recipe or the number departs from the paper
    config: runs.RunConfig
    hand_picked: bool = False      # a search preset's hand-picked cell: its GPU time sets the search's budget

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "config"},
                "config": self.config.to_dict()}


@dataclasses.dataclass(frozen=True)
class Plan:
    """A preset expanded for one budget: the runs to train and, for a search preset, the search."""

    preset: str
    title: str
    source: str
    claims: tuple[str, ...]
    budget: str                    # "full", "N epochs" or "tiny (N steps)": what the report states
    seeds: int
    runs: tuple[PlannedRun, ...]
    search: dict[str, Any] | None  # search presets: the search and confirmation to run (see _claim.py)
    full_epochs: dict[str, int]    # table -> the published recipe's epochs per run (what `--budget full` trains)

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "title": self.title, "source": self.source, "claims": list(self.claims),
                "budget": self.budget, "seeds": self.seeds, "runs": [r.to_dict() for r in self.runs],
                "search": self.search, "full_epochs": self.full_epochs}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _check_keys(data: Any, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}")
    missing = [key for key in required if key not in data]
    if missing:
        raise BadInput(f"{where}: missing {', '.join(missing)}")


@cache
def presets() -> dict[str, dict[str, Any]]:
    """Every preset shipped in search/reproduce/presets/, by name, as checked data."""
    folder = resources.files(__package__).joinpath("presets")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            name = entry.name.removesuffix(".yaml")
            found[name] = _checked(name, yaml.safe_load(entry.read_text()))
    return found


def _checked(name: str, data: Any) -> dict[str, Any]:
    where = f"preset {name}"
    _check_keys(data, _PRESET_KEYS, where, ("title", "source", "tables"))
    if data.get("search") is not None:
        _check_keys(data["search"], _SEARCH_KEYS, f"{where}: search", ("space", "budget_runs"))
    for table in data["tables"]:
        twhere = f"{where}: table {table.get('name')!r}"
        _check_keys(table, _TABLE_KEYS, twhere, ("name", "task", "train", "epochs", "hidden", "runs"))
        for run in table["runs"]:
            _check_keys(run, _RUN_KEYS, f"{twhere}: run {run.get('label')!r}", ("label", "cell"))
    return data


def preset(name: str) -> dict[str, Any]:
    """One preset's data; an unknown name lists the valid ones."""
    found = presets()
    if name not in found:
        raise BadInput(f"unknown preset {name!r}; choose one of {', '.join(found)} (momnas reproduce --list)")
    return found[name]


def _published(values: dict | None, hidden: int) -> tuple[float | str | None, int | None]:
    """The published number for this hidden size, else the one for the largest size published."""
    if not values:
        return None, None
    if hidden in values:
        return values[hidden], hidden
    nearest = max(values)
    return values[nearest], nearest


def _task_dict(task: dict[str, Any], data_dir: str | None, tiny: bool) -> dict[str, Any]:
    spec = runs.tasks()[task["name"]]
    out = dict(task)
    if data_dir is not None and "data_dir" in spec.options:
        out["data_dir"] = data_dir
    if tiny:
        out.update({k: TINY[k] for k in ("n_train", "n_val", "n_test") if k in spec.options})
        if "T" in out:
            out["T"] = min(out["T"], TINY["T"])
    return out


def parse_budget(text: str | int | None) -> int | None:
    """`--budget`: "full" (None: the published epochs) or a positive number of epochs."""
    if text is None or text == FULL:
        return None
    try:
        epochs = int(text)
    except (TypeError, ValueError):
        epochs = 0
    if epochs < 1:
        raise BadInput(f"--budget must be a positive number of epochs or 'full', got {text!r}")
    return epochs


def plan(
    name: str,
    *,
    budget: int | None = None,
    seeds: int = 3,
    hidden: int | None = None,
    data_dir: str | None = None,
    tiny: bool = False,
) -> Plan:
    """Expand preset `name` into its runs.

    Example:
        >>> runs = plan("momentum-psmnist", budget=10, seeds=3, hidden=128).runs
        >>> len(runs), runs[3].id, runs[3].published, runs[3].config.train.epochs
        (15, 'psmnist/momentum-lstm-n128-seed0', 93.4, 10)

    budget: epochs per run (None: each table's published epochs). For a search preset, the
            target budget: every cell, the search's trials and its confirmation train to it.
    seeds:  training seeds 0..seeds-1 per cell (the data split is the same for every seed).
    hidden: train every cell at this hidden size instead of the published ones.
    tiny:   a smoke run (TINY): a few steps on a few examples at a small hidden size.
    """
    data = preset(name)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BadInput(f"--seeds must be a positive integer, got {seeds!r}")
    if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1):
        raise BadInput(f"--hidden must be a positive integer, got {hidden!r}")
    if tiny and hidden is None:
        hidden = TINY["hidden"]
    search = data.get("search")
    planned: list[PlannedRun] = []
    for table in data["tables"]:
        epochs = budget if budget is not None else table["epochs"]
        task = _task_dict(table["task"], data_dir, tiny)
        for run in table["runs"]:
            train = dict(run.get("train") or table["train"])
            if tiny:
                train.update(steps=TINY["steps"], batch_size=TINY["batch_size"])
            else:
                train["epochs"] = epochs
            sizes = [hidden] if hidden is not None else table["hidden"]
            for n in sizes:
                published, published_hidden = _published(run.get("published"), n)
                for seed in range(seeds):
                    config = runs.build_run_config(
                        cell={**run["cell"], "hidden_size": n}, task=task, train={**train, "seed": seed})
                    planned.append(PlannedRun(
                        id=f"{_slug(table['name'])}/{_slug(run['label'])}-n{n}-seed{seed}",
                        table=table["name"], label=run["label"], hidden=n, seed=seed,
                        published=published, published_hidden=published_hidden, note=run.get("note"),
                        config=config, hand_picked=bool(run.get("hand_picked"))))
    if tiny:
        described = f"tiny ({TINY['steps']} steps, {TINY['n_train']} training examples; a smoke run)"
    elif budget is None:
        described = FULL
    else:
        described = f"{budget} epochs"
    search_plan = None
    if search is not None:
        table = data["tables"][0]
        search_plan = {
            "space": search["space"], "budget_runs": search["budget_runs"], "confirm": search.get("confirm", 2),
            "seeds": seeds, "epochs": 1 if tiny else (budget if budget is not None else table["epochs"]),
            "hidden": planned[0].hidden, "task": _task_dict(table["task"], data_dir, tiny),
            "train": {k: v for k, v in table["train"].items() if k in ("optimizer", "lr", "batch_size", "clip")}
                     | ({"batch_size": TINY["batch_size"]} if tiny else {}),
        }
    return Plan(preset=name, title=data["title"], source=data["source"], claims=tuple(data.get("claims") or ()),
                budget=described, seeds=seeds, runs=tuple(planned), search=search_plan,
                full_epochs={t["name"]: t["epochs"] for t in data["tables"]})
