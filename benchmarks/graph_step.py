"""What a CUDA graph would save a training iteration: `cells.benchmark`'s iteration (B=128,
T=784, forward, cross-entropy, backward, RMSprop step, `after_optimizer_step`) eager, against the
same iteration with the model's forward and backward replayed as CUDA graphs
(`runs._graph.graphed_forward`: `torch.cuda.make_graphed_callables`, PyTorch's public
partial-network capture, as `train.graph` uses it), alternated in one process. Where the host,
not the GPU, sets an iteration's pace (many small launches around the recurrence kernel: the
parametrizations' maps, their backward), the graph removes it.
Also checks one step's loss and gradients against eager from the same weights; a family whose
forward waits for the host (ENRNN's eigvals) cannot be captured and says so in its row.

    python3 benchmarks/graph_step.py --families momentum-unitary momentum-orthogonal --hidden 128 --out $OUT/graph.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cells.benchmark import _Classifier, parse_family, time_ms, training_step  # noqa: E402
from cells.build import build_cell  # noqa: E402
from cells.manifolds import after_optimizer_step  # noqa: E402
from runs._graph import graphed_forward  # noqa: E402


def _gradients(model: nn.Module, forward, x, y) -> tuple[float, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(forward(x), y)
    loss.backward()
    return loss.item(), [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def measure(spec: str, hidden: int, x, y, iters: int, rounds: int) -> dict:
    torch.manual_seed(0)
    cell = build_cell(parse_family(spec, hidden, 1), impl="auto")
    model = _Classifier(cell).to(x.device)
    row = {"family": spec, "hidden_size": hidden}
    eager_loss, eager_grads = _gradients(model, model, x, y)
    try:
        graphed = graphed_forward(model, x)
    except Exception as error:  # noqa: BLE001  (what capture refused, reported in the row)
        row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        return row
    graph_loss, graph_grads = _gradients(model, graphed, x, y)
    row["loss_diff"] = abs(graph_loss - eager_loss)
    row["grad_rel_diff"] = max(float((g - e).norm() / e.norm().clamp_min(1e-30)) for g, e in zip(graph_grads, eager_grads))
    hook = lambda: after_optimizer_step(cell)  # noqa: E731
    steps = {"eager": training_step(model, x, y, hook), "graph": training_step(graphed, x, y, hook)}
    times: dict[str, list[float]] = {"eager": [], "graph": []}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name] += time_ms(step, iters, 2, True)
    row.update({f"{k}_ms": statistics.median(v) for k, v in times.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["momentum-unitary", "momentum-urnn", "momentum-orthogonal",
                                                           "nag_restart-lstm:nag_form=paper", "adam-lstm", "momentum-lstm",
                                                           "momentum-cornn", "momentum-enrnn"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[128])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("graph_step: needs a CUDA GPU (CUDA graphs); run it on the device machine")
    x = torch.rand(128, 784, 1, device="cuda")
    y = torch.randint(0, 10, (128,), device="cuda")
    rows = []
    for hidden in args.hidden:
        for spec in args.families:
            row = measure(spec, hidden, x, y, args.iters, args.rounds)
            rows.append(row)
            if "error" in row:
                print(f"H={hidden} {spec}: not captured ({row['error']})", flush=True)
            else:
                print(f"H={hidden} {spec}: eager {row['eager_ms']:.2f} ms, graphed {row['graph_ms']:.2f} ms "
                      f"({row['eager_ms'] / row['graph_ms']:.2f}x); one step: loss diff {row['loss_diff']:.1e}, "
                      f"gradients {row['grad_rel_diff']:.1e} relative", flush=True)
            args.out.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                            "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
