"""Training-iteration speed of every cell family: `reference` against `auto`, beside cuDNN LSTM.

One training iteration = forward over (B, T, input) pixels, a linear readout of the last
output, cross-entropy, backward, RMSprop step and `after_optimizer_step` (what a real
sMNIST run does). On CUDA each iteration is timed with CUDA events, after warm-up; the
median is reported. `nn.LSTM` (cuDNN) at the same H is timed in the same run as the yard
stick. Torch only: `python -m cells.benchmark --out bench.json` runs it without the CLI.

Example:
    >>> rows = run_benchmark(["momentum-lstm"], hidden_sizes=(8,), batch=4, steps=6, iters=1, warmup=0)
    >>> [(r["family"], r["hidden_size"]) for r in rows["rows"]]
    [('momentum-lstm', 8)]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Callable, Sequence

import torch
from torch import nn

__all__ = ["DEFAULT_FAMILIES", "parse_family", "run_benchmark", "format_table", "main"]

# Every dynamics on the LSTM (the paper's cells), and every core with plain and momentum.
DEFAULT_FAMILIES: tuple[str, ...] = (
    "plain-lstm", "momentum-lstm", "adam-lstm", "rmsprop-lstm", "nag_restart-lstm",
    "nag_restart-lstm:nag_form=paper",
    "plain-rnn", "momentum-rnn", "plain-gru", "momentum-gru",
    "plain-orthogonal", "momentum-orthogonal", "momentum-orthogonal:param=cayley",
    "momentum-orthogonal:param=svd",
    "momentum-unitary", "momentum-urnn", "momentum-enrnn",
    "plain-cornn", "momentum-cornn", "plain-unicornn", "momentum-unicornn",
)


def parse_family(spec: str, hidden_size: int, input_size: int = 1):
    """"dynamics-core[:key=value,...]" -> CellConfig, e.g. "nag_restart-lstm:nag_form=paper"."""
    from cells.config import CellConfig

    name, _, extra = spec.partition(":")
    dynamics, sep, core = name.partition("-")
    if not sep:
        raise ValueError(f"bench: family {spec!r} is not 'dynamics-core[:key=value,...]', e.g. momentum-lstm")
    kwargs = {}
    for item in filter(None, extra.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"bench: {item!r} in family {spec!r} is not key=value")
        kwargs[key] = _number(value)
    return CellConfig.from_dict({"core": core, "dynamics": dynamics, "input_size": input_size,
                                 "hidden_size": hidden_size, **kwargs})


def _device(device: str | None) -> torch.device:
    """`device` (default: cuda when available), checked: a bad name or a missing GPU is a ValueError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"bench: unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"bench: device {device!r} asked for but there is no such CUDA device here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"bench: unknown device {device!r}; use cpu, cuda or cuda:N")
    return dev


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class _Classifier(nn.Module):
    """Cell + linear readout of the last output (sMNIST shape)."""

    def __init__(self, cell: nn.Module, classes: int = 10):
        super().__init__()
        self.cell = cell
        self.readout = nn.Linear(cell.output_size, classes)

    def forward(self, x):
        out, _ = self.cell(x)
        return self.readout(out[:, -1])


class _LSTMClassifier(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, classes: int = 10):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.readout(out[:, -1])


def training_step(model: nn.Module, x, y, after_step: Callable | None = None) -> Callable[[], None]:
    """One training iteration as the benchmark times it: forward, cross-entropy, backward,
    RMSprop step, then `after_step` (e.g. `after_optimizer_step`, DTRIV's re-base)."""
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if after_step is not None:
            after_step()

    return step


