"""One GPU call: correctness of `auto` at full size, the Triton kernels, then the timings.

    PYTHONPATH=$PWD python3 benchmarks/gpu_check.py --out $OUT [--parts correct,kernels,syncs,profile,bench]

Writes correctness.json, kernels.json, bench.json under --out and prints short tables.
Correctness: fp32 on the GPU, `auto` against `reference` (same parameters, same input,
random, never zeros), relative errors ||fast - ref|| / ||ref|| of the outputs, the final
state and the gradients w.r.t. the input and every parameter, once with tf32 off (the
exact check) and once with PyTorch's defaults (cuDNN may use tf32; what the bench times).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.getcwd())


def rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def compare(cfg, B, T, device, seed=0):
    from cells.build import build_cell

    torch.manual_seed(seed)
    ref = build_cell(cfg, impl="reference").to(device)
    fast = build_cell(cfg, impl="auto").to(device)
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(B, T, cfg.input_size, device=device, requires_grad=True)
    o1, s1 = ref(x)
    w = torch.randn_like(o1)
    p1 = [x] + list(ref.parameters())
    g1 = torch.autograd.grad((o1 * w).sum(), p1, allow_unused=True)
    res = {}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        o2, s2 = fast(x)
        p2 = [x] + list(fast.parameters())
        g2 = torch.autograd.grad((o2 * w).sum(), p2, allow_unused=True)
        names = ["x"] + [n for n, _ in fast.named_parameters()]
        grads = {n: rel(a, b) for n, a, b in zip(names, g2, g1) if a is not None and b is not None}
        res["tf32" if tf32 else "fp32"] = {"out": rel(o2, o1), "grad_max": max(grads.values()),
                                           "grads": grads, "path": fast.fast_path}
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = True
    return res


def part_correct(families, B, T, H, device):
    from cells.benchmark import parse_family

    out = {}
    for spec in families:
        try:
            cfg = parse_family(spec, H)
            t0 = time.time()
            out[spec] = compare(cfg, B, T, device)
            r = out[spec]
            print(f"correct {spec:<36} H={H} path={r['fp32']['path']:<10} fp32: out {r['fp32']['out']:.1e} "
                  f"grad {r['fp32']['grad_max']:.1e} | default-tf32: out {r['tf32']['out']:.1e} "
                  f"grad {r['tf32']['grad_max']:.1e}  ({time.time() - t0:.1f}s)", flush=True)
        except Exception as exc:  # keep going: one broken family must not hide the others
            out[spec] = {"error": repr(exc)}
            print(f"correct {spec}: ERROR {exc!r}", flush=True)
    return out


def _events_ms(fn, iters=10, warmup=3):
    from cells.benchmark import time_ms

    times = time_ms(fn, iters, warmup, cuda=True)
    return statistics.median(times), min(times), max(times)


def part_kernels(B, T, device, sizes=(128, 256)):
    """Each Triton kernel alone (fwd + bwd of a weighted sum) against a float64 torch loop,
    timed in several variants (dot precision, warps, tile) beside cuDNN LSTM fwd+bwd."""
    from cells.fast import _triton
    from cells.fast.triton_cmodrelu import cmodrelu_sequence
    from cells.fast.triton_cornn import cornn_sequence
    from cells.fast.triton_modrelu import modrelu_sequence
    from cells.fast.triton_unicornn import unicornn_sequence

    def cornn_loop(a, Wy, Wz):
        y = a.new_zeros(a.shape[0], a.shape[2]); z = torch.zeros_like(y); ys = []
        for t in range(a.shape[1]):
            z = z + 0.042 * (torch.tanh(y @ Wy.T + z @ Wz.T + a[:, t]) - 2.7 * y - 4.7 * z)
            y = y + 0.042 * z
            ys.append(y)
        return torch.stack(ys, 1)

    def modrelu_loop(a, M, b):
        h = a.new_zeros(a.shape[0], a.shape[2]); hs = []
        for t in range(a.shape[1]):
            zz = a[:, t] + h @ M
            h = torch.sign(zz) * torch.relu(zz.abs() + b); hs.append(h)
        return torch.stack(hs, 1)

    def cmodrelu_loop(a, Wr, Wi, b, h0):
        H = Wr.shape[0]
        W = torch.complex(Wr, Wi)
        h = torch.complex(h0[:, :H], h0[:, H:]); hs = []
        for t in range(a.shape[1]):
            zz = torch.complex(a[:, t, :H], a[:, t, H:]) + h @ W
            m = zz.abs()
            h = zz * (torch.relu(m + b) / (m + 1e-5)); hs.append(torch.cat([h.real, h.imag], 1))
        return torch.stack(hs, 1)

    def uni_loop(a, w, d):
        y = a.new_zeros(a.shape[0], a.shape[2]); z = torch.zeros_like(y); ys = []
        for t in range(a.shape[1]):
            z = z - d * (torch.tanh(w * y + a[:, t]) + 30.65 * y); y = y + d * z; ys.append(y)
        return torch.stack(ys, 1)

    # (precision, num_warps, tile); None = the library's default choice
    variants = [(None, None, None), ("tf32x3", 4, None), ("tf32x3", 8, None), ("tf32x3", None, 32),
                ("tf32", None, None), ("ieee", None, None)]
    results = {}
    for H in sizes:
        torch.manual_seed(0)
        Q = torch.linalg.qr(torch.randn(H, H, device=device))[0]
        U = torch.linalg.qr(torch.randn(H, H, dtype=torch.complex64, device=device))[0]
        cases = {
            "cornn": (H, lambda a, p: cornn_sequence(a, p[0], p[1], 0.042, 2.7, 4.7)[0], lambda a, p: cornn_loop(a, p[0], p[1]),
                      [torch.randn(H, H, device=device) / H ** 0.5, torch.randn(H, H, device=device) / H ** 0.5]),
            "modrelu": (H, lambda a, p: modrelu_sequence(a, p[0], p[1]), lambda a, p: modrelu_loop(a, p[0], p[1]),
                        [Q, torch.rand(H, device=device) * 0.02 - 0.01]),
            "cmodrelu": (2 * H, lambda a, p: cmodrelu_sequence(a, torch.complex(p[0], p[1]), p[2], p[3]),
                         lambda a, p: cmodrelu_loop(a, *p),
                         [U.real.contiguous(), U.imag.contiguous(), torch.rand(H, device=device) * 0.02 - 0.01,
                          torch.rand(B, 2 * H, device=device) * 0.1]),
            "unicornn": (H, lambda a, p: unicornn_sequence(a, p[0], 0.19 * torch.sigmoid(p[1]), 30.65)[0],
                         lambda a, p: uni_loop(a, p[0], 0.19 * torch.sigmoid(p[1])),
                         [torch.rand(H, device=device), torch.rand(H, device=device) * 0.2 - 0.1]),
        }
        lstm = torch.nn.LSTM(1, H, batch_first=True).to(device)
        xl = torch.rand(B, T, 1, device=device)

        def lstm_step():
            out, _ = lstm(xl)
            out[:, -1].sum().backward()

        cud = _events_ms(lstm_step)[0]
        results[f"cudnn_lstm_fwdbwd_H{H}"] = cud
        for name, (width, fast, loop, params) in cases.items():
            if name == "cmodrelu" and H > 128:
                continue
            a = torch.randn(B, T, width, device=device)
            w = torch.randn(B, T, width, device=device)
            leaves = [a.clone().requires_grad_()] + [p.clone().requires_grad_() for p in params]
            leaves64 = [l.detach().double().requires_grad_() for l in leaves]
            y64 = loop(leaves64[0], leaves64[1:])
            g64 = torch.autograd.grad((y64 * w.double()).sum(), leaves64)
            for prec, warps, tile in variants:
                if name == "unicornn" and (prec, warps, tile) != (None, None, None):
                    continue  # no dot products, no tiles
                _triton.OVERRIDES.update(precision=prec, num_warps=warps, tile=tile)
                try:
                    y = fast(leaves[0], leaves[1:])
                    g = torch.autograd.grad((y * w).sum(), leaves)
                    errs = {"out": rel(y, y64), "grads": [rel(x, r) for x, r in zip(g, g64)]}

                    def step():
                        yy = fast(leaves[0], leaves[1:])
                        torch.autograd.grad((yy * w).sum(), leaves)

                    ms = _events_ms(step)
                except Exception as exc:
                    print(f"kernel {name} H={H} {prec}/{warps}w/{tile}: ERROR {exc!r}", flush=True)
                    continue
                key = f"{name}_H{H}_{prec}_w{warps}_t{tile}"
                results[key] = {"errors": errs, "ms_median_min_max": ms}
                print(f"kernel {name:<9} H={H} {str(prec):>6} {warps}w tile {tile}: fwd+bwd {ms[0]:7.2f} ms "
                      f"({ms[0] / cud:.2f}x cuDNN LSTM fwd+bwd {cud:.2f}); vs fp64 loop: out {errs['out']:.1e} "
                      f"grads {max(errs['grads']):.1e}", flush=True)
            _triton.OVERRIDES.update(precision=None, num_warps=None, tile=None)
    return results


def _training_step(spec, H, device):
    """A family's model and one training iteration, as the bench times it (`after_optimizer_step` included);
    spec "cudnn-lstm": the yard stick, `nn.LSTM`."""
    from cells.benchmark import _Classifier, _LSTMClassifier, parse_family, training_step
    from cells.build import build_cell
    from cells.manifolds import after_optimizer_step

    x = torch.rand(128, 784, 1, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    if spec == "cudnn-lstm":
        return training_step(_LSTMClassifier(1, H).to(device), x, y)
    cell = build_cell(parse_family(spec, H), impl="auto")
    return training_step(_Classifier(cell).to(device), x, y, lambda: after_optimizer_step(cell))


def part_profile(families, H, device, path):
    """Where one training iteration of each family spends its GPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with open(path, "w") as f:
        for spec in families:
            step = _training_step(spec, H, device)
            for _ in range(3):
                step()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
                step()
                torch.cuda.synchronize()
            table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=18)
            f.write(f"==== {spec} H={H}\n{table}\n")
            print(f"profile {spec} H={H}\n" + "\n".join(table.splitlines()[:14]), flush=True)


