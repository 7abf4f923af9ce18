"""Does packing pay? Training work per hour of one GPU, one trial at a time against `auto`
packing (issue 10's target: packed trials per hour on one H200 for the `paper` space at
least 4x one trial per GPU, for trials of a minute or more).

The same trial stream (the `paper` space, random sampler, seed 0, no early stopping) runs for
a fixed window (`--window-s`, Tune's time budget) twice on one GPU: `--gpus-per-trial 1` (one
trial at a time) and the defaults (`--gpus-per-trial auto`: a share per family, search/_resources.py,
under CUDA MPS). Trials of a minute or more do not finish in a short
window, so work is counted in epochs: every trial's epochs so far (its learning curve, which
the search stores at every evaluation, also for the trials the window cuts), not finished
trials. A cut trial loses the part of its epoch after its last evaluation, in both runs alike.

The two runs do not train the same mix: one at a time, a 60 s window holds a trial or two,
the one the search starts first being the costliest of its next few (search._order), while
the packed run trains a dozen. So epochs are also weighed by what they cost alone: after both
runs, each trial's cell (its `run_config`) is timed alone on the GPU, ms per training
iteration at the workload's batch and hidden size (cells.benchmark.run_benchmark, what
`momnas bench` runs: a few iterations after a warm-up, ~0.5 s a cell), and an epoch weighs
iterations per epoch x that. The sum over a run's trials, per second of the window, is
"GPU-seconds of one-at-a-time training" per second: one trial at a time scores a little
under 1 on it (its start-up and evaluations are not counted as work), and the packed run's
score over the one-at-a-time run's is the packing's gain, the target's "trials per hour"
ratio for a stream of the space's mix. The raw epochs and trial-equivalents (epochs / epochs
per trial) per hour, and epochs per family, are reported too.

Workload: psMNIST, 8192 training sequences (64 iterations an epoch), 512 validation
sequences, H=128, 60 epochs: a trial of ~1 minute alone on an H200 for the cheapest
families (~10 ms an iteration and the evaluation's stability probe), several minutes for
unitary and uRNN (~30 ms), so every trial of the stream is "a minute or more".

    # one H200: ~30 s warm-up + 2 x (60 s + ~25 s start and end) + ~20 s timing cells alone: ~4 minutes
    python3 benchmarks/search_packing.py --data .data/mnist --out $OUT/packing
    # 2 x H200: the two runs side by side, one per GPU: ~2.5 minutes
    python3 benchmarks/search_packing.py --data .data/mnist --gpus 2 --out $OUT/packing
    # CPU smoke (tiny; "one at a time" is --max-concurrent 1 there, packed: as many as the CPUs allow)
    python3 benchmarks/search_packing.py --smoke --data ../shared/data/mnist --out /tmp/packing

Writes OUT/packing.json, OUT/packing.md and each run's study and log under OUT/<run>/.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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

from gpu_slots import slot_envs  # noqa: E402  (benchmarks/, beside this script)
from warm_up import warm_up  # noqa: E402

# run -> (label, flags on a GPU machine, flags on a machine without GPUs)
RUNS = {
    "one": ("one trial at a time (--gpus-per-trial 1)", ["--gpus-per-trial", "1"], ["--max-concurrent", "1"]),
    "packed": ("auto packing, MPS auto (the defaults)", [], []),
}
FULL = dict(n_train=8192, n_val=512, hidden=128, epochs=60, batch_size=128, window_s=60.0)
SMOKE = dict(n_train=128, n_val=32, hidden=8, epochs=20, batch_size=64, window_s=30.0)


def run_search(name: str, sizes: dict[str, Any], data: str, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """One run of the stream for the window, pinned by `env` (one GPU, its MPS directories)."""
    folder = out / name
    flags = RUNS[name][1] if env else RUNS[name][2]
    command = [sys.executable, "-m", "search.cli", "search", "--task", "psmnist", "--data-dir", str(Path(data).resolve()),
               "--n-train", str(sizes["n_train"]), "--n-val", str(sizes["n_val"]), "--n-test", str(sizes["n_val"]),
               "--space", "paper", "--hidden", str(sizes["hidden"]), "--epochs", str(sizes["epochs"]),
               "--batch-size", str(sizes["batch_size"]), "--trials", "1000", "--sampler", "random", "--seed", "0",
               "--early-stop", "none", "--time-budget-s", str(sizes["window_s"]), "--out", str(folder), "--study", name, *flags]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env, "COLUMNS": "160"})
    wall = time.monotonic() - start
    folder.mkdir(parents=True, exist_ok=True)
    log = done.stdout + done.stderr
    (folder / "search.log").write_text(log)
    if done.returncode != 0:
        raise SystemExit(f"{name}: `momnas search` failed (exit {done.returncode}); see {folder / 'search.log'}")
    return {"run": name, "label": RUNS[name][0], "flags": flags, "gpu": env.get("CUDA_VISIBLE_DEVICES"), "wall_s": wall,
            "chosen": next((line for line in log.splitlines() if line.startswith("gpus:")), "?"),
            "trials": trials_trained(f"sqlite:///{(folder / 'optuna.db').resolve()}", name)}


def trials_trained(storage: str, study_name: str) -> list[dict[str, Any]]:
    """Each drawn trial: family, state, epochs trained (its `curve`'s last epoch, stored at every
    evaluation, so also for a trial the window cut) and its cell as `momnas bench` names it."""
    import optuna

    rows = []
    for t in optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False):
        cell = (t.user_attrs.get("run_config") or {}).get("cell")
        if cell is None:
            continue
        curve = t.user_attrs.get("curve") or []
        options = ",".join(f"{k}={v}" for k, v in cell.items() if k not in ("core", "dynamics", "input_size", "hidden_size"))
        rows.append({"number": t.number, "family": f"{cell['dynamics']}-{cell['core']}", "state": t.state.name,
                     "epochs": float(curve[-1]["epoch"]) if curve else 0.0,
                     "cell": f"{cell['dynamics']}-{cell['core']}" + (f":{options}" if options else "")})
    return rows


def alone_ms(cells: list[str], sizes: dict[str, Any]) -> dict[str, float | str]:
    """ms per training iteration of each cell alone on this process's first GPU (or the CPU),
    at the workload's hidden size, batch and psMNIST's T = 784; the error instead for a cell
    that could not be timed."""
    from cells.benchmark import run_benchmark

    ms: dict[str, float | str] = {}
    for cell in cells:
        try:
            result = run_benchmark([cell], hidden_sizes=(sizes["hidden"],), batch=sizes["batch_size"], steps=784,
                                   iters=5, warmup=2, reference=False)
            ms[cell] = result["rows"][0]["auto_ms"]
        except Exception as exc:  # its epochs then go unweighed, counted apart
            ms[cell] = f"{type(exc).__name__}: {exc}"
    return ms


def work_done(run: dict[str, Any], ms: dict[str, float | str], sizes: dict[str, Any]) -> dict[str, Any]:
    """A run's epochs per hour of the window, raw and weighed by the cells' alone cost (epochs
    of cells that could not be timed alone are counted apart)."""
    iterations = -(-sizes["n_train"] // sizes["batch_size"])
    window = sizes["window_s"]
    rows = run["trials"]
    for r in rows:
        cost = ms.get(r["cell"], 0.0)
        r["alone_s_per_epoch"] = iterations * cost / 1000 if isinstance(cost, float) else None
    epochs = sum(r["epochs"] for r in rows)
    by_family: dict[str, float] = {}
    for r in rows:
        by_family[r["family"]] = by_family.get(r["family"], 0.0) + r["epochs"]
    return {
        "trials_drawn": len(rows), "trials_completed": sum(r["state"] == "COMPLETE" for r in rows),
        "epochs": epochs, "epochs_per_hour": epochs * 3600 / window,
        "trial_equivalents_per_hour": epochs / sizes["epochs"] * 3600 / window,
        "alone_gpu_s_per_s": sum(r["epochs"] * r["alone_s_per_epoch"] for r in rows if r["alone_s_per_epoch"] is not None) / window,
        "epochs_not_timed_alone": sum(r["epochs"] for r in rows if r["alone_s_per_epoch"] is None),
        "epochs_by_family": {f: round(e, 2) for f, e in sorted(by_family.items())},
        "median_epochs_per_trial": statistics.median(r["epochs"] for r in rows) if rows else 0.0,
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["workload"]
    lines = [f"psMNIST {s['n_train']} sequences, {s['epochs']} epochs per trial, H={s['hidden']}, `paper` space, random "
             f"sampler (seed 0), no early stopping; a {s['window_s']:g} s window per run, one GPU each",
             "", "| run | trials drawn / completed | epochs | epochs per hour | trial-equivalents per hour | "
             "one-at-a-time GPU-s per s | what the search chose |", "|---|---|---|---|---|---|---|"]
    for r in result["runs"].values():
        lines.append(f"| {r['label']} | {r['trials_drawn']} / {r['trials_completed']} | {r['epochs']:.1f} | "
                     f"{r['epochs_per_hour']:.0f} | {r['trial_equivalents_per_hour']:.1f} | {r['alone_gpu_s_per_s']:.2f} | "
                     f"{r['chosen']} |")
    untimed = {r["label"]: r["epochs_not_timed_alone"] for r in result["runs"].values() if r["epochs_not_timed_alone"]}
    if untimed:
        lines += ["", "epochs of cells that could not be timed alone (not weighed): "
                      + ", ".join(f"{label} {e:.1f}" for label, e in untimed.items())]
    gain = result.get("packing_gain")
    if gain is not None:
        lines += ["", f"packed over one at a time: {gain['weighed']:.2f}x by one-at-a-time GPU-seconds of work "
                      f"(target 4x), {gain['epochs']:.2f}x by raw epochs (a different mix of families)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with MNIST's IDX files")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--window-s", type=float, help="each run's window (default 60; smoke 30)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (default 60: trials of a minute or more)")
    parser.add_argument("--gpus", type=int, default=1, help="1: the runs one after the other on one GPU; 2: side by side")
    parser.add_argument("--warm-up-s", type=float, default=30.0, help="bound on the warm-up before the runs; 0: none")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the CPU")
    args = parser.parse_args()
    sizes = dict(SMOKE if args.smoke else FULL)
    sizes.update({k: v for k, v in (("window_s", args.window_s), ("epochs", args.epochs)) if v is not None})
    if args.gpus not in (1, 2):
        parser.error(f"--gpus must be 1 or 2 (one GPU per run), got {args.gpus}")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    try:
        envs = slot_envs(args.gpus)
    except ValueError as exc:
        parser.error(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    warmed = None
    if args.warm_up_s > 0:
        warmed = warm_up(envs, data=args.data, hidden=sizes["hidden"], batch_size=sizes["batch_size"],
                         bound_s=args.warm_up_s, out=args.out / "warm-up")
    names = list(RUNS)
    with concurrent.futures.ThreadPoolExecutor(len(envs)) as pool:
        # run i on GPU i mod N; a GPU's runs one after the other
        queues = [pool.submit(lambda queue, env: [run_search(n, sizes, args.data, args.out, env) for n in queue],
                              names[i::len(envs)], env) for i, env in enumerate(envs)]
        runs = {r["run"]: r for queue in queues for r in queue.result()}
    runs = {n: runs[n] for n in names}
    # the cells the runs trained, timed alone once both runs have left the GPUs
    timed = time.monotonic()
    ms = alone_ms(sorted({r["cell"] for run in runs.values() for r in run["trials"] if r["epochs"] > 0}), sizes)
    for run in runs.values():
        run.update(work_done(run, ms, sizes))
    failed = [c for c, v in ms.items() if isinstance(v, str)]
    print(f"timed {len(ms) - len(failed)} cells alone in {time.monotonic() - timed:.0f} s"
          + (f"; {len(failed)} could not be timed (packing.json, alone_ms)" if failed else ""), flush=True)
    result: dict[str, Any] = {"workload": sizes, "side_by_side": len(envs), "alone_ms": ms,
                              "warm_up": warmed and {k: v for k, v in warmed.items() if k != "rows"}, "runs": runs}
    if runs["one"]["alone_gpu_s_per_s"] > 0 and runs["one"]["epochs"] > 0:
        result["packing_gain"] = {"weighed": runs["packed"]["alone_gpu_s_per_s"] / runs["one"]["alone_gpu_s_per_s"],
                                  "epochs": runs["packed"]["epochs"] / runs["one"]["epochs"]}
    (args.out / "packing.json").write_text(json.dumps(result, indent=1))
    (args.out / "packing.md").write_text(markdown(result))
    print(markdown(result), flush=True)
    print(f"total: {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
