"""Does torch.compile of a trial's model pay on top of impl="auto"? (one H200; B=128, T=784)

For each family and hidden size: ms per training iteration (forward, cross-entropy, backward,
RMSprop step; median after warm-up, CUDA events) of the eager `auto` model and of
`torch.compile(model)`; the first compiled step's wall time (compilation included, from a
reset dynamo); and a second trial of the family (other mu, s, beta, restart period): its
first step's wall time and whether it compiled anything new (dynamo's graph count).
cuDNN `nn.LSTM` at each H is timed eagerly as the yard stick. Results are written after
every row (a time limit still leaves them): compile.json and compile.md in --out.

    PYTHONPATH=$PWD python benchmarks/gpu_compile.py --out "$OUT"            # H200, ~6 min
    PYTHONPATH=$PWD python benchmarks/gpu_compile.py --out /tmp/c --smoke    # CPU, tiny, ~1 min

--budget-s stops starting new rows once that many seconds have passed (default 330), so the
run fits a 6-minute slot; --families / --hidden pick what to measure first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch._dynamo.utils import counters

from cells.benchmark import DEFAULT_FAMILIES, _LSTMClassifier, parse_family, time_ms, training_step
from runs._model import build_model

SMOKE_FAMILIES = ("momentum-lstm", "adam-orthogonal", "nag_restart-rnn:nag_form=paper")

# The second trial of a family: every dynamics value it has, changed.
OTHER_TRIAL = {"mu": 0.3, "s": 0.45, "beta": 0.35, "restart": 7}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def first_step_seconds(model, x, y) -> float:
    """Wall time of one training step, synchronised: compilation included on a first call."""
    step = training_step(model, x, y)
    _sync(x.device)
    start = time.perf_counter()
    step()
    _sync(x.device)
    return time.perf_counter() - start


def _graphs() -> int:
    return counters["stats"]["unique_graphs"]


def measure(spec: str, hidden: int, x, y, iters: int, warmup: int) -> dict:
    """One row: eager and compiled ms per iteration, first compiled step, the second trial."""
    cuda = x.device.type == "cuda"
    cfg = parse_family(spec, hidden, x.shape[2])
    torch.manual_seed(0)
    eager = statistics.median(time_ms(training_step(build_model(cfg, 10, "last").to(x.device), x, y),
                                      iters, warmup, cuda))
    torch._dynamo.reset()  # the first trial of a family in a fresh worker
    torch.manual_seed(0)
    model = build_model(cfg, 10, "last").to(x.device)
    compiled_model = torch.compile(model)
    first_s = first_step_seconds(compiled_model, x, y)
    compiled = statistics.median(time_ms(training_step(compiled_model, x, y), iters, warmup, cuda))
    other = {k: v for k, v in OTHER_TRIAL.items() if getattr(cfg, k) is not None}
    graphs = _graphs()
    trial = torch.compile(build_model(dataclasses.replace(cfg, **other), 10, "last").to(x.device))
    second_s = first_step_seconds(trial, x, y)
    return {"family": spec, "hidden_size": hidden, "fast_path": model.cell.fast_path, "eager_ms": eager,
            "compiled_ms": compiled, "compiled_over_eager": compiled / eager, "first_compiled_step_s": first_s,
            "second_trial_changed": other, "second_trial_first_step_s": second_s,
            "second_trial_recompiled": _graphs() != graphs}


def markdown(result: dict) -> str:
    """The compile table of docs/benchmarks.md: one row per family and H."""
    cudnn = {r["hidden_size"]: r["ms"] for r in result["cudnn_lstm"]}
    lines = ["| family | H | path | eager ms | compiled ms | compiled / eager | first compiled step s | "
             "second trial (other mu, s, ...) s | recompiled | compiled / cuDNN LSTM |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        vs = f"{r['compiled_ms'] / cudnn[r['hidden_size']]:.2f}" if r["hidden_size"] in cudnn else ""
        lines.append(f"| {r['family']} | {r['hidden_size']} | {r['fast_path']} | {r['eager_ms']:.2f} | "
                     f"{r['compiled_ms']:.2f} | {r['compiled_over_eager']:.2f} | {r['first_compiled_step_s']:.1f} | "
                     f"{r['second_trial_first_step_s']:.2f} | {'yes' if r['second_trial_recompiled'] else 'no'} | {vs} |")
    for h, ms in sorted(cudnn.items()):
        lines.append(f"| cuDNN nn.LSTM (eager) | {h} | cudnn | {ms:.2f} | | | | | | 1.00 |")
    lines += ["", f"{result['device']}, torch {result['torch']}, B={result['batch']}, T={result['steps']}; "
              f"{len(result['skipped'])} rows skipped by the time budget: {', '.join(result['skipped']) or 'none'}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for compile.json and compile.md")
    parser.add_argument("--families", nargs="+", default=None, help="dynamics-core[:key=value] (default: the bench's)")
    parser.add_argument("--hidden", nargs="+", type=int, default=None, help="hidden sizes (default: 128 256)")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per median (default 10)")
    parser.add_argument("--budget-s", type=float, default=330.0, help="start no new row after this many seconds")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: checks the script, measures nothing")
    args = parser.parse_args()
    smoke = args.smoke
    device = torch.device("cpu" if smoke or not torch.cuda.is_available() else "cuda")
    families = args.families or list(SMOKE_FAMILIES if smoke else DEFAULT_FAMILIES)
    hiddens = args.hidden or ([8] if smoke else [128, 256])
    B, T = (4, 16) if smoke else (128, 784)
    iters, warmup = (args.iters or (2 if smoke else 10)), (1 if smoke else 3)
    torch._dynamo.config.cache_size_limit = 64  # every family's code in one process: no silent eager fallback
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x = torch.rand(B, T, 1, device=device)
    y = torch.randint(0, 10, (B,), device=device)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "batch": B, "steps": T, "smoke": smoke, "rows": [], "cudnn_lstm": [],
              "skipped": []}
    start = time.perf_counter()
    for hidden in hiddens:
        torch.manual_seed(0)
        lstm = _LSTMClassifier(1, hidden).to(device)
        ms = statistics.median(time_ms(training_step(lstm, x, y), iters, warmup, device.type == "cuda"))
        result["cudnn_lstm"].append({"hidden_size": hidden, "ms": ms})
    for spec in families:
        for hidden in hiddens:
            if time.perf_counter() - start > args.budget_s:
                result["skipped"].append(f"{spec}@{hidden}")
                continue
            try:
                row = measure(spec, hidden, x, y, iters, warmup)
            except Exception as exc:  # one family's failure is a result, not the end of the run
                row = {"family": spec, "hidden_size": hidden, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
                print(f"{spec} H={hidden}: {row['error']}", flush=True)
                result.setdefault("errors", []).append(row)
            else:
                result["rows"].append(row)
                print(f"{spec:36} H={hidden:4} {row['fast_path']:10} eager {row['eager_ms']:8.2f} ms  compiled "
                      f"{row['compiled_ms']:8.2f} ms  first {row['first_compiled_step_s']:6.1f} s  second trial "
                      f"{row['second_trial_first_step_s']:5.2f} s recompiled={row['second_trial_recompiled']}", flush=True)
            (out / "compile.json").write_text(json.dumps(result, indent=2) + "\n")
            (out / "compile.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
