"""Does a search scale from one GPU to two? The same 64 trials on 1 GPU, then on 2 (issue 10, step 3).

The same search twice through `momnas search` (psMNIST subset, H=128, the `paper` space,
random sampler with one seed, so both runs draw the same trials; `--gpus-per-trial auto`,
MPS as the search chooses), once with CUDA_VISIBLE_DEVICES=0 and once with 0,1, after a
warm-up (benchmarks/warm_up.py: every family built and trained for two steps, at most
`--warm-up-s`), so that both runs start on a machine that has run momnas before. Target: 2
GPUs at least 1.85x one. Two speed-ups: of the searches' wall times (Python, Ray's start and
the closing summary and plots included) and of the trials' span (first trial drawn to last
done). Also reported per run: the workers' first trials (each trial's `worker_trial`
attribute) against the later trials, their overhead (drawn to done, less training and
evaluations), a first trial's start (`start_wait_s`: drawn to its trainable, the process and
its imports; `startup_s`: to its first training step, CUDA context, model and kernels: issue
10's "a worker's first trial starts within 5 s"), when each worker's first step came, and the
tail (the time from the 90th percentile completion to the last, when few trials are left
running).

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
    # one GPU only, with the cuDNN families packed 8 to a GPU instead of 2 (an A/B of
    # search/_resources.py's GPU_SHARE, set in the search's driver, where Tune asks for resources)
    python3 benchmarks/search_scale.py --gpus 1 --share fused-rnn=0.125 --data .data/mnist --out $OUT/share

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
    # `python -m search.cli`, or with --share the same CLI after the driver's GPU_SHARE is updated
    cli = ["-m", "search.cli"] if not args.share else ["-c", (
        "import sys, search._resources as r; r.GPU_SHARE.update(" + repr(args.share) + "); "
        "sys.argv[0] = 'momnas'; from search.cli import app; app()")]
    command = [sys.executable, *cli, "search", "--task", "psmnist", "--data-dir", str(Path(args.data).resolve()),
               "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--n-test", str(args.n_val),
               "--space", "paper", "--hidden", str(args.hidden), "--epochs", str(args.epochs), "--trials", str(args.trials),
               "--sampler", "random", "--seed", "0", "--out", str(out), "--study", "scale", *flags]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(visible_gpus()[:gpus]), "COLUMNS": "160"}
    stamped, wall = stamped_run(command, out, env=env, what=f"the search on {gpus} GPU(s)")

    def first(prefix: str) -> tuple[float, str] | None:
        return next(((t, line) for t, line in stamped if line.startswith(prefix)), None)

    chosen, tally, plots = first("gpus:"), first("trials "), first("plots:")
    phases = {"to_ray_started_s": chosen and chosen[0], "trials_done_at_s": tally and tally[0],
              "plots_written_at_s": plots and plots[0]}
    return {"gpus": gpus, "wall_s": wall, "share": args.share, "chosen": chosen[1] if chosen else "?", "phases": phases,
            **trial_times(f"sqlite:///{(out / 'optuna.db').resolve()}")}


def stamped_run(command: list[str], out: Path, *, env: dict[str, str], what: str,
                cwd: Path | None = None) -> tuple[list[tuple[float, str]], float]:
    """Run `command`, each line of its output stamped with when it came (where the wall time
    outside the trials goes: the start before Ray's "gpus:" line, the close after the last
    trial), kept in OUT/search.log; the lines and the wall time. Exits if it failed."""
    start = time.monotonic()
    stamped = []
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as child:
        for line in child.stdout:
            stamped.append((round(time.monotonic() - start, 2), line.rstrip("\n")))
    wall = time.monotonic() - start
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.log").write_text("".join(f"{t:7.2f}  {line}\n" for t, line in stamped))
    if child.returncode != 0:
        raise SystemExit(f"{what} failed (exit {child.returncode}); see {out / 'search.log'}")
    return stamped, wall


def trial_times(storage: str) -> dict[str, Any]:
    """Per run: the trials' span, the first trials of the workers against later ones, the tail.

    A trial's user attributes say what its start cost (search/_searcher.py): `worker_trial`
    (1: the first trial of a fresh worker process), `start_wait_s` (drawn by the searcher to
    its trainable entered: a slot, the process and its imports, the trial's transfer) and
    `startup_s` (trainable entered to its first training step: CUDA context, model, kernels,
    first step). Optuna's datetime_start is the draw; a trial's "overhead" is its draw-to-done
    time less its training (metrics "seconds": its steps and evaluations)."""
    import optuna

    from trial_timeline import timeline  # noqa: E402  (benchmarks/, beside this script)

    rows = [r for r in timeline(optuna.load_study(study_name="scale", storage=storage))
            if r["done"] is not None and r["status"] != "not started"]
    first_draw = rows[0]["drawn"]  # rows come in draw order
    completions = sorted(r["done"] - first_draw for r in rows)

    def seconds(r) -> float:
        return r["done"] - r["drawn"]

    def overhead(r) -> float | None:
        return None if r["training"] is None else seconds(r) - r["training"]

    def stats(values: list) -> dict[str, float] | None:
        values = [v for v in values if v is not None]
        return {"median": round(statistics.median(values), 2), "max": round(max(values), 2)} if values else None

    first = [r for r in rows if r["worker_trial"] == 1]
    later = [r for r in rows if r["worker_trial"] != 1]
    # when each worker's first training step came, after the search's first draw
    first_steps = sorted(r["drawn"] - first_draw + r["wait"] + r["startup"] for r in first if r["startup"] is not None)
    by_family: dict[str, list[float]] = {}
    for r in rows:
        by_family.setdefault(r["family"], []).append(seconds(r))
    return {
        "trials": len(rows), "states": {s: sum(r["state"] == s for r in rows) for s in ("COMPLETE", "FAIL", "PRUNED")},
        "span_s": completions[-1], "workers": len(first),
        "first_trial_s": stats([seconds(r) for r in first]), "later_trial_s": stats([seconds(r) for r in later]),
        "training_s": stats([r["training"] for r in rows]),
        "first_overhead_s": stats([overhead(r) for r in first]), "later_overhead_s": stats([overhead(r) for r in later]),
        "first_start_wait_s": stats([r["wait"] for r in first]),
        "first_startup_s": stats([r["startup"] for r in first]),
        "later_startup_s": stats([r["startup"] for r in later]),
        "workers_first_step_s": [round(s, 1) for s in first_steps],
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
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2], help="the runs' GPU counts (default: 1 2)")
    parser.add_argument("--share", type=_share, action="append", default=[], metavar="PATH=FRACTION",
                        help="a GPU share of `auto` for one fast path (fused-rnn, triton, hoisted, reference) in these runs")
    parser.add_argument("--smoke", action="store_true", help="4 trials of 64 sequences, hidden 8, 1 epoch: the CPU")
    args = parser.parse_args()
    args.share = dict(args.share)
    if args.smoke:
        args.trials, args.n_train, args.n_val, args.epochs, args.hidden = 4, 64, 32, 1, 8
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    gpus = visible_gpus()
    if gpus and max(args.gpus) > len(gpus):
        parser.error(f"this machine shows {len(gpus)} GPU(s) and --gpus asks for {max(args.gpus)} (CUDA_VISIBLE_DEVICES)")
    args.out.mkdir(parents=True, exist_ok=True)
    workload = {k: v for k, v in vars(args).items() if k not in ("out", "data", "gpus")}
    warmed = None
    if args.warm_up_s > 0:
        envs = [{"CUDA_VISIBLE_DEVICES": g} for g in gpus[:2]]  # sequential runs: MPS's default directory
        warmed = warm_up(envs, data=args.data, hidden=args.hidden, batch_size=128, bound_s=args.warm_up_s,
                         out=args.out / "warm-up")
        workload["warm_up"] = {k: v for k, v in warmed.items() if k != "rows"}
    runs = []
    for count in args.gpus:
        runs.append(search(count, args))
        write(workload, runs, args.out)


def _share(text: str) -> tuple[str, float]:
    from search._resources import GPU_SHARE

    path, _, fraction = text.partition("=")
    if path not in GPU_SHARE:
        raise argparse.ArgumentTypeError(f"{path!r} is no fast path; one of {', '.join(GPU_SHARE)}")
    return path, float(fraction)


def write(workload: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> None:
    """scale.json and scale.md for the runs so far (the speed-ups once both ran)."""
    result: dict[str, Any] = {"workload": workload, "runs": runs}
    if [r["gpus"] for r in runs] == [1, 2]:
        result["speedup"] = runs[0]["wall_s"] / runs[1]["wall_s"]
        result["speedup_of_trials_span"] = runs[0]["span_s"] / runs[1]["span_s"]
    (out / "scale.json").write_text(json.dumps(result, indent=1))
    w = workload
    lines = [f"{w['trials']} trials, psMNIST {w['n_train']} sequences, {w['epochs']} epochs, H={w['hidden']}, paper space, random sampler",
             "", "| GPUs | wall s | trials' span s | workers | first trials: drawn to done, overhead s | start_wait_s + startup_s "
             "| workers' first steps s (first, last) | later trials: drawn to done, overhead s | training alone s | tail s "
             "| what the search chose |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def med(stats: dict | None) -> str:
        return "-" if stats is None else f"{stats['median']:g}"

    for r in runs:
        steps = r["workers_first_step_s"]
        lines.append(f"| {r['gpus']} | {r['wall_s']:.1f} | {r['span_s']:.1f} | {r['workers']} | {med(r['first_trial_s'])}, "
                     f"{med(r['first_overhead_s'])} | {med(r['first_start_wait_s'])} + {med(r['first_startup_s'])} | "
                     f"{steps[0] if steps else '-'}, {steps[-1] if steps else '-'} | {med(r['later_trial_s'])}, "
                     f"{med(r['later_overhead_s'])} | {med(r['training_s'])} | {r['tail_s']:.1f} | {r['chosen']} |")
    lines += ["", "(medians; a worker's first trial: start_wait_s from its draw to its trainable, then startup_s to its "
                  "first training step; issue 10's target: within 5 s on a machine that has run momnas before)"]
    for r in runs:  # where the wall time outside the trials went, from the stamped log
        p = r.get("phases") or {}
        if p.get("to_ray_started_s") is not None and p.get("trials_done_at_s") is not None and p.get("plots_written_at_s") is not None:
            lines.append(f"- {r['gpus']} GPU(s): {p['to_ray_started_s']:.1f} s to Ray started (Python, imports, the task, MPS, "
                         f"Ray), trials done at {p['trials_done_at_s']:.1f} s, closing table and plots "
                         f"{p['plots_written_at_s'] - p['trials_done_at_s']:.1f} s, exit at {r['wall_s']:.1f} s")
    if "speedup" in result:
        lines += ["", f"speed-up of 2 GPUs over 1: {result['speedup']:.2f}x by wall time, "
                      f"{result['speedup_of_trials_span']:.2f}x by the trials' span (target 1.85x)"]
    (out / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
