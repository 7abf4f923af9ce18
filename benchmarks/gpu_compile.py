"""Does torch.compile of a trial's model help on top of impl="auto"? (GPU; B=128, T=784, H=128)

For each family: ms per training iteration (forward, backward, RMSprop step; median of 10
after 3 warm-ups, CUDA events) of the eager `auto` model and of `torch.compile(model)`, the
first compiled call's wall time (compilation), and the first call of a second compiled
model whose momentum differs (a new trial: recompiled, or reused?).

    PYTHONPATH=$PWD python3 benchmarks/gpu_compile.py --out compile.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from cells import build_cell
from cells.benchmark import _Classifier, _time_training, parse_family

FAMILIES = ("momentum-lstm", "adam-lstm", "momentum-cornn", "momentum-orthogonal:param=cayley", "momentum-unicornn")


def first_call_seconds(model, x, y) -> float:
    """Wall time of one training step, synchronised: compilation included on a first call."""
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9)
    torch.cuda.synchronize()
    start = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="compile.json")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    args = parser.parse_args()
    B, T = 128, 784
    x = torch.rand(B, T, 1, device="cuda")
    y = torch.randint(0, 10, (B,), device="cuda")
    rows = []
    print(f"{'family':36} {'eager ms':>9} {'compiled ms':>12} {'compile s':>10} {'new-mu trial s':>15}")
    for family in args.families:
        cfg = parse_family(family, args.hidden)
        torch.manual_seed(0)
        eager = statistics.median(_time_training(_Classifier(build_cell(cfg)).cuda(), x, y, 10, 3, None))
        print(f"{family}: eager {eager:.2f} ms; compiling ...", flush=True)
        torch._dynamo.reset()
        compiled_model = torch.compile(_Classifier(build_cell(cfg)).cuda())
        compile_s = first_call_seconds(compiled_model, x, y)
        compiled = statistics.median(_time_training(compiled_model, x, y, 10, 3, None))
        other = dataclasses.replace(cfg, mu=0.3) if hasattr(cfg, "mu") and cfg.mu is not None else cfg
        second_s = first_call_seconds(torch.compile(_Classifier(build_cell(other)).cuda()), x, y)
        rows.append({"family": family, "hidden_size": args.hidden, "eager_ms": eager, "compiled_ms": compiled,
                     "compile_s": compile_s, "second_trial_first_call_s": second_s})
        print(f"{family:36} {eager:9.2f} {compiled:12.2f} {compile_s:10.1f} {second_s:15.1f}", flush=True)
    with open(args.out, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
