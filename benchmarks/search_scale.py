"""Does a search scale from one GPU to two? The same 64 trials on 1 GPU, then on 2 (issue 10, step 3).

The same search twice through `momnas search` (psMNIST subset, H=128, the `paper` space,
random sampler with one seed, so both runs draw the same trials; `--gpus-per-trial auto`,
MPS as the search chooses), once with CUDA_VISIBLE_DEVICES=0 and once with 0,1. Target: 2 GPUs
at least 1.85x one. Also reported per run: how long the first trials of the workers took
against the later ones (start-up: process, CUDA context, data, kernels), and the tail (the
time from the 90th percentile completion to the last, when few trials are left running).

    # 2 x H200, about 4-5 minutes; MNIST in .data/mnist
    python3 benchmarks/search_scale.py --data .data/mnist --out $OUT/scale
    # CPU smoke (both runs on the CPU: checks the script, measures nothing)
    python3 benchmarks/search_scale.py --smoke --data ../shared/data/mnist --out /tmp/scale

Writes OUT/scale.json, OUT/scale.md and each run's study and log under OUT/gpus-N/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def search(gpus: int, args: argparse.Namespace) -> dict[str, Any]:
    from search import SearchConfig

    out = args.out / f"gpus-{gpus}"
    flags = ["--early-stop", "none"] if "early_stop" in {f.name for f in dataclasses.fields(SearchConfig)} else []
    command = [sys.executable, "-m", "search.cli", "search", "--task", "psmnist", "--data-dir", str(Path(args.data).resolve()),
               "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--n-test", str(args.n_val),
               "--space", "paper", "--hidden", str(args.hidden), "--epochs", str(args.epochs), "--trials", str(args.trials),
               "--sampler", "random", "--seed", "0", "--out", str(out), "--study", "scale", *flags]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(gpus)), "COLUMNS": "160"}
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.monotonic() - start
    log = done.stdout + done.stderr
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.log").write_text(log)
    if done.returncode != 0:
        raise SystemExit(f"the search on {gpus} GPU(s) failed (exit {done.returncode}); see {out / 'search.log'}")
    return {"gpus": gpus, "wall_s": wall, "chosen": next((line for line in log.splitlines() if line.startswith("gpus:")), "?"),
            **trial_times(f"sqlite:///{(out / 'optuna.db').resolve()}")}


def trial_times(storage: str) -> dict[str, Any]:
    import optuna

    trials = [t for t in optuna.load_study(study_name="scale", storage=storage).get_trials(deepcopy=False)
              if t.datetime_start and t.datetime_complete]
    trials.sort(key=lambda t: t.datetime_start)
    first_start = trials[0].datetime_start
    seconds = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    completions = sorted((t.datetime_complete - first_start).total_seconds() for t in trials)
    # Optuna's start is when the searcher drew the trial: those drawn within 2 s of the first
    # are the first wave, each on a fresh worker (start-up: process, CUDA context, data, kernels);
    # a trial's own training time (metrics "seconds") tells the start-up and the wait apart.
    first = [s for t, s in zip(trials, seconds) if (t.datetime_start - first_start).total_seconds() < 2]
    later = seconds[len(first):]
    training = [t.user_attrs["metrics"]["seconds"] for t in trials if "seconds" in t.user_attrs.get("metrics", {})]
    by_family: dict[str, list[float]] = {}
    for t, s in zip(trials, seconds):
        by_family.setdefault(t.user_attrs.get("family", "?"), []).append(s)
    return {
        "trials": len(trials), "states": {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "FAIL", "PRUNED")},
        "first_trials": len(first), "first_trial_s_median": statistics.median(first) if first else None,
        "later_trial_s_median": statistics.median(later) if later else None,
        "training_s_median": statistics.median(training) if training else None,
        "tail_s": completions[-1] - completions[int(0.9 * (len(completions) - 1))],
        "trial_s_by_family": {f: round(statistics.median(v), 2) for f, v in sorted(by_family.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with MNIST's IDX files")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="4 trials of 64 sequences, hidden 8, 1 epoch: the CPU")
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.n_train, args.n_val, args.epochs, args.hidden = 4, 64, 32, 1, 8
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [search(gpus, args) for gpus in (1, 2)]
    result = {"workload": {k: v for k, v in vars(args).items() if k not in ("out", "data")}, "runs": runs,
              "speedup": runs[0]["wall_s"] / runs[1]["wall_s"]}
    (args.out / "scale.json").write_text(json.dumps(result, indent=1))
    lines = [f"{args.trials} trials, psMNIST {args.n_train} sequences, {args.epochs} epochs, H={args.hidden}, paper space, random sampler",
             "", "| GPUs | wall s | first wave: trials (median s, drawn to done) | later trials (median s) | training alone (median s) | tail s | what the search chose |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['gpus']} | {r['wall_s']:.1f} | {r['first_trials']} ({r['first_trial_s_median']}) | "
                     f"{r['later_trial_s_median']} | {r['training_s_median']} | {r['tail_s']:.1f} | {r['chosen']} |")
    lines += ["", f"speed-up of 2 GPUs over 1: {result['speedup']:.2f}x (target 1.85x)"]
    (args.out / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
