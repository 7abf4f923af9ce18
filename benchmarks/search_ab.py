"""Trial-epochs per GPU-hour: the same time-bound search with two or more momnas trees (or one
tree with other flags), one after the other on one warm machine (issue 20: at least 1.5x over the code before it).

Each tree runs `momnas search` with the same flags (default: the 240 s psMNIST search, 16384
sequences, the `paper` space, 6 epochs, H=128, seed 0, every other default, trials enough for
the budget to bind) in a process of its own, `PYTHONPATH` pointing at that tree. Counted from
Tune's own per-trial result.json, so the same way for any tree: epochs trained (each trial's
last reported epoch, stopped and budget-cut trials included), trials, and the first trials'
start from the study (`start_wait_s + startup_s`, and `worker_ready_s` where the tree records
it). The order reverses every other round with `--repeat` so a drift of the machine does not favour one tree.

    # one GPU, ~9 minutes: the tree before the issue's work, then this one
    git archive 80a9588 | tar -x -C .before
    python3 benchmarks/search_ab.py --trees .before . --data .data/mnist --out $OUT/ab
    # the same sequence of cells for both trees (TPE's draws follow each tree's results)
    python3 benchmarks/search_ab.py --trees .before . --data .data/mnist --search-args "--sampler random" --out $OUT/ab
    # one tree with and without a YAML config (flags per tree), against the tree before
    python3 benchmarks/search_ab.py --trees .before . . --tree-args "" "" "--config graph.yaml" --data .data/mnist --out $OUT/ab
    # CPU smoke (a 20 s adding search per tree: checks the script)
    python3 benchmarks/search_ab.py --trees . . --smoke --out /tmp/ab

Writes OUT/ab.json and OUT/ab.md after each search (a call cut short keeps what ran).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_scale import stamped_run  # noqa: E402  (benchmarks/, beside this script)

PSMNIST = ["--task", "psmnist", "--n-train", "16384", "--space", "paper", "--epochs", "6", "--hidden", "128",
           "--trials", "2000", "--seed", "0", "--time-budget-s", "240"]
SMOKE = ["--task", "adding", "--T", "20", "--n-train", "256", "--n-val", "64", "--n-test", "64", "--space", "small",
         "--epochs", "2", "--hidden", "8", "--trials", "200", "--seed", "0", "--time-budget-s", "20"]


def run(tree: Path, flags: list[str], out: Path, extra: list[str]) -> dict[str, Any]:
    """One search with `tree`'s momnas (`extra`: this tree's own flags, also in `flags`); what it trained."""
    env = {**os.environ, "PYTHONPATH": f"{tree.resolve()}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "160"}
    command = [sys.executable, "-m", "search.cli", "search", *flags, "--out", str(out), "--study", "ab"]
    _, wall = stamped_run(command, out, env=env, what=f"the search with {tree}", cwd=tree)
    epochs: dict[str, float] = {}
    for result in (out / "ray").glob("*/*/result.json"):
        reported = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        last = max((r["epoch"] for r in reported if isinstance(r.get("epoch"), (int, float))), default=0.0)
        epochs[result.parent.name] = float(last)
    by_family: dict[str, float] = {}
    for name, value in epochs.items():
        match = re.match(r"\d+-(.+?)_\d+_", name)  # Tune's folder: NUMBER-family_tag_config_date
        family = match.group(1) if match else name
        by_family[family] = by_family.get(family, 0.0) + value
    return {"tree": " ".join([str(tree), *extra]), "wall_s": round(wall, 1), "trials": len(epochs), "trial_epochs": round(sum(epochs.values()), 1),
            "epochs_by_family": {k: round(v, 1) for k, v in sorted(by_family.items())}, **starts(out)}


def starts(out: Path) -> dict[str, Any]:
    """The first trials of the workers: drawn to first training step, and when the worker was ready."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="ab", storage=f"sqlite:///{(out / 'optuna.db').resolve()}")
    trials = study.get_trials(deepcopy=False)
    attrs = [t.user_attrs for t in trials]
    firsts = [a for a in attrs if a.get("worker_trial") == 1 and a.get("start_wait_s") is not None and a.get("startup_s") is not None]
    later = [a["startup_s"] for a in attrs if (a.get("worker_trial") or 0) > 1 and a.get("startup_s") is not None]
    to_step = sorted(a["start_wait_s"] + a["startup_s"] for a in firsts)
    ready = sorted(a["worker_ready_s"] for a in firsts if a.get("worker_ready_s") is not None)

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    return {"workers": len(firsts), "first_trial_draw_to_step_s": {"median": median(to_step), "max": to_step[-1] if to_step else None},
            "first_trial_worker_ready_s": {"median": median(ready), "max": ready[-1] if ready else None},
            "later_startup_s": median(later), "states": {s: sum(t.state.name == s for t in trials)
                                                         for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}}


