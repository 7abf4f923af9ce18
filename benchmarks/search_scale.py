"""Does a search scale from one GPU to two? The same 64 trials on 1 GPU, then on 2 (issue 10, step 3).

The same search twice through `momnas search` (psMNIST subset, H=128, the `paper` space,
random sampler with one seed, so both runs draw the same trials; `--gpus-per-trial auto`,
MPS as the search chooses), once with CUDA_VISIBLE_DEVICES=0 and once with 0,1, after a
warm-up (benchmarks/warm_up.py: every family built and trained for two steps, at most
`--warm-up-s`), so that both runs start on a machine that has run momnas before. Target: 2
GPUs at least 1.85x one. Two speed-ups: of the searches' wall times (Python, Ray's start and
the closing summary and plots included) and of the trials' span (first trial drawn to last
done). Also reported per run: each first-wave trial's overhead (drawn to done, less its
training and evaluations: a fresh worker's start-up with process, CUDA context, data and
model, plus the test evaluation) against the later trials', and the tail (the time from the
90th percentile completion to the last, when few trials are left running).

The workload: 64 trials of 8192 sequences, 2 epochs (128 iterations and 2 evaluations).
Run 20's 64 trials of 20,000 sequences did not finish on one GPU in 330 s; run 18's way (b),
one GPU, auto packing, cold, passed ~29 trials of 256 iterations and 4 evaluations in ~120 s,
so trials half that size take ~130 s for 64 on one GPU and ~70 s on two: with the warm-up
and each search's ~20 s of start and end, ~5 minutes in all. Smaller trials would make the
fixed part dominate: a search's start-up S (Ray, the workers' first trials) is paid once on
one GPU and once on two, so the speed-up is (S + W) / (S + W/2) for the trials' work W:
1.85x needs W >= 11 S (W >= 140 s for S = 12 s); with trials of a few seconds W is short and
the speed-up falls towards 1, whatever the packing.

    # 2 x H200, about 5 minutes; MNIST in .data/mnist
    python3 benchmarks/search_scale.py --data .data/mnist --out $OUT/scale
    # CPU smoke (both runs on the CPU: checks the script, measures nothing)
    python3 benchmarks/search_scale.py --smoke --data ../shared/data/mnist --out /tmp/scale

Writes OUT/scale.json and OUT/scale.md (after each run: a call cut short keeps the first),
and each run's study and log under OUT/gpus-N/.
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

from gpu_slots import visible_gpus  # noqa: E402  (benchmarks/, beside this script)
from warm_up import warm_up  # noqa: E402


def search(gpus: int, args: argparse.Namespace) -> dict[str, Any]:
    from search import SearchConfig

    out = args.out / f"gpus-{gpus}"
    flags = ["--early-stop", "none"] if "early_stop" in {f.name for f in dataclasses.fields(SearchConfig)} else []
    command = [sys.executable, "-m", "search.cli", "search", "--task", "psmnist", "--data-dir", str(Path(args.data).resolve()),
               "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--n-test", str(args.n_val),
               "--space", "paper", "--hidden", str(args.hidden), "--epochs", str(args.epochs), "--trials", str(args.trials),
               "--sampler", "random", "--seed", "0", "--out", str(out), "--study", "scale", *flags]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(visible_gpus()[:gpus]), "COLUMNS": "160"}
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
    # a trial's own training time (metrics "seconds": its steps and evaluations) tells the
    # start-up (and, for later trials, the wait for a free slot) from the training.
    in_first = [(t.datetime_start - first_start).total_seconds() < 2 for t in trials]
    first = [s for s, f in zip(seconds, in_first) if f]
    later = [s for s, f in zip(seconds, in_first) if not f]
    training = [t.user_attrs.get("metrics", {}).get("seconds") for t in trials]
    overhead = [(s - tr, f) for s, tr, f in zip(seconds, training, in_first) if tr is not None]
    first_overhead = [o for o, f in overhead if f]
    later_overhead = [o for o, f in overhead if not f]
    by_family: dict[str, list[float]] = {}
    for t, s in zip(trials, seconds):
        by_family.setdefault(t.user_attrs.get("family", "?"), []).append(s)

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    return {
        "trials": len(trials), "states": {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "FAIL", "PRUNED")},
        "span_s": completions[-1],
        "first_trials": len(first), "first_trial_s_median": median(first), "later_trial_s_median": median(later),
        "training_s_median": median([tr for tr in training if tr is not None]),
        "first_wave_overhead_s": {"median": median(first_overhead), "max": round(max(first_overhead), 2) if first_overhead else None},
        "later_overhead_s_median": median(later_overhead),
        "tail_s": completions[-1] - completions[int(0.9 * (len(completions) - 1))],
        "trial_s_by_family": {f: round(statistics.median(v), 2) for f, v in sorted(by_family.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with MNIST's IDX files")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=8192)
    parser.add_argument("--n-val", type=int, default=1024,
                        help="validation and test sequences (default 1024: whole batches of 128, the shapes the warm-up built)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--warm-up-s", type=float, default=30.0, help="bound on the warm-up before the runs; 0: none")
    parser.add_argument("--smoke", action="store_true", help="4 trials of 64 sequences, hidden 8, 1 epoch: the CPU")
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.n_train, args.n_val, args.epochs, args.hidden = 4, 64, 32, 1, 8
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    gpus = visible_gpus()
    if len(gpus) == 1:
        parser.error("this machine shows one GPU; the comparison needs two (CUDA_VISIBLE_DEVICES)")
    args.out.mkdir(parents=True, exist_ok=True)
    workload = {k: v for k, v in vars(args).items() if k not in ("out", "data")}
    warmed = None
    if args.warm_up_s > 0:
        envs = [{"CUDA_VISIBLE_DEVICES": g} for g in gpus[:2]]  # sequential runs: MPS's default directory
        warmed = warm_up(envs, data=args.data, hidden=args.hidden, batch_size=128, bound_s=args.warm_up_s,
                         out=args.out / "warm-up")
        workload["warm_up"] = {k: v for k, v in warmed.items() if k != "rows"}
    runs = []
    for count in (1, 2):
        runs.append(search(count, args))
        write(workload, runs, args.out)


def write(workload: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> None:
    """scale.json and scale.md for the runs so far (the speed-ups once both ran)."""
    result: dict[str, Any] = {"workload": workload, "runs": runs}
    if len(runs) == 2:
        result["speedup"] = runs[0]["wall_s"] / runs[1]["wall_s"]
        result["speedup_of_trials_span"] = runs[0]["span_s"] / runs[1]["span_s"]
    (out / "scale.json").write_text(json.dumps(result, indent=1))
    w = workload
    lines = [f"{w['trials']} trials, psMNIST {w['n_train']} sequences, {w['epochs']} epochs, H={w['hidden']}, paper space, random sampler",
             "", "| GPUs | wall s | trials' span s | first wave: trials (median s, drawn to done) | its overhead s (median, max) "
             "| later trials (median s) | their overhead s (median) | training alone (median s) | tail s | what the search chose |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        first = r["first_wave_overhead_s"]
        lines.append(f"| {r['gpus']} | {r['wall_s']:.1f} | {r['span_s']:.1f} | {r['first_trials']} ({r['first_trial_s_median']}) | "
                     f"{first['median']}, {first['max']} | {r['later_trial_s_median']} | {r['later_overhead_s_median']} | "
                     f"{r['training_s_median']} | {r['tail_s']:.1f} | {r['chosen']} |")
    if "speedup" in result:
        lines += ["", f"speed-up of 2 GPUs over 1: {result['speedup']:.2f}x by wall time, "
                      f"{result['speedup_of_trials_span']:.2f}x by the trials' span (target 1.85x)"]
    (out / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
