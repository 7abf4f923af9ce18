"""Host work of one training iteration: aten ops dispatched, and (on CUDA) host vs GPU time.

    PYTHONPATH=$PWD python benchmarks/host_ops.py --out $OUT [--device cuda] [--hidden 128]
    PYTHONPATH=$PWD python benchmarks/host_ops.py --smoke          # tiny, on the CPU

An iteration is what `cells.benchmark` times (forward, cross-entropy, backward, RMSprop
step, `after_optimizer_step`), for `nn.LSTM` (the yard stick, "cudnn-lstm") and each family
with `impl="auto"`. Counted with a dispatch mode: every aten op the iteration dispatches
(forward, backward and optimizer step), and how many of them come before the fused RNN op:
at B=128, T=784 the GPU waits for exactly those (each iteration starts from an idle GPU),
while the rest is issued while cuDNN runs. The RNN op itself is one op on CUDA (cuDNN) and
on the CPU (oneDNN), so the counts of the families and of nn.LSTM compare directly (rnn and
gru run PyTorch's native step loop on the CPU, not one op: compare them with their plain-
family there).

On CUDA it also times, per iteration (median of `--iters`), the wall time (CUDA events, as
`cells.benchmark`) and the host time to issue the iteration (perf_counter from the call to
its return, before synchronizing): a family whose host time approaches its wall time is
bound by the host. Writes host_ops.json (and prints a table).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.getcwd())

FAMILIES = ("plain-lstm", "momentum-lstm", "nag_restart-lstm", "adam-lstm", "rmsprop-lstm",
            "plain-rnn", "momentum-rnn", "plain-gru", "momentum-gru")
YARDSTICK = "cudnn-lstm"  # torch.nn.LSTM(batch_first=True)
_RNN_OPS = ("_cudnn_rnn", "mkldnn_rnn_layer", "_thnn_fused_lstm_cell", "lstm", "gru", "rnn_tanh")


class _Count(TorchDispatchMode):
    """Every aten op dispatched while active, in order (names without overloads)."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket).removeprefix("aten."))
        return func(*args, **(kwargs or {}))


def _step(spec: str, H: int, B: int, T: int, device: torch.device):
    """One training iteration of `spec`, as `cells.benchmark` times it."""
    from cells.benchmark import _Classifier, _LSTMClassifier, parse_family, training_step
    from cells.build import build_cell
    from cells.manifolds import after_optimizer_step

    torch.manual_seed(0)
    x = torch.rand(B, T, 1, device=device)
    y = torch.randint(0, 10, (B,), device=device)
    if spec == YARDSTICK:
        return training_step(_LSTMClassifier(1, H).to(device), x, y)
    cell = build_cell(parse_family(spec, H), impl="auto")
    return training_step(_Classifier(cell).to(device), x, y, lambda: after_optimizer_step(cell))


def count_ops(step) -> dict:
    """Ops of one (warm) iteration: total, before the first RNN op, and the most frequent."""
    step()
    with _Count() as mode:
        step()
    ops = mode.ops
    first = next((i for i, name in enumerate(ops) if name in _RNN_OPS), None)
    return {"total": len(ops), "before_rnn": first, "ops": ops,
            "top": collections.Counter(ops).most_common(8)}


def time_host(step, iters: int, warmup: int) -> dict:
    """CUDA: median wall ms (events) and host ms to issue one iteration (before its sync)."""
    for _ in range(warmup):
        step()
    wall, host = [], []
    for _ in range(iters):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        start.record()
        step()
        end.record()
        host.append((time.perf_counter() - t0) * 1e3)
        end.synchronize()
        wall.append(start.elapsed_time(end))
    return {"wall_ms": statistics.median(wall), "host_ms": statistics.median(host)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", nargs="*", default=list(FAMILIES))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=784)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=None, help="folder for host_ops.json")
    p.add_argument("--show", default=None, help="print the op sequence of this family (or cudnn-lstm)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: does it run")
    a = p.parse_args(argv)
    if a.smoke:
        a.hidden, a.batch, a.steps, a.iters, a.device = 8, 4, 16, 2, "cpu"
    dev = torch.device(a.device)
    rows = []
    for spec in [YARDSTICK, *a.families]:
        step = _step(spec, a.hidden, a.batch, a.steps, dev)
        row = {"family": spec, **count_ops(step)}
        if dev.type == "cuda":
            row.update(time_host(step, a.iters, warmup=3))
        rows.append(row)
        if spec == a.show:
            print(" ".join(row["ops"]))
    base = rows[0]
    print(f"{'family':<20} {'ops':>5} {'+ vs nn.LSTM':>12} {'before rnn':>10}"
          + (f" {'wall ms':>8} {'host ms':>8}" if dev.type == "cuda" else "") + "  most frequent")
    for r in rows:
        line = f"{r['family']:<20} {r['total']:>5} {r['total'] - base['total']:>+12} {str(r['before_rnn']):>10}"
        if dev.type == "cuda":
            line += f" {r['wall_ms']:>8.2f} {r['host_ms']:>8.2f}"
        print(line + "  " + ", ".join(f"{n} {c}" for n, c in r["top"][:5]))
    result = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
              "hidden": a.hidden, "batch": a.batch, "steps": a.steps, "rows": rows}
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "host_ops.json"), "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
