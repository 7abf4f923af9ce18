"""Warm a machine before a search benchmark: build and train every family of a space for two
steps (and one evaluation) at the benchmark's sizes, so that what a machine that has run momnas
before keeps on disk is there before any way or run is timed.

The targets of issue 10 speak of "a machine that has run momnas before (kernel caches kept)";
a GPU machine lent for one call starts bare. What persists across processes is on disk:
Triton's compiled kernels (~/.triton/cache, keyed by the kernel, its constants and the GPU's
architecture, so one pass fills it for every GPU of a machine) and Python's bytecode of the
project, torch, Ray and Optuna. Kernels specialise on sizes, so the warm-up trains at the
benchmark's hidden size and batch size, on psMNIST's T = 784, with a validation and test split
of one batch (the evaluation's shapes) and the stability probe (64 sequences). One run config
per family, more where a categorical option with string values changes the cell's code
(`orthogonal.param`: exp, cayley, svd; `init`): configurations are spread over a few
processes per GPU, and whatever is still running at the bound is killed (the bound is the
benchmark's, not the warm-up's: a kernel left cold compiles in its first trial, as it would
without a warm-up).

    python3 benchmarks/warm_up.py --data .data/mnist --hidden 128 --out OUT/warm-up    # alone
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKERS_PER_GPU = 4  # processes per GPU (the CPU-bound Triton compilation runs in parallel)


def warm_configs(space_name: str, *, data_dir: str, hidden: int, batch_size: int) -> list[dict[str, Any]]:
    """Run configs, one per family and categorical string option value of `space_name`, for two
    steps and one evaluation of psMNIST at these sizes."""
    import optuna

    import runs
    import spaces

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = spaces.get_space(space_name)
    task = {"name": "psmnist", "n_train": 2 * batch_size, "n_val": batch_size, "n_test": batch_size, "data_dir": data_dir}
    input_size = runs.load_task(runs.TaskConfig.from_dict(task)).input_size
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    for family in space.families:
        options = {}
        for name, param in space.branches(family).items():
            data = param.to_data()
            values = data.get("choices") if isinstance(data, dict) else data
            if isinstance(values, list) and all(isinstance(v, str) for v in values):
                options[name] = values
        for j in range(max((len(v) for v in options.values()), default=1)):
            study.enqueue_trial({"family": family, **{name: values[j % len(values)] for name, values in options.items()}},
                                skip_if_exists=False)
            drawn = space(study.ask())
            configs.append({"cell": {"input_size": input_size, "hidden_size": hidden, **drawn["cell"]}, "task": task,
                            "train": {"epochs": 1, "batch_size": batch_size, "lr": 1e-3, "device": "auto", "seed": 0,
                                      **drawn["train"]}})
    return configs


def warm_part(spec: Path, part: int, parts: int, log: Path) -> None:
    """Train this process's share of the spec's configs (every `parts`-th from `part`), one JSON
    line each in `log`, until the spec's deadline."""
    import torch

    import runs

    torch.set_num_threads(1)
    spec_data = json.loads(spec.read_text())
    with log.open("a") as lines:
        for config in spec_data["configs"][part::parts]:
            if time.time() >= spec_data["deadline"]:
                break
            started = time.perf_counter()
            row: dict[str, Any] = {"family": f"{config['cell']['dynamics']}-{config['cell']['core']}",
                                   "options": {k: v for k, v in config["cell"].items() if isinstance(v, str)}}
            try:
                runs.train(runs.RunConfig.from_dict(config))
            except Exception as exc:  # a family that fails here fails in its trials too: say so, go on
                row["error"] = f"{type(exc).__name__}: {exc}"
            row["seconds"] = round(time.perf_counter() - started, 2)
            lines.write(json.dumps(row) + "\n")
            lines.flush()
    if part == 0 and time.time() < spec_data["deadline"]:
        import optuna  # noqa: F401  (their bytecode, for the search's driver and workers)
        import ray.tune  # noqa: F401


def warm_up(envs: list[dict[str, str]], *, data: str, hidden: int, batch_size: int, bound_s: float, out: Path,
            space: str = "paper", workers_per_gpu: int = WORKERS_PER_GPU) -> dict[str, Any]:
    """Warm the machine (see the module's docstring) with `workers_per_gpu` processes under each
    of `envs` (one per GPU, benchmarks/gpu_slots.py), for at most `bound_s` seconds in all.
    Returns what was warmed: per config its family, options, seconds and any error."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    configs = warm_configs(space, data_dir=str(Path(data).resolve()), hidden=hidden, batch_size=batch_size)
    spec = out / "spec.json"
    spec.write_text(json.dumps({"configs": configs, "deadline": time.time() + bound_s - (time.monotonic() - start)}))
    parts = max(len(envs), 1) * workers_per_gpu
    logs = [out / f"part-{i}.jsonl" for i in range(parts)]
    processes = []
    for i in range(parts):
        env = {**os.environ, **(envs[i % len(envs)] if envs else {})}
        with (out / f"part-{i}.log").open("w") as stderr:
            processes.append(subprocess.Popen([sys.executable, __file__, "--part", str(i), "--of", str(parts), "--spec", str(spec),
                                               "--log", str(logs[i])], env=env, stdout=stderr, stderr=subprocess.STDOUT,
                                              start_new_session=True))
    killed = 0
    for process in processes:
        try:
            process.wait(timeout=max(bound_s - (time.monotonic() - start), 0.1))
        except subprocess.TimeoutExpired:  # still compiling at the bound: its own process group, ended by its id
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            killed += 1
    rows = [json.loads(line) for log in logs if log.exists() for line in log.read_text().splitlines()]
    summary = {"seconds": round(time.monotonic() - start, 1), "bound_s": bound_s, "configs": len(configs),
               "warmed": sum("error" not in r for r in rows), "failed": [r for r in rows if "error" in r],
               "cut_at_the_bound": killed, "rows": rows}
    (out / "warm_up.json").write_text(json.dumps(summary, indent=1))
    cut = f", {killed} process(es) cut at the {bound_s:g} s bound" if killed else ""
    failed = f", {len(summary['failed'])} failed (see warm_up.json)" if summary["failed"] else ""
    print(f"warm-up: {summary['warmed']} of {len(configs)} configs trained in {summary['seconds']:.0f} s{cut}{failed}", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with MNIST's IDX files")
    parser.add_argument("--out", type=Path, help="folder for warm_up.json and the processes' logs")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--bound-s", type=float, default=30.0)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs to spread the processes over")
    parser.add_argument("--part", type=int, help=argparse.SUPPRESS)  # internal: one process's share
    parser.add_argument("--of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.spec is not None:
        warm_part(args.spec, args.part, args.of, args.log)
        return
    if args.data is None or args.out is None:
        parser.error("--data and --out are needed")
    from gpu_slots import slot_envs

    try:
        envs = slot_envs(args.gpus)
    except ValueError as exc:
        parser.error(str(exc))
    warm_up(envs, data=args.data, hidden=args.hidden, batch_size=args.batch_size, bound_s=args.bound_s, out=args.out)


if __name__ == "__main__":
    main()
