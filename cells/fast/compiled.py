"""What `torch.compile` sees of a fast cell: time loops as single opaque calls, dynamics
values as tensors.

A time loop unrolled into a graph costs minutes of compilation for T = 784 and a new
compilation for every T, so the loops that are not already one custom op (the Triton
kernels) run outside the compiled graph, as eager calls with their own autograd, through
`torch.compiler.disable`: the fused RNN operators (where inductor would otherwise meet
`aten.mkldnn_rnn_layer` on the CPU, which it cannot lower) and the step-by-step loop of the
hoisted path, and the reference loop where `auto` falls back to it. The work around them (projections, hoisted filters, readout, loss) is compiled.

The dynamics' trial-varied values (mu, s, beta, the restart period) enter compiled code as
tensors: `prepare` keeps them in non-persistent buffers of the cell (moved with it,
not in its state_dict) and, while compiling, `traced_dynamics` gives the cell's code a twin
of its dynamics holding those buffers (and `shared_class` gives the parametrized cells of
one family one class). A compiled graph then takes them as inputs instead
of guarding on their Python values, so the trials of one family share compiled code
instead of compiling again for every mu. Eager runs keep the Python floats, and
`torch.export` (which traces without dynamo) runs the loops as it finds them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from cells.cell import steps_over
from cells.dynamics import Dynamics, dynamics_params

__all__ = ["compiling", "prepare", "traced_dynamics", "shared_class", "cached_parametrizations", "outside_graph",
           "fused_rnn", "step_loop"]

_PREFIX = "dynamics_value_"


def compiling() -> bool:
    """Whether dynamo is tracing for torch.compile; False for `torch.export` (non-strict, the
    default and what `search.export` runs: no dynamo), which traces the eager code as it is.

    Not `is_compiling() and not is_exporting()`: dynamo in torch 2.11 folds `is_exporting()`
    to True under torch.compile, which turned every piece of this module off there."""
    return torch.compiler.is_dynamo_compiling()


def prepare(cell: nn.Module, dynamics: Dynamics) -> None:
    """Made fast (`auto.accelerate`): keep `dynamics` as `cell.eager_dynamics` (what the fast
    class's `dynamics` property serves), its numeric parameters as non-persistent 0-dim
    buffers of `cell` and the names of its fields (read here, outside any trace: dynamo
    cannot read a dataclass's fields), and wrap the loops (`_wrap_loops`)."""
    cell.eager_dynamics = dynamics
    numeric = tuple(name for name in dynamics_params(cell.config.dynamics)
                    if isinstance(getattr(dynamics, name), numbers.Real))
    for name in numeric:
        cell.register_buffer(_PREFIX + name, torch.tensor(float(getattr(dynamics, name))), persistent=False)
    others = tuple(f.name for f in dataclasses.fields(dynamics) if f.init and f.name not in numeric)
    cell.dynamics_fields = (numeric, others)
    _wrap_loops()


def traced_dynamics(cell: nn.Module, dynamics: Dynamics) -> Dynamics:
    """`dynamics` itself in eager runs; while compiling, a twin whose numeric parameters are
    the cell's value buffers (tensors), so that no guard holds their Python values."""
    if not compiling():
        return dynamics
    numeric, others = cell.dynamics_fields
    values = {name: getattr(cell, _PREFIX + name) for name in numeric}
    return type(dynamics)(**values, **{name: getattr(dynamics, name) for name in others})


_SHARED: dict[tuple, type] = {}


def shared_class(cls: type) -> type:
    """One class for every parametrized cell of the same reference class and parametrized names.

    torch's parametrize gives each parametrized module a class of its own, and compiled code
    guards on the class, so each trial of an orthogonal family would compile again; the
    generated classes differ only in identity (their properties look the tensors up on the
    instance), so the first one made serves every later one."""
    if cls.__module__ != parametrize.__name__:
        return cls
    key = (cls.__bases__, tuple(sorted(n for n, v in vars(cls).items() if isinstance(v, property))))
    return _SHARED.setdefault(key, cls)


def cached_parametrizations():
    """`parametrize.cached()` in eager runs (a constrained matrix built once per call, not once
    per step). While compiling nothing: dynamo cannot leave the graph inside that context for
    the loops below, the graph computes each matrix once anyway, and `step_loop` caches its own."""
    return contextlib.nullcontext() if compiling() else parametrize.cached()


def outside_graph(forward, *args):
    """`forward(*args)` run eagerly: the reference loop (the paper-form NAG where no kernel serves it)."""
    return _EAGER["outside_graph"](forward, *args)


def fused_rnn(name: str, *args, **flags) -> tuple[Tensor, ...]:
    """`torch._VF.<name>(*args, **flags)`, run eagerly: rnn_tanh / lstm / gru, the cuDNN or native fused loop."""
    return _EAGER["fused_rnn"](name, *args, **flags)


def step_loop(layer: Any, a: Tensor, state: Any) -> tuple[Tensor, Any]:
    """The core's own step over a (B, T, G) from `state`, run eagerly: (outputs (B, T, output_size), final state)."""
    return _EAGER["step_loop"](layer, a, state)


def _call(forward, *args):
    return forward(*args)


def _fused_rnn(name, *args, **flags):
    return getattr(torch._VF, name)(*args, **flags)


def _step_loop(layer, a, state):
    with parametrize.cached():
        outputs, state = steps_over(layer, a, state)
    return torch.stack(outputs, dim=1), state


_EAGER: dict[str, Any] = {}


def _wrap_loops() -> None:
    """Wrap the loops in `torch.compiler.disable` when the first fast cell is made, not when
    this module is imported: that imports dynamo, which imports Triton, which reads
    TRITON_INTERPRET once (and `import cells` stays light)."""
    if not _EAGER:
        _EAGER.update(outside_graph=torch.compiler.disable(_call), fused_rnn=torch.compiler.disable(_fused_rnn),
                      step_loop=torch.compiler.disable(_step_loop))
