"""What a search buys: Pareto quality and best accuracy against GPU-seconds, four ways (issue 10, step 4).

One workload (psMNIST, a subset of its training set, H=128, the `paper` space), one
wall-clock budget per way (default 180 s) of one GPU each:

  (a) momnas        `momnas search` defaults: MO-ASHA (`--early-stop mo-asha`), auto packing, MPS
  (b) no-stop       the same with `--early-stop none`
  (c) peer          what a user of the peers writes: plain Ray Tune + ray.tune.search.optuna.OptunaSearch
                    (multi-objective, the same space as a define-by-run function) + ASHAScheduler on the
                    validation accuracy alone, a fixed GPU share per trial; the trials ASHA stops end
                    COMPLETE in its study with the values of the epoch they stopped at ("truncated")
  (d) random        `momnas search --sampler random --early-stop none`

For each: the hypervolume of the COMPLETE trials (accuracy up, instability down; one reference
point for all ways: accuracy 0 and 1.1 x the largest instability any way saw) and the best
validation accuracy against elapsed GPU-seconds (wall seconds since the way started, Ray's
start-up included, x the GPUs it had). Hypervolumes come from Optuna's public
`optuna.visualization.plot_hypervolume_history` (the trials added in order of completion).
(c) is scored as its study says (truncated trials included, as its user sees them) and
without its truncated trials; the figure marks them on its front.

    # 2 x H200, two ways at a time (way i on GPU i mod 2): ~30 s warm-up + 2 x ~210 s; MNIST in .data/mnist
    python3 benchmarks/search_efficiency.py --data .data/mnist --gpus 2 --out $OUT/efficiency
    # one H200: the same, one way after the other (~30 s + 4 x ~210 s)
    python3 benchmarks/search_efficiency.py --data .data/mnist --out $OUT/efficiency
    # CPU smoke (a few hundred sequences, tiny cells, 2 trials per way; --gpus 2: two ways at once)
    python3 benchmarks/search_efficiency.py --smoke --gpus 2 --data ../shared/data/mnist --out /tmp/efficiency

Side by side (`--gpus N`): each way gets one GPU (CUDA_VISIBLE_DEVICES) and a CUDA MPS pipe
and log directory of its own GPU (benchmarks/gpu_slots.py), so the daemon one way's search
starts serves its GPU only and never captures the other way's trials; the ways of one GPU run
one after the other. The ways compare on the same warm machine: before any way starts, every
family of the space is built and trained for two steps at the workload's sizes, spread over
the GPUs (benchmarks/warm_up.py, at most `--warm-up-s`, default 30 s, counted in no way's
budget), so that Triton's kernel cache on disk and Python's bytecode are filled as on "a
machine that has run momnas before" (issue 10's target). Side by side the ways share the
host's CPUs (a few per trial; 32 cores on 2 x H200 run both ways' 8 trials each).

The workload (FULL): 4096 training sequences, 12 epochs, rungs at epochs 1, 3 and 9
(MO-ASHA's grace 1, eta 3). Why, from run 18 (8192 sequences, 4 epochs, 100 s; NOTES.md):
there the first trial of any way completed at ~40 s (a cold worker's start-up ~20 s, then
256 iterations and 4 evaluations packed 8 to a GPU), a trial kept its slot ~30-40 s, so a
way saw about two waves, and with rungs at 1 and 3 of 4 epochs MO-ASHA could save at most
(4 - 1.8) / 4 of a trial (a trial that stops at the first rung still pays its start-up):
it reached (b)'s hypervolume at 0.72 of (b)'s time. With per-trial overhead o (start-up, test
evaluation) and per-epoch cost u (training and the evaluation with its stability probe), the
average MO-ASHA trial costs o + 2.44 u with rungs 1, 3, 9 of 12 against o + 12 u without:
3.2x fewer GPU-seconds per trial at o = 2 u, 4.9x at o = 0, where rungs 1, 3 of 4 give at
most 2.25x. Halving the epoch (4096 sequences: 32 iterations, ~1-3 s packed by family, plus
~1 s of evaluation) keeps a full trial of (b) at ~30-55 s on a warm machine (a unitary or
uRNN trial the longest), so (b) completes four or more waves in 180 s and (a) its first
full trials by ~60 s (1/3 of the budget); 12 epochs of 4096 sequences also train more than
run 18's 4 of 8192 (49k sequences seen, not 33k). These are estimates from run 18 and the
kernels' ms per iteration (NOTES.md runs 14, 17), not measurements: the results' trial
times say what they were.

Writes OUT/results.json, OUT/results.md (the table) and OUT/efficiency.html (plotly), and
each way's study under OUT/<way>/ with OUT/runs.json saying where. Ways run at different times
(or on different GPUs) are scored together, against one reference point, by
`--analyse DIR1 DIR2 --out DIR`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_slots import slot_envs  # noqa: E402  (benchmarks/, beside this script)
from warm_up import warm_up  # noqa: E402

WAYS = {
    "momnas": ("(a) momnas defaults: MO-ASHA, auto packing", ["--early-stop", "mo-asha"]),
    "no-stop": ("(b) momnas --early-stop none", ["--early-stop", "none"]),
    "peer": ("(c) Ray Tune + OptunaSearch + ASHA on accuracy", None),
    "random": ("(d) random sampler, no early stopping", ["--sampler", "random", "--early-stop", "none"]),
}
OBJECTIVES = ["val_accuracy", "instability"]
DIRECTIONS = ["maximize", "minimize"]


@dataclasses.dataclass(frozen=True)
class Workload:
    data: str
    n_train: int
    n_val: int
    n_test: int
    hidden: int
    epochs: int
    batch_size: int
    trials: int          # an upper bound: the budget ends each way
    budget_s: float
    peer_gpus: float     # the peer's fixed GPU share per trial (where there are GPUs)

    def task(self) -> dict[str, Any]:
        return {"name": "psmnist", "n_train": self.n_train, "n_val": self.n_val, "n_test": self.n_test,
                "data_dir": str(Path(self.data).resolve())}


FULL = dict(n_train=4096, n_val=1024, n_test=1024, hidden=128, epochs=12, batch_size=128, trials=1000)
SMOKE = dict(n_train=64, n_val=32, n_test=32, hidden=8, epochs=3, batch_size=64, trials=2)


def momnas_has_early_stop() -> bool:
    from search import SearchConfig

    return "early_stop" in {f.name for f in dataclasses.fields(SearchConfig)}


def run_momnas_way(way: str, work: Workload, out: Path, env: dict[str, str]) -> dict[str, Any]:
    flags = list(WAYS[way][1])
    if not momnas_has_early_stop():  # a checkout without MO-ASHA: (a) and (b) run the same search
        flags = [f for f in flags if f not in ("--early-stop", "mo-asha", "none")]
    task = work.task()
    command = [sys.executable, "-m", "search.cli", "search", "--task", "psmnist", "--data-dir", task["data_dir"],
               "--n-train", str(work.n_train), "--n-val", str(work.n_val), "--n-test", str(work.n_test),
               "--space", "paper", "--hidden", str(work.hidden), "--epochs", str(work.epochs),
               "--batch-size", str(work.batch_size), "--trials", str(work.trials), "--time-budget-s", str(work.budget_s),
               "--seed", "0", "--out", str(out / way), "--study", way, *flags]
    started = datetime.datetime.now()
    t0 = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env, "COLUMNS": "160"})
    (out / f"{way}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{way}: `momnas search` failed (exit {done.returncode}); see {out / f'{way}.log'}")
    return {"started": started.isoformat(), "wall_s": time.monotonic() - t0, "flags": flags,
            "storage": f"sqlite:///{(out / way / 'optuna.db').resolve()}", "study": way, "truncated": []}


def run_peer_way(work: Workload, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """(c) in a process of its own (its own Ray, its GPU's environment `env`)."""
    spec = out / "peer.json"
    spec.write_text(json.dumps(dataclasses.asdict(work)))
    started = datetime.datetime.now()
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--peer", str(spec), "--data", work.data, "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, **env})
    (out / "peer.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"peer: the Ray Tune script failed (exit {done.returncode}); see {out / 'peer.log'}")
    truncated = json.loads((out / "peer" / "truncated.json").read_text())
    return {"started": started.isoformat(), "wall_s": time.monotonic() - t0, "flags": [],
            "storage": f"sqlite:///{(out / 'peer' / 'optuna.db').resolve()}", "study": "peer", "truncated": truncated}


def peer_main(spec_path: Path, out: Path) -> None:
    """The peer's script: plain Ray Tune, OptunaSearch over the same space, ASHA on accuracy;
    under MPS where its trials share a GPU, as (a)'s (the daemon started before Ray, in this
    process's environment: its GPU's MPS directories when side by side)."""
    import optuna
    import ray
    from ray import tune

    import runs
    import spaces
    from search._mps import mps_for_search

    work = Workload(**json.loads(spec_path.read_text()))
    task = work.task()
    input_size = runs.load_task(runs.TaskConfig.from_dict(task)).input_size
    space = spaces.get_space("paper")
    import torch

    gpus = work.peer_gpus if torch.cuda.device_count() > 0 else 0

    def trainable(config: dict[str, Any]) -> None:
        torch.set_num_threads(1)
        run = {"cell": {"input_size": input_size, "hidden_size": work.hidden, **config["cell"]}, "task": task,
               "train": {"epochs": work.epochs, "batch_size": work.batch_size, "lr": 1e-3, "clip": 1.0,
                         "device": "auto", "seed": 0, **config["train"]}}

        def report(snapshot: dict[str, Any]) -> bool:
            instability = snapshot.get("instability")
            tune.report({"val_accuracy": snapshot["val_accuracy"], "epoch": snapshot["epoch"],
                         "instability": math.nan if instability is None else float(instability)})
            return False

        runs.train(runs.RunConfig.from_dict(run), report=report)

    folder = out / "peer"
    folder.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(folder / 'optuna.db').resolve()}")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    with mps_for_search("auto", wanted=0 < gpus < 1):
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        grid = peer_tuner(work, trainable, gpus, space, storage, folder).fit()
        # ASHA's stopped trials: fewer epochs than asked, yet COMPLETE in OptunaSearch's study.
        truncated = [[r.metrics["val_accuracy"], r.metrics["instability"]] for r in grid
                     if r.error is None and (r.metrics or {}).get("val_accuracy") is not None
                     and r.metrics.get("training_iteration", 0) < work.epochs]
        (folder / "truncated.json").write_text(json.dumps(truncated))
        ray.shutdown()


