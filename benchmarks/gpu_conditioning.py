"""Is a float32 gap between auto and reference rounding amplified by the cell, or a defect?

    PYTHONPATH=$PWD python3 benchmarks/gpu_conditioning.py --out $OUT

For each family: the reference in float64 on the GPU is the truth; the float32 reference
and the float32 auto (same weights, same random input) are both compared with it. If auto
is about as far from the truth as the float32 reference is, the gap between the two is the
cell's conditioning (modReLU's kink, the spectral-radius gradient), not the fast path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.getcwd())


def rel(a, b):
    return float((a.double() - b.double()).detach().norm() / b.double().detach().norm().clamp_min(1e-30))


def main():
    from cells.benchmark import parse_family
    from cells.build import build_cell

    p = argparse.ArgumentParser()
    p.add_argument("--out", default=".")
    a = p.parse_args()
    dev = torch.device("cuda")
    cases = [("momentum-enrnn", 256), ("momentum-enrnn", 128), ("plain-orthogonal", 256), ("adam-lstm", 128),
             ("momentum-urnn", 256), ("momentum-cornn", 256)]
    results = {}
    for spec, H in cases:
        torch.manual_seed(0)
        cfg = parse_family(spec, H)
        truth = build_cell(cfg, impl="reference").to(dev).double()
        state = {k: v.float() if v.is_floating_point() else v for k, v in truth.state_dict().items()}
        x = torch.rand(128, 784, 1, device=dev, dtype=torch.float64)
        w = torch.randn(128, 784, truth.output_size, device=dev, dtype=torch.float64)
        row = {}
        for name, impl, dtype in (("truth", "reference", torch.float64), ("ref32", "reference", torch.float32),
                                  ("auto32", "auto", torch.float32)):
            cell = truth if name == "truth" else build_cell(cfg, impl=impl).to(dev)
            if name != "truth":
                cell.load_state_dict(state)
            xx = x.to(dtype).requires_grad_()
            out, _ = cell(xx)
            grads = torch.autograd.grad((out * w.to(dtype)).sum(), [xx] + list(cell.parameters()))
            row[name] = (out, grads, ["x"] + [n for n, _ in cell.named_parameters()])
        res = {}
        for name in ("ref32", "auto32"):
            out, grads, names = row[name]
            res[name] = {"out": rel(out, row["truth"][0]),
                         "grads": {n: rel(g, t) for n, g, t in zip(names, grads, row["truth"][1])}}
        res["auto32_vs_ref32"] = {"out": rel(row["auto32"][0], row["ref32"][0]),
                                  "grads": {n: rel(g, t) for n, g, t in
                                            zip(row["auto32"][2], row["auto32"][1], row["ref32"][1])}}
        results[f"{spec}@{H}"] = res
        for name, r in res.items():
            print(f"{spec:<18} H={H} {name:<15} out {r['out']:.1e}  grads " +
                  " ".join(f"{n.split('.')[-2] if n.endswith('original') else n}={v:.1e}" for n, v in r["grads"].items()),
                  flush=True)
    json.dump(results, open(os.path.join(a.out, "conditioning.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