def time_ms(fn: Callable[[], None], iters: int, warmup: int, cuda: bool) -> list[float]:
    """ms per call of fn after `warmup` calls, one number per timed call: CUDA events around
    each call on a GPU (the host may run ahead otherwise), the wall clock on the CPU."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def _time_training(model: nn.Module, x, y, iters: int, warmup: int, after_step: Callable | None) -> list[float]:
    """ms per training iteration, one number per timed iteration."""
    return time_ms(training_step(model, x, y, after_step), iters, warmup, cuda=x.device.type == "cuda")


def check_inputs(families: Sequence[str] | None, *, hidden_sizes: Sequence[int], batch: int, steps: int,
                 input_size: int, iters: int, warmup: int, ref_iters: int, ref_warmup: int,
                 device: str | None) -> tuple[list[str], torch.device]:
    """The families to time and the device, every setting checked (ValueError naming the bad one):
    a typo fails at once, not after minutes of timing."""
    for name, value, low in (("batch", batch, 1), ("steps", steps, 1), ("iters", iters, 1), ("warmup", warmup, 0),
                             ("ref_iters", ref_iters, 1), ("ref_warmup", ref_warmup, 0),
                             *(("hidden size", h, 1) for h in hidden_sizes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"bench: {name} must be an integer >= {low}, got {value!r}")
    if not hidden_sizes:
        raise ValueError("bench: give at least one hidden size")
    families = list(DEFAULT_FAMILIES if not families else families)
    for spec in families:
        parse_family(spec, hidden_sizes[0], input_size)
    return families, _device(device)


def run_benchmark(families: Sequence[str] | None = None, *, hidden_sizes: Sequence[int] = (128, 256),
                  batch: int = 128, steps: int = 784, input_size: int = 1, iters: int = 10, warmup: int = 3,
                  ref_iters: int = 2, ref_warmup: int = 1, reference: bool = True, device: str | None = None,
                  seed: int = 0, log: Callable[[str], None] | None = None) -> dict:
    """Time every family at every H for `reference` and `auto`, and cuDNN `nn.LSTM` at each H.

    Returns {"device", "torch", "batch", "steps", "input_size", "rows": [...]}; each row has
    family, hidden_size, cudnn_lstm_ms, reference_ms (None when skipped), auto_ms, the auto
    impl actually used, auto/cudnn and reference/auto ratios, and the iteration counts.
    """
    from cells.build import build_cell
    from cells.manifolds import after_optimizer_step

    families, dev = check_inputs(families, hidden_sizes=hidden_sizes, batch=batch, steps=steps, input_size=input_size,
                                 iters=iters, warmup=warmup, ref_iters=ref_iters, ref_warmup=ref_warmup, device=device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, steps, input_size, generator=gen).to(dev)  # pixels in [0, 1]
    y = torch.randint(0, 10, (batch,), generator=gen).to(dev)
    say = log or (lambda message: None)
    rows = []
    for H in hidden_sizes:
        torch.manual_seed(seed)
        lstm = _LSTMClassifier(input_size, H).to(dev)
        cudnn = statistics.median(_time_training(lstm, x, y, iters, warmup, None))
        say(f"H={H} cudnn nn.LSTM {cudnn:.2f} ms")
        del lstm
        for spec in families:
            cfg = parse_family(spec, H, input_size)
            row = {"family": spec, "hidden_size": H, "cudnn_lstm_ms": cudnn}
            for impl, n, w in (("auto", iters, warmup), ("reference", ref_iters, ref_warmup)):
                if impl == "reference" and not reference:
                    row["reference_ms"] = None
                    continue
                torch.manual_seed(seed)
                cell = build_cell(cfg, impl=impl)
                model = _Classifier(cell).to(dev)
                hook = lambda c=cell: after_optimizer_step(c)  # noqa: E731  (DTRIV re-basing, as in training)
                times = _time_training(model, x, y, n, w, hook)
                row[f"{impl}_ms"] = statistics.median(times)
                row[f"{impl}_iters"] = n
                if impl == "auto":
                    row["auto_impl"] = getattr(cell, "fast_path", type(cell).__name__)
                del model, cell
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            row["auto_vs_cudnn"] = row["auto_ms"] / cudnn
            row["reference_vs_auto"] = (row["reference_ms"] / row["auto_ms"]) if row.get("reference_ms") else None
            say(f"H={H} {spec}: auto {row['auto_ms']:.2f} ms ({row['auto_vs_cudnn']:.2f}x cuDNN)"
                + (f", reference {row['reference_ms']:.1f} ms" if row.get("reference_ms") else ""))
            rows.append(row)
    return {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "batch": batch, "steps": steps, "input_size": input_size,
            "iters": iters, "warmup": warmup, "ref_iters": ref_iters, "rows": rows}


def format_table(result: dict) -> str:
    """A plain-text table of `run_benchmark`'s result."""
    head = (f"{'family':<34} {'H':>4} {'cuDNN LSTM':>10} {'reference':>10} {'auto':>9} "
            f"{'auto/cuDNN':>10} {'ref/auto':>9}  auto path")
    lines = [f"device: {result['device']}  torch {result['torch']}  B={result['batch']} T={result['steps']} "
             f"input={result['input_size']}  ms per training iteration (median)", head, "-" * len(head)]
    for r in result["rows"]:
        ref = f"{r['reference_ms']:.1f}" if r.get("reference_ms") else "-"
        ratio = f"{r['reference_vs_auto']:.0f}x" if r.get("reference_vs_auto") else "-"
        lines.append(f"{r['family']:<34} {r['hidden_size']:>4} {r['cudnn_lstm_ms']:>10.2f} {ref:>10} "
                     f"{r['auto_ms']:>9.2f} {r['auto_vs_cudnn']:>9.2f}x {ratio:>9}  {r.get('auto_impl', '')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    """`python -m cells.benchmark [--families ...] [--hidden 128 256] [--split S] [--stream-k K] [--out bench.json]`."""
    p = argparse.ArgumentParser(prog="python -m cells.benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--families", nargs="*", default=None)
    p.add_argument("--hidden", nargs="*", type=int, default=[128, 256])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=784)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--ref-iters", type=int, default=2)
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--split", type=int, default=None,
                   help="programs sharing each step of the split Triton kernels (1: one program; default: each kernel's table)")
    p.add_argument("--stream-k", type=int, default=None,
                   help="split kernels that can read their weight slice each step: in blocks of this many rows "
                        "(the padded width: held in registers; default: each kernel's table)")
    a = p.parse_args(argv)
    from cells.fast import _triton

    knobs = {"split": a.split, "stream_k": a.stream_k}
    before = {k: _triton.OVERRIDES[k] for k in knobs}
    _triton.OVERRIDES.update(knobs)
    try:
        result = run_benchmark(a.families, hidden_sizes=a.hidden, batch=a.batch, steps=a.steps, iters=a.iters,
                               warmup=a.warmup, ref_iters=a.ref_iters, reference=not a.no_reference,
                               device=a.device, log=lambda m: print(m, flush=True))
    finally:
        _triton.OVERRIDES.update(before)
    result.update(knobs)
    print(format_table(result))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
