"""The Adam / RMSProp filter kernel's launch knobs: ms of its forward and backward
(`cells.fast.triton_adam`, the one-pass scan) at a search's sizes (T=784, B=128, F=4H), for
each BLOCK (recurrences per program, so programs = B*F/BLOCK) and UNROLL (time steps whose
loads are issued together), with the effective bandwidth (bytes the kernel must move / time).
A scan far below the GPU's bandwidth waits on latency: more programs or deeper unrolling help.

    python3 benchmarks/adam_filter_knobs.py --out $OUT/adam_knobs.json                       # a GPU
    TRITON_INTERPRET=1 python3 benchmarks/adam_filter_knobs.py --T 6 --B 2 --F 8 --out /tmp/k.json  # CPU: runs
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cells.benchmark import time_ms  # noqa: E402
from cells.fast import triton_adam  # noqa: E402

MU, S, BETA, EPS = 0.6, 0.6, 0.999, 1e-8


def measure(T: int, B: int, F: int, block: int, unroll: int, device: str, iters: int) -> dict:
    triton_adam.BLOCK, triton_adam.UNROLL = block, unroll  # read at each launch
    g = torch.randn(T, B, F, device=device)
    a, v, r = triton_adam.adam_filter(g, MU, S, BETA, EPS)
    dA = torch.randn_like(a)
    fwd = lambda: triton_adam.adam_filter(g, MU, S, BETA, EPS)  # noqa: E731
    bwd = lambda: triton_adam.adam_filter_bwd(dA, dA, dA, g, v, r, MU, S, BETA, EPS, False)  # noqa: E731
    cuda = device == "cuda"
    fwd_ms = statistics.median(time_ms(fwd, iters, 2, cuda))
    bwd_ms = statistics.median(time_ms(bwd, iters, 2, cuda))
    stream = T * B * F * 4 / 1e9  # GB of one (T, B, F) float32 tensor
    return {"T": T, "B": B, "F": F, "BLOCK": block, "UNROLL": unroll, "fwd_ms": fwd_ms, "bwd_ms": bwd_ms,
            "fwd_GBps": 4 * stream / (fwd_ms / 1e3), "bwd_GBps": 5 * stream / (bwd_ms / 1e3)}  # g in, a v r out; 4 in, dG out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=784)
    parser.add_argument("--B", type=int, default=128)
    parser.add_argument("--F", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--blocks", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--unrolls", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for F, block, unroll in itertools.product(args.F, args.blocks, args.unrolls):
        row = measure(args.T, args.B, F, block, unroll, device, args.iters)
        rows.append(row)
        print(f"F={F} BLOCK={block} UNROLL={unroll}: fwd {row['fwd_ms']:.3f} ms ({row['fwd_GBps']:.0f} GB/s), "
              f"bwd {row['bwd_ms']:.3f} ms ({row['bwd_GBps']:.0f} GB/s)", flush=True)
        args.out.write_text(json.dumps({"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                                        "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