def part_syncs(families, H, device):
    """Where each family's training iteration makes the host wait for the GPU
    (torch.cuda.set_sync_debug_mode): {family: [(warning, the innermost momnas frame), ...]}."""
    import traceback
    import warnings

    found = {}
    for spec in families:
        step = _training_step(spec, H, device)
        step()
        torch.cuda.synchronize()
        hits = []

        def record(message, category, filename, lineno, file=None, line=None):
            if "synchronizing" not in str(message):  # other warnings (and the mode's own notice)
                return
            frames = [fr for fr in traceback.extract_stack()[:-1]
                      if any(f"/{pkg}/" in fr.filename for pkg in ("cells", "runs", "benchmarks"))]
            where = f"{frames[-1].filename.split('/')[-2]}/{frames[-1].name}:{frames[-1].lineno}" if frames else "?"
            hits.append((str(message)[:60], where))

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = record
            torch.cuda.set_sync_debug_mode("warn")
            try:
                step()
            finally:
                torch.cuda.set_sync_debug_mode(0)
        found[spec] = hits
        print(f"syncs {spec} H={H}: {len(hits)}" + "".join(f"\n    {w}  ({m})" for m, w in hits), flush=True)
    return found


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=".")
    p.add_argument("--parts", default="correct,kernels,profile,bench")
    p.add_argument("--families", nargs="*", default=None)
    p.add_argument("--hidden", nargs="*", type=int, default=[128, 256])
    p.add_argument("--ref-iters", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--no-reference", action="store_true", help="bench: time auto and cuDNN only")
    p.add_argument("--profile-families", nargs="*",
                   default=["adam-lstm", "momentum-cornn", "momentum-orthogonal"])
    a = p.parse_args()
    from cells.benchmark import DEFAULT_FAMILIES, format_table, run_benchmark

    families = a.families or list(DEFAULT_FAMILIES)
    dev = torch.device("cuda")
    print(torch.__version__, torch.cuda.get_device_name(dev), flush=True)
    parts = a.parts.split(",")
    if "correct" in parts:
        res = part_correct(families, 128, 784, 128, dev)
        fused = [f for f in families if any(c in f for c in ("cornn", "orthogonal", "enrnn", "unitary", "urnn"))]
        res["H256"] = part_correct(fused, 128, 784, 256, dev)
        json.dump(res, open(os.path.join(a.out, "correctness.json"), "w"), indent=1)
    if "kernels" in parts:
        res = part_kernels(128, 784, dev)
        json.dump(res, open(os.path.join(a.out, "kernels.json"), "w"), indent=1)
    if "syncs" in parts:
        res = part_syncs(a.profile_families, 128, dev)
        json.dump(res, open(os.path.join(a.out, "syncs.json"), "w"), indent=1)
    if "profile" in parts:
        part_profile(a.profile_families, 128, dev, os.path.join(a.out, "profile.txt"))
    if "bench" in parts:
        result = run_benchmark(families, hidden_sizes=a.hidden, iters=a.iters, ref_iters=a.ref_iters,
                               reference=not a.no_reference, log=lambda m: print(m, flush=True))
        json.dump(result, open(os.path.join(a.out, "bench.json"), "w"), indent=1)
        print(format_table(result))
    if "repeat" in parts:  # the same versions timed again: the spread between two runs
        again = run_benchmark(["momentum-lstm", "adam-lstm", "rmsprop-lstm", "nag_restart-lstm", "momentum-gru",
                               "momentum-cornn", "momentum-unitary"], hidden_sizes=a.hidden, iters=a.iters,
                              reference=False)
        json.dump(again, open(os.path.join(a.out, "repeat.json"), "w"), indent=1)
        print(format_table(again))


if __name__ == "__main__":
    main()
