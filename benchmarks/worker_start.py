"""Where a fresh worker's first trial spends its start (issue 10: "a worker's first trial starts
within 5 s"), one phase at a time, in fresh processes.

A Ray worker's first trial pays, before its first training step: the interpreter and the
imports of the trainable's module (`search._ray`: torch, Ray Tune, runs, cells), the CUDA
context, the model built and moved to the GPU, and the first step (cuDNN's set-up, Triton's
kernels loaded from ~/.triton/cache or compiled). Trials record only the two sums
(`start_wait_s`, `startup_s`, NOTES.md runs 24-25: 9-10 s and 6-7 s on an H200 under MPS);
this script splits them, each family in a process of its own, run twice so that the second
finds the kernel caches the first left. With `-X importtime` the imports' own tree goes to
OUT/imports-<family>.txt.

    # one H200, ~1 minute; no MPS, no Ray: the process as a worker runs it
    python3 benchmarks/worker_start.py --out $OUT/start
    # CPU smoke (small sizes: checks the script)
    python3 benchmarks/worker_start.py --smoke --out /tmp/start

Writes OUT/start.json and OUT/start.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("momentum-orthogonal", "momentum-lstm", "momentum-cornn")


def phases(family: str, device: str, hidden: int, batch: int, steps: int) -> list[tuple[str, float]]:
    """In this (fresh) process: seconds since the start at the end of each phase."""
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        marks.append((name, round(time.perf_counter() - start, 3)))

    import torch
    mark("import torch")
    import search._ray  # noqa: F401  (what a worker imports to find the trainable)
    mark("import the trainable's module")
    if device == "cuda":
        torch.zeros(1, device=device)
        torch.cuda.synchronize()
        mark("CUDA context")
    from cells.benchmark import parse_family, training_step
    from runs._model import build_model

    model = build_model(parse_family(family, hidden, 1), 10, "last").to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    mark("model built")
    x = torch.rand(batch, steps, 1, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    step = training_step(model, x, y)
    step()
    sync()
    mark("first training step")
    step()
    sync()
    mark("second training step")
    with torch.no_grad():
        model(x)
    sync()
    mark("first evaluation forward")
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--smoke", action="store_true", help="the CPU, small sizes")
    parser.add_argument("--child", nargs=5, metavar=("FAMILY", "DEVICE", "HIDDEN", "BATCH", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        family, device, hidden, batch, steps = args.child
        print(json.dumps(phases(family, device, int(hidden), int(batch), int(steps))))
        return
    import torch

    device = "cpu" if args.smoke or not torch.cuda.is_available() else "cuda"
    sizes = ("16", "8", "32") if args.smoke else ("128", "128", "784")
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    rows = []
    for run in ("first", "second"):
        for family in args.families:
            done = subprocess.run([sys.executable, "-X", "importtime", __file__, "--out", str(args.out), "--child",
                                   family, device, *sizes], capture_output=True, text=True, env=env, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"{family}: the measuring process failed (exit {done.returncode}): "
                                 f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'}")
            (args.out / f"imports-{family}.txt").write_text(done.stderr)
            rows.append({"run": run, "family": family, "marks": json.loads(done.stdout.strip().splitlines()[-1])})
    (args.out / "start.json").write_text(json.dumps({"device": device, "sizes": sizes, "rows": rows}, indent=1))
    names = [name for name, _ in rows[0]["marks"]]
    lines = [f"seconds since the process started, at the end of each phase ({device}; H, B, T = {', '.join(sizes)})", "",
             "| run | family | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in rows:
        at = dict(r["marks"])
        lines.append(f"| {r['run']} | {r['family']} | " + " | ".join(f"{at.get(n, float('nan')):.2f}" for n in names) + " |")
    (args.out / "start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
