"""Time each Triton time-loop kernel alone, forward + backward, in the tree that `cells` is imported from.

`python -m cells.benchmark` times a whole training iteration, where the manifolds, the
dynamics' filters and the host also change between two trees; this times only the kernels,
through the `*_sequence` entry points that every tree since 4a2022f has with the same
signature, on random inputs of the sMNIST shape (B=128, T=784). Used by
`benchmarks/kernels_ab.sh` to tell a kernel's regression from one outside it.

    PYTHONPATH=TREE python benchmarks/kernels_ops.py --out ops.json            # on a GPU
    python benchmarks/kernels_ops.py --smoke --out /tmp/ops.json               # CPU, TRITON_INTERPRET=1
    python benchmarks/kernels_ops.py --compare before=a.json after=b.json ...  # a markdown table

`--compare` also reads `cells.benchmark` JSON files (their `auto_ms`), so one table holds
both benches; LABEL=FILE names each column, and the first label is the base of the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from collections import defaultdict

KERNELS = ("cornn", "modrelu", "cmodrelu", "nag_lstm", "lstm_gates", "unicornn", "cudnn_lstm")


def _orthogonal(n: int, dtype, device):
    import torch

    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=dtype, device=device))
    return q


def _problem(kernel: str, B: int, T: int, H: int, device):
    """(inputs that want a gradient, fn(*inputs) -> outputs): one kernel at one size."""
    import torch

    f32 = dict(dtype=torch.float32, device=device)

    def randn(*shape, scale=1.0):
        return (scale * torch.randn(*shape, **f32)).requires_grad_()

    if kernel == "cornn":  # coRNN's psMNIST constants (REFERENCE)
        from cells.fast.triton_cornn import cornn_sequence
        return ([randn(B, T, H), randn(H, H, scale=H ** -0.5), randn(H, H, scale=H ** -0.5)],
                lambda a, Wy, Wz: cornn_sequence(a, Wy, Wz, 0.042, 2.7, 4.7))
    if kernel == "modrelu":  # orthogonal and ENRNN
        from cells.fast.triton_modrelu import modrelu_sequence
        return ([randn(B, T, H), _orthogonal(H, torch.float32, device).requires_grad_(), randn(H, scale=0.01)],
                modrelu_sequence)
    if kernel == "cmodrelu":  # unitary and uRNN: a complex state of H, 2H real columns
        from cells.fast.triton_cmodrelu import cmodrelu_sequence
        W = torch.linalg.qr(torch.randn(H, H, dtype=torch.complex64, device=device))[0]  # unitary
        return ([randn(B, T, 2 * H), W.requires_grad_(), randn(H, scale=0.01), randn(B, 2 * H)], cmodrelu_sequence)
    if kernel == "nag_lstm":  # the paper-form NAG LSTM, restart every 100 steps
        from cells.fast.triton_nag_lstm import nag_lstm_fwd
        k = (torch.arange(T, device=device) % 100 + 1).float()
        coeffs = (k - 1) / (k + 2)
        return ([randn(B, T, 4 * H), randn(4 * H, H, scale=H ** -0.5), randn(4 * H, scale=0.1)],
                lambda sg, W, b: nag_lstm_fwd(sg, W, b, coeffs)[0])
    if kernel == "lstm_gates":  # the NAG LSTM kernel with c_t = 0: an LSTM fed its gate pre-activations
        from cells.fast.triton_nag_lstm import nag_lstm_fwd
        zero = torch.zeros(T, device=device)
        return ([randn(B, T, 4 * H), randn(4 * H, H, scale=H ** -0.5), randn(4 * H, scale=0.1)],
                lambda sg, W, b: nag_lstm_fwd(sg, W, b, zero)[0])
    if kernel == "cudnn_lstm":  # the yardstick: nn.LSTM (cuDNN) on one input feature, batch-first
        lstm = torch.nn.LSTM(1, H, batch_first=True).to(device)
        return [randn(B, T, 1)] + list(lstm.parameters()), lambda x, *w: lstm(x)[0]
    if kernel == "unicornn":
        from cells.fast.triton_unicornn import unicornn_sequence
        return ([randn(B, T, H), randn(H), randn(H, scale=0.1)],
                lambda a, w, c: unicornn_sequence(a, w, 0.03 * torch.sigmoid(c), 13.0))
    raise ValueError(f"kernels_ops: unknown kernel {kernel!r}; choose from {', '.join(KERNELS)}")


def _ms(fn, iters: int, warmup: int) -> float:
    """Median ms per call (torch.utils.benchmark synchronises CUDA around each measurement)."""
    from torch.utils.benchmark import Timer

    for _ in range(warmup):
        fn()
    times = [Timer(stmt="fn()", globals={"fn": fn}).timeit(1).median * 1e3 for _ in range(iters)]
    return statistics.median(times)


def _set_knobs(knobs: dict, own_max_h: int) -> None:
    """Set the Triton launch knobs (`cells.fast._triton.OVERRIDES`) and the complex kernel's
    register-resident limit; an empty dict restores the defaults (`own_max_h`: the tree's limit)."""
    from cells.fast import _triton, triton_cmodrelu

    for key in _triton.OVERRIDES:
        _triton.OVERRIDES[key] = knobs.get(key)
    triton_cmodrelu.MAX_H = knobs.get("cmodrelu_resident_max") or own_max_h


def _outputs_and_grads(fn, inputs, weights):
    import torch

    out = fn(*inputs)
    out = out if isinstance(out, tuple) else (out,)
    grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(out, weights)), inputs)
    return [o.detach() for o in out] + list(grads)


