"""Where one epoch of a trial goes: training steps, the validation pass, the stability probe
(`runs._loop._Run._probe`: the reference recurrence on 64 validation sequences and its backward, for
‖∂L/∂h_t‖ at every t) and the final test pass, for one run of `runs.train` per family
(psMNIST by default, a search's trial). The probe and the passes are timed by wrapping the
loop's own functions, synchronized on the GPU before and after; training is what is left of
the run's wall time.

    python3 benchmarks/epoch_parts.py --data .data/mnist --out $OUT/epoch_parts.json               # a GPU
    python3 benchmarks/epoch_parts.py --task adding --T 50 --n-train 256 --hidden 8 --out /tmp/p.json  # CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import runs  # noqa: E402
from runs import _loop  # noqa: E402

FAMILIES = ["plain-lstm", "adam-lstm", "plain-orthogonal", "plain-unitary", "plain-urnn", "plain-cornn",
            "plain-unicornn", "plain-enrnn"]


def timed(fn, bucket: list[float]):
    """fn, its wall time (GPU synchronized on both sides) appended to bucket at each call."""
    def wrapper(*args, **kwargs):
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        sync()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        sync()
        bucket.append(time.perf_counter() - t0)
        return out
    return wrapper


def measure(family: str, task: dict, hidden: int, epochs: int, graph: str, eval_batch: int | None) -> dict:
    dynamics, core = family.split("-", 1)
    probes, passes = [], []
    probe, evaluate = _loop._Run._probe, _loop.evaluate
    _loop._Run._probe, _loop.evaluate = timed(probe, probes), timed(evaluate, passes)
    try:
        cfg = runs.build_run_config(cell={"core": core, "dynamics": dynamics, "hidden_size": hidden}, task=task,
                                    train={"epochs": epochs, "batch_size": 128, "graph": graph,
                                           "eval_batch_size": eval_batch})
        t0 = time.perf_counter()
        result = runs.train(cfg)
        wall = time.perf_counter() - t0
    finally:
        _loop._Run._probe, _loop.evaluate = probe, evaluate
    startup = result.startup_seconds or 0.0
    return {"family": family, "epochs": epochs, "graph": graph, "eval_rows": cfg.train.eval_rows, "wall_s": round(wall, 3), "startup_s": round(startup, 3),
            "probe_s": [round(p, 3) for p in probes], "passes_s": [round(p, 3) for p in passes],
            "training_s": round(wall - startup - sum(probes) - sum(passes), 3), "status": result.status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=FAMILIES)
    parser.add_argument("--task", default="psmnist")
    parser.add_argument("--data", help="MNIST's folder (psMNIST)")
    parser.add_argument("--T", type=int)
    parser.add_argument("--n-train", type=int, default=16384)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--graph", default="off")
    parser.add_argument("--eval-batch", type=int, help="sequences per validation / test pass (default: the run's)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    task = {"name": args.task, "n_train": args.n_train, **({"data_dir": args.data} if args.data else {}),
            **({"T": args.T} if args.T else {})}
    rows = []
    for family in args.families:
        row = measure(family, task, args.hidden, args.epochs, args.graph, args.eval_batch)
        rows.append(row)
        print(f"{family}: {row['wall_s']} s = startup {row['startup_s']} + training {row['training_s']} "
              f"+ probes {row['probe_s']} + val/test passes {row['passes_s']}", flush=True)
        args.out.write_text(json.dumps({"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                                        "task": task, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