def peer_tuner(work: Workload, trainable, gpus: float, space, storage, folder: Path):
    """The peer's Tuner: OptunaSearch (both objectives) with ASHA on validation accuracy alone."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    return tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1, "gpu": gpus}),
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(space=space, metric=OBJECTIVES, mode=["max", "min"], study_name="peer",
                                    storage=storage, seed=0),
            scheduler=ASHAScheduler(metric="val_accuracy", mode="max", max_t=work.epochs),
            num_samples=work.trials, time_budget_s=work.budget_s,
        ),
        run_config=tune.RunConfig(storage_path=str((folder / "ray").resolve()), verbose=0),
    )


def hypervolume_history(values: list[list[float]], reference: list[float]) -> list[float]:
    """Hypervolume after each of `values` (in order), by Optuna's public hypervolume plot."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if not values:
        return []
    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trials([optuna.trial.create_trial(values=v, params={}, distributions={}) for v in values])
    figure = optuna.visualization.plot_hypervolume_history(study, reference_point=reference)
    return [float(y) for y in figure.data[0].y]


def completed(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The way's COMPLETE trials in order of completion: seconds since the way started, values, truncated."""
    import optuna

    study = optuna.load_study(study_name=run["study"], storage=run["storage"])
    started = datetime.datetime.fromisoformat(run["started"])
    truncated = {tuple(v) for v in run["truncated"]}
    trials = sorted(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.datetime_complete)
    return [{"seconds": (t.datetime_complete - started).total_seconds(), "values": list(t.values),
             "family": t.user_attrs.get("family") or t.params.get("family"), "truncated": tuple(t.values) in truncated}
            for t in trials if all(math.isfinite(v) for v in t.values)]


def counts(run: dict[str, Any]) -> dict[str, int]:
    import optuna

    study = optuna.load_study(study_name=run["study"], storage=run["storage"])
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        # drawn ahead and never started: neither a failure nor a trial the budget cut
        state = "NOT_STARTED" if t.user_attrs.get("status") == "not started" else t.state.name
        out[state] = out.get(state, 0) + 1
    return out


def analyse(runs_: dict[str, dict[str, Any]], gpus: int) -> dict[str, Any]:
    trials = {way: completed(run) for way, run in runs_.items()}
    worst = max((t["values"][1] for ts in trials.values() for t in ts), default=1.0)
    reference = [0.0, 1.1 * worst if worst > 0 else 1.0]
    scale = max(gpus, 1)
    results: dict[str, Any] = {"reference_point": reference, "gpus": gpus, "ways": {}}
    for way, ts in trials.items():
        seconds = [t["seconds"] * scale for t in ts]
        hv = hypervolume_history([t["values"] for t in ts], reference)
        best = [max(t["values"][0] for t in ts[: i + 1]) for i in range(len(ts))]
        honest = [t for t in ts if not t["truncated"]]
        results["ways"][way] = {
            "label": WAYS[way][0], "flags": runs_[way]["flags"], "wall_s": runs_[way]["wall_s"],
            "gpu_seconds": runs_[way]["wall_s"] * scale, "states": counts(runs_[way]),
            "gpu_seconds_at": seconds, "hypervolume": hv, "best_val_accuracy": best,
            "final_hypervolume": hv[-1] if hv else 0.0, "final_best_val_accuracy": best[-1] if best else None,
            "truncated": sum(t["truncated"] for t in ts),
            "final_hypervolume_without_truncated": (hypervolume_history([t["values"] for t in honest], reference) or [0.0])[-1],
            "trials": ts,
        }
    ways = results["ways"]
    if "momnas" in ways and "no-stop" in ways and ways["no-stop"]["final_hypervolume"] > 0:
        target = ways["no-stop"]["final_hypervolume"]
        reached = next((s for s, h in zip(ways["momnas"]["gpu_seconds_at"], ways["momnas"]["hypervolume"]) if h >= target), None)
        results["a_reaches_b_final_hv_at_fraction_of_b_time"] = None if reached is None else reached / ways["no-stop"]["gpu_seconds"]
    return results


def markdown(results: dict[str, Any], work: Workload) -> str:
    lines = [
        f"psMNIST, {work.n_train} training sequences, H={work.hidden}, `paper` space, {work.epochs} epochs per trial, "
        f"budget {work.budget_s:g} s per way; {results['gpus']} GPU(s) per way; hypervolume reference point "
        f"(accuracy {results['reference_point'][0]:g}, instability {results['reference_point'][1]:.3g})",
        "",
        "| way | GPU-s | trials (COMPLETE / PRUNED / FAIL / cut by the budget) | hypervolume | best val accuracy | truncated on its front |",
        "|---|---|---|---|---|---|",
    ]
    for way in results["ways"].values():
        s = way["states"]
        best = way["final_best_val_accuracy"]
        hv = f"{way['final_hypervolume']:.4g}"
        if way["truncated"]:
            hv += f" ({way['final_hypervolume_without_truncated']:.4g} without them)"
        lines.append(f"| {way['label']} | {way['gpu_seconds']:.0f} | {s.get('COMPLETE', 0)} / {s.get('PRUNED', 0)} / "
                     f"{s.get('FAIL', 0)} / {s.get('RUNNING', 0)} | {hv} | {'-' if best is None else f'{best:.4f}'} | "
                     f"{way['truncated'] if way['label'].startswith('(c)') else '-'} |")
    fraction = results.get("a_reaches_b_final_hv_at_fraction_of_b_time", "n/a")
    if fraction is None:
        lines += ["", "(a) does not reach (b)'s final hypervolume within its budget (target: within 1/3 of (b)'s GPU-seconds)."]
    else:
        lines += ["", f"(a) reaches (b)'s final hypervolume at {fraction if not isinstance(fraction, float) else f'{fraction:.2f}'} "
                      "of (b)'s GPU-seconds (target: at most 1/3)."]
    return "\n".join(lines) + "\n"


def figure(results: dict[str, Any], path: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("hypervolume", "best validation accuracy", "COMPLETE trials"))
    for i, (way, r) in enumerate(results["ways"].items()):
        color = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")[i % 4]
        fig.add_trace(go.Scatter(x=r["gpu_seconds_at"], y=r["hypervolume"], mode="lines+markers", name=r["label"],
                                 line={"shape": "hv", "color": color}, legendgroup=way), row=1, col=1)
        fig.add_trace(go.Scatter(x=r["gpu_seconds_at"], y=r["best_val_accuracy"], mode="lines+markers", name=r["label"],
                                 line={"shape": "hv", "color": color}, legendgroup=way, showlegend=False), row=1, col=2)
        for truncated in (False, True):
            ts = [t for t in r["trials"] if t["truncated"] == truncated]
            if ts:
                fig.add_trace(go.Scatter(
                    x=[t["values"][1] for t in ts], y=[t["values"][0] for t in ts], mode="markers", legendgroup=way,
                    name=f"{r['label']}: truncated by ASHA" if truncated else r["label"], showlegend=truncated,
                    marker={"color": color, "symbol": "x-open" if truncated else "circle", "size": 10 if truncated else 7},
                    text=[t["family"] for t in ts]), row=1, col=3)
    fig.update_xaxes(title_text="GPU-seconds", row=1, col=1)
    fig.update_xaxes(title_text="GPU-seconds", row=1, col=2)
    fig.update_xaxes(title_text="instability", row=1, col=3)
    fig.update_yaxes(title_text="validation accuracy", row=1, col=3)
    fig.update_layout(title="What a search buys: Pareto quality against GPU time (psMNIST, paper space)", width=1500, height=520)
    fig.write_html(path, include_plotlyjs="cdn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with MNIST's IDX files (needed unless --analyse)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget-s", type=float, default=180.0, help="wall-clock budget per way (default 180)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"which ways, of {','.join(WAYS)}")
    parser.add_argument("--n-train", type=int, help="training sequences (default 4096; smoke 64)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (default 12; smoke 3)")
    parser.add_argument("--peer-gpus", type=float, default=0.125, help="(c)'s GPU share per trial (default 1/8)")
    parser.add_argument("--gpus", type=int, default=1,
                        help="ways side by side, one GPU each: way i on GPU i mod N (default 1: one after the other); "
                             "on a machine without GPUs, N ways at once")
    parser.add_argument("--warm-up-s", type=float, default=30.0,
                        help="bound on the warm-up before the ways (every family built and trained briefly); 0: none")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and a 60 s budget, for the CPU")
    parser.add_argument("--analyse", type=Path, nargs="+", metavar="DIR",
                        help="train nothing: score together the ways that earlier runs left in these --out folders")
    parser.add_argument("--peer", type=Path, help=argparse.SUPPRESS)  # internal: run way (c) from this spec
    args = parser.parse_args()
    if args.peer is not None:
        peer_main(args.peer, args.out)
        return
    if args.analyse:
        report(*joined_runs(args.analyse), args.out)
        return
    if args.data is None:
        parser.error("--data is needed: the folder with MNIST's IDX files")
    sizes = dict(SMOKE if args.smoke else FULL)
    sizes.update({k: v for k, v in (("n_train", args.n_train), ("epochs", args.epochs)) if v is not None})
    budget = 60.0 if args.smoke and args.budget_s == parser.get_default("budget_s") else args.budget_s
    work = Workload(data=args.data, budget_s=budget, peer_gpus=args.peer_gpus, **sizes)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        parser.error(f"unknown way(s) {', '.join(unknown)}; choose from {', '.join(WAYS)}")
    if args.gpus < 1:
        parser.error(f"--gpus must be 1 or more, got {args.gpus}")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    try:
        envs = slot_envs(min(args.gpus, len(ways)))
    except ValueError as exc:
        parser.error(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    if not momnas_has_early_stop():
        print("note: this momnas has no --early-stop (MO-ASHA): ways momnas and no-stop run the same search", flush=True)
    start = time.monotonic()
    warmed = None
    if args.warm_up_s > 0:
        warmed = warm_up(envs, data=args.data, hidden=work.hidden, batch_size=work.batch_size, bound_s=args.warm_up_s,
                         out=args.out / "warm-up")
    runs_: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def run_ways(queue: list[str], env: dict[str, str]) -> None:
        """One GPU's ways, one after the other."""
        for way in queue:
            where = f" on GPU {env['CUDA_VISIBLE_DEVICES']}" if env else ""
            print(f"{way}: {WAYS[way][0]}{where} ...", flush=True)
            try:
                run = run_peer_way(work, args.out, env) if way == "peer" else run_momnas_way(way, work, args.out, env)
            except SystemExit as exc:  # one way failing leaves the others to run
                print(exc, flush=True)
                continue
            # GPUs the way had: one (pinned) on a GPU machine, none on the CPU
            run.update(gpus=1 if env else 0, gpu=env.get("CUDA_VISIBLE_DEVICES"))
            with lock:
                runs_[way] = run
                print(f"{way}: {run['wall_s']:.0f} s", flush=True)
                # after every way: a run cut short still leaves its table
                saved = {w: {**r, "storage": r["storage"].replace(f"sqlite:///{args.out.resolve()}/", "sqlite:///./")}
                         for w, r in runs_.items()}
                (args.out / "runs.json").write_text(json.dumps(
                    {"workload": dataclasses.asdict(work), "warm_up": warmed and {k: v for k, v in warmed.items() if k != "rows"},
                     "side_by_side": len(envs), "runs": saved}, indent=1))
                report(runs_, work, args.out)

    with concurrent.futures.ThreadPoolExecutor(len(envs)) as pool:
        for done in [pool.submit(run_ways, ways[i::len(envs)], env) for i, env in enumerate(envs)]:
            done.result()
    print(f"total: {time.monotonic() - start:.0f} s")


def joined_runs(folders: list[Path]) -> tuple[dict[str, dict[str, Any]], Workload]:
    """The ways that earlier runs of this script left in `folders` (their runs.json), with their
    storages found again where the folders are now; one workload for all, or an error."""
    runs_: dict[str, dict[str, Any]] = {}
    works = set()
    for folder in folders:
        saved = json.loads((folder / "runs.json").read_text())
        works.add(json.dumps({k: v for k, v in saved["workload"].items() if k != "data"}, sort_keys=True))
        for way, run in saved["runs"].items():
            runs_[way] = {**run, "storage": run["storage"].replace("sqlite:///./", f"sqlite:///{folder.resolve()}/")}
    if len(works) != 1:
        raise SystemExit(f"--analyse: the folders ran different workloads ({len(works)}); score only runs of one workload")
    return runs_, Workload(**json.loads((folders[0] / "runs.json").read_text())["workload"])


def report(runs_: dict[str, dict[str, Any]], work: Workload, out: Path) -> None:
    """results.json, results.md (the table) and efficiency.html for these ways, in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    results = analyse(runs_, max(r.get("gpus", 1) for r in runs_.values()))
    (out / "results.json").write_text(json.dumps({"workload": dataclasses.asdict(work), **results}, indent=1))
    (out / "results.md").write_text(markdown(results, work))
    figure(results, out / "efficiency.html")
    print((out / "results.md").read_text(), flush=True)


if __name__ == "__main__":
    main()