def write(runs: list[dict[str, Any]], out: Path, flags: list[str]) -> None:
    (out / "ab.json").write_text(json.dumps({"flags": flags, "runs": runs}, indent=1))
    lines = [f"`momnas search {' '.join(flags)}`", "",
             "| tree | wall s | trials | trial-epochs | states | workers | first trials: draw to first step s (median, max) "
             "| worker ready from draw s (median) | later startup s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        d, w = r["first_trial_draw_to_step_s"], r["first_trial_worker_ready_s"]
        lines.append(f"| {r['tree']} | {r['wall_s']} | {r['trials']} | {r['trial_epochs']} | {r['states']} | {r['workers']} "
                     f"| {d['median']}, {d['max']} | {w['median']} | {r['later_startup_s']} |")
    mean_epochs = {arm: statistics.mean(r["trial_epochs"] for r in runs if r["arm"] == arm) for arm in sorted({r["arm"] for r in runs})}
    if 0 in mean_epochs:
        label = {r["arm"]: r["tree"] for r in runs}
        lines += [""] + [f"trial-epochs {label[arm]} / {label[0]}: {mean / mean_epochs[0]:.2f}x"
                         for arm, mean in mean_epochs.items() if arm != 0]
    lines += ["", "epochs by family:"] + [f"- {r['tree']}: {r['epochs_by_family']}" for r in runs]
    (out / "ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs="+", type=Path, required=True, metavar="TREE",
                        help="two or more trees; the first is the baseline (a tree may repeat with other --tree-args)")
    parser.add_argument("--tree-args", nargs="+", metavar="FLAGS",
                        help='more `momnas search` flags per tree, one string each ("" for none)')
    parser.add_argument("--data", help="folder with MNIST's IDX files (psMNIST)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the order reverses every other round (default 1)")
    parser.add_argument("--budget-s", type=float, help="each search's --time-budget-s (default 240; smoke 20)")
    parser.add_argument("--smoke", action="store_true", help="a 20 s adding search per tree (the CPU)")
    parser.add_argument("--search-args", default="", help='more `momnas search` flags for every tree ("--sampler random")')
    args = parser.parse_args()
    if len(args.trees) < 2:
        parser.error("--trees needs at least two trees (the baseline first)")
    if args.tree_args is not None and len(args.tree_args) != len(args.trees):
        parser.error(f"--tree-args gives {len(args.tree_args)} strings for {len(args.trees)} trees; give one per tree")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    if not args.smoke and not args.data:
        parser.error("--data is needed for psMNIST (or --smoke)")
    flags = list(SMOKE) if args.smoke else [*PSMNIST, "--data-dir", str(Path(args.data).resolve())]
    if args.budget_s is not None:
        flags[flags.index("--time-budget-s") + 1] = f"{args.budget_s:g}"
    flags += shlex.split(args.search_args)
    arms = [(tree, shlex.split(extra)) for tree, extra in zip(args.trees, args.tree_args or [""] * len(args.trees))]
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for k in range(args.repeat):
        order = list(range(len(arms))) if k % 2 == 0 else list(reversed(range(len(arms))))
        for i in order:
            tree, extra = arms[i]
            runs.append({"arm": i, **run(tree, [*flags, *extra], args.out / f"round{k}-tree{i}", extra)})
            write(runs, args.out, flags)

if __name__ == "__main__":
    main()
