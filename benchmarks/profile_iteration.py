"""Where one training iteration of a family spends its time: `torch.profiler` over a few
iterations of `cells.benchmark`'s step (B=128, T=784), the top operators by host and by
device time, and the iteration's wall time against its device time (a gap is the host:
a sync, a host-side computation, launch overhead).

    python3 benchmarks/profile_iteration.py --families momentum-enrnn --hidden 128 --out $OUT/profile.txt
    python3 benchmarks/profile_iteration.py --families momentum-enrnn --hidden 8 --steps 20 --out /tmp/p.txt  # CPU
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cells.benchmark import _Classifier, parse_family, training_step  # noqa: E402
from cells.build import build_cell  # noqa: E402
from cells.manifolds import after_optimizer_step  # noqa: E402


def profile_family(spec: str, hidden: int, batch: int, steps: int, iters: int, device: torch.device) -> str:
    torch.manual_seed(0)
    cell = build_cell(parse_family(spec, hidden, 1), impl="auto")
    model = _Classifier(cell).to(device)
    x = torch.rand(batch, steps, 1, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    step = training_step(model, x, y, lambda: after_optimizer_step(cell))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        step()
    sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(iters):
            step()
        sync()
    wall_ms = (time.perf_counter() - start) * 1000 / iters
    events = prof.key_averages()
    device_ms = sum(e.self_device_time_total for e in events) / 1000 / iters if device.type == "cuda" else float("nan")
    lines = [f"## {spec} H={hidden} ({getattr(cell, 'fast_path', '?')}): {wall_ms:.2f} ms per iteration under the profiler, "
             f"device busy {device_ms:.2f} ms of it", "", "by host time:", events.table(sort_by="self_cpu_time_total", row_limit=12)]
    if device.type == "cuda":
        lines += ["by device time:", events.table(sort_by="self_cuda_time_total", row_limit=12)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", required=True)
    parser.add_argument("--hidden", nargs="+", type=int, default=[128])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=784)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    parts = [profile_family(f, h, args.batch, args.steps, args.iters, device) for f in args.families for h in args.hidden]
    args.out.write_text("\n\n".join(parts) + "\n")
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
