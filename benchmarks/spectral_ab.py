"""ENRNN's spectral radius on the host against the device: one training iteration of
momentum-enrnn (B=128, T=784, `cells.benchmark`'s step), W2 latched (the backward goes through
eigvals, as once training has pushed rho past 1) and not (the benchmark's start, rho ~0.96),
with `HOST_EIG_MAX` at its default and at 0 (every eigvals on the device), alternated in one
process so a drift of the GPU does not favour either.

    python3 benchmarks/spectral_ab.py --hidden 128 256 --out $OUT/spectral_ab.json
    python3 benchmarks/spectral_ab.py --hidden 8 --steps 10 --iters 2 --out /tmp/s.json   # CPU: checks the script
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cells.benchmark import _Classifier, parse_family, time_ms, training_step  # noqa: E402
from cells.build import build_cell  # noqa: E402
from cells.manifolds import SpectralNormalize, after_optimizer_step  # noqa: E402
from cells.manifolds import _spectral  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--steps", type=int, default=784)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.rand(128, args.steps, 1, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    default = _spectral.HOST_EIG_MAX
    rows = []
    for hidden in args.hidden:
        for latched in (False, True):
            torch.manual_seed(0)
            cell = build_cell(parse_family("momentum-enrnn", hidden), impl="auto")
            for module in cell.modules():
                if isinstance(module, SpectralNormalize):
                    module.latched.fill_(latched)
            model = _Classifier(cell).to(device)
            step = training_step(model, x, y, lambda c=cell: after_optimizer_step(c))
            times: dict[str, list[float]] = {"host": [], "device": []}
            for _ in range(args.rounds):
                for where, limit in (("host", default), ("device", 0)):
                    _spectral.HOST_EIG_MAX = limit
                    times[where] += time_ms(step, args.iters, 2, device.type == "cuda")
            _spectral.HOST_EIG_MAX = default
            row = {"hidden_size": hidden, "latched": latched, "W2_rows": hidden // 2,
                   **{f"{where}_ms": statistics.median(t) for where, t in times.items()}}
            rows.append(row)
            print(f"H={hidden} latched={latched}: eigvals on the host {row['host_ms']:.2f} ms, "
                  f"on the device {row['device_ms']:.2f} ms per iteration", flush=True)
    args.out.write_text(json.dumps({"device": str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
                                    "torch": torch.__version__, "host_eig_max": default, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