def run(kernels, hidden, B: int, T: int, iters: int, warmup: int, device, knobs: dict | None = None) -> list[dict]:
    """Time each kernel alone; with `knobs`, also the largest relative difference of its
    outputs and gradients from the same inputs under the default launch (`vs_default`)."""
    import torch

    from cells.fast import triton_cmodrelu

    own_max_h = triton_cmodrelu.MAX_H
    rows = []
    for H in hidden:
        for kernel in kernels:
            torch.manual_seed(0)
            inputs, fn = _problem(kernel, B, T, H, device)
            outputs = fn(*inputs)
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            weights = [torch.randn_like(o) for o in outputs]
            row = {"kernel": kernel, "hidden_size": H, "knobs": knobs or {}}
            if knobs:
                _set_knobs({}, own_max_h)
                base = _outputs_and_grads(fn, inputs, weights)
                _set_knobs(knobs, own_max_h)
                try:
                    got = _outputs_and_grads(fn, inputs, weights)
                except Exception as exc:  # a launch this GPU or Triton refuses: say so, go on
                    print(f"{kernel:10s} H={H:<4d} {knobs}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
                    continue
                row["vs_default"] = max(float((a - b).norm() / b.norm().clamp_min(1e-30)) for a, b in zip(got, base))

            def forward():
                with torch.no_grad():
                    fn(*inputs)

            def forward_backward():
                _outputs_and_grads(fn, inputs, weights)

            row.update(fwd_ms=_ms(forward, iters, warmup), fwd_bwd_ms=_ms(forward_backward, iters, warmup))
            said = f"  vs default {row['vs_default']:.1e}" if "vs_default" in row else ""
            print(f"{kernel:10s} H={H:<4d} fwd {row['fwd_ms']:8.2f} ms  fwd+bwd {row['fwd_bwd_ms']:8.2f} ms{said}", flush=True)
            rows.append(row)
    _set_knobs({}, own_max_h)
    return rows


def _times(path: str) -> dict:
    """{(name, H): ms} of a kernels_ops JSON (fwd+bwd) or a cells.benchmark JSON (auto)."""
    with open(path) as f:
        rows = json.load(f)["rows"]
    return {(r.get("kernel") or r["family"], r["hidden_size"]): r.get("fwd_bwd_ms", r.get("auto_ms")) for r in rows}


def compare(labelled: list[str]) -> str:
    """Markdown: one row per (kernel or family, H), one column per file, and each label's mean
    over its files divided by the first label's mean."""
    columns = []
    for item in labelled:
        label, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"kernels_ops: --compare takes LABEL=FILE, got {item!r} (e.g. before=bench_before_1.json)")
        columns.append((label, path, _times(path)))
    labels = list(dict.fromkeys(label for label, _, _ in columns))
    keys = sorted({key for _, _, t in columns for key in t}, key=lambda k: (k[1], k[0]))
    head = ["name", "H"] + [f"{label} ({os.path.basename(path)})" for label, path, _ in columns]
    head += [f"{label} / {labels[0]}" for label in labels[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        means = {}
        for label in labels:
            got = [t[key] for lab, _, t in columns if lab == label and t.get(key) is not None]
            means[label] = statistics.mean(got) if got else math.nan
        cells = [key[0], str(key[1])] + [f"{t[key]:.2f}" if t.get(key) is not None else "-" for _, _, t in columns]
        cells += [f"{means[label] / means[labels[0]]:.3f}" for label in labels[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the rows here (JSON)")
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=784)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help="CPU through TRITON_INTERPRET=1 at tiny sizes (H=8 resident, H=130 tiled)")
    parser.add_argument("--compare", nargs="+", metavar="LABEL=FILE", help="print a table of earlier results and exit")
    knobs = parser.add_argument_group("launch knobs (default: the tree's own rules)")
    knobs.add_argument("--num-warps", type=int)
    knobs.add_argument("--tile", type=int, help="the tiled kernels' BN = BK")
    knobs.add_argument("--cmodrelu-resident-max", type=int, help="the complex kernel keeps its state in registers up to this H")
    knobs.add_argument("--split", type=int, help="programs sharing each step of a batch tile (1: the one-program kernels)")
    knobs.add_argument("--stream-k", type=int, help="split kernels that can: read the weight slice each step in blocks of "
                       "this many rows (the padded width: held in registers)")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    if args.smoke:
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported
        args.hidden, args.batch, args.steps, args.iters, args.warmup = [8, 130], 4, 3, 1, 0
    import torch

    device = torch.device("cpu" if args.smoke else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("kernels_ops: no CUDA device here; use --smoke for the CPU check", file=sys.stderr)
        return 2
    chosen = {"num_warps": args.num_warps, "tile": args.tile, "split": args.split, "stream_k": args.stream_k,
              "cmodrelu_resident_max": args.cmodrelu_resident_max}
    rows = run(args.kernels, args.hidden, args.batch, args.steps, args.iters, args.warmup, device,
               {k: v for k, v in chosen.items() if v is not None})
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                       "torch": torch.__version__, "batch": args.batch, "steps": args.steps, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
