"""`Cell` = a dynamics applied to a core, and the reference time loop (the oracle).

A core subclasses `Cell` and says, for one time step, how its input projection and its
recurrence look (`project`, `initial_state`, `step`, `output`, and for additive cores
`recurrent` + `update`, with `step(a, s) = update(a + recurrent(s), s)`). Stacked cores
(unicornn) set `stacked` and hand out their layers with `layer(k)`.

Two loops, each written once: `run_layers` iterates the layers (every implementation, the
fast ones included, passes it what one layer does), `scan` iterates time in the reference
recurrence. `hidden_states(cell, x)` runs that reference recurrence on the cell's own
parameters and returns every per-step state as a node of the autograd graph, whatever
forward the cell uses (the stability probe differentiates the loss with respect to them).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .config import PARAMS, CellConfig
from .dynamics import Dynamics, make_dynamics
from .registry import CORE_CLASSES

__all__ = ["Cell", "CellState", "LayerFn", "hidden_states", "run_layers", "scan"]


class CellState(NamedTuple):
    """What a cell carries from one call to the next.

    core: the core's state (a tensor, or a tuple such as (h, c) for lstm, (y, z) for cornn,
    one entry per layer for unicornn); dynamics: the filter's state (a tuple of (B, G)
    tensors, one tuple per layer for unicornn); t: time steps seen so far (NAG's restart clock).
    """

    core: Any
    dynamics: Any
    t: int


class Cell(nn.Module):
    """Base of every core: holds the config, the dynamics, and runs the reference loop.

    Subclasses define `gate_size` (the width G of g = W x + b), `output_size`,
    `project(x)`, `initial_state(batch, like)`, `output(state)` and either `step`
    (any core) or `recurrent` + `update` (additive cores, which then allow the paper-form NAG).
    """

    additive: ClassVar[bool] = True
    stacked: ClassVar[bool] = False  # the state holds one (core, dynamics) entry per layer

    def __init__(self, config: CellConfig):
        super().__init__()
        if not isinstance(config, CellConfig):
            raise TypeError(f"{type(self).__name__}: expected a CellConfig, got {type(config).__name__}")
        self.config = config
        self.input_size = config.input_size
        self.hidden_size = config.hidden_size
        self.output_size = config.hidden_size
        self.dynamics: Dynamics = make_dynamics(config)

    # ---- the per-step interface a core implements ----------------------------------------
    def project(self, x: Tensor) -> Tensor:
        """Input projection g = x W^T + b: (B, T, input_size) -> (B, T, G)."""
        raise NotImplementedError

    def initial_state(self, batch: int, like: Tensor) -> Any:
        """The core's state at the start of a sequence."""
        raise NotImplementedError

    def recurrent(self, state: Any) -> Tensor:
        """Additive cores: the recurrent term U h_{t-1} + b_h, (B, G)."""
        raise NotImplementedError

    def update(self, z: Tensor, state: Any) -> Any:
        """Additive cores: the new state from the whole pre-activation z (B, G)."""
        raise NotImplementedError

    def step(self, a: Tensor, state: Any) -> Any:
        """One time step from the dynamics' term a_t (B, G)."""
        return self.update(a + self.recurrent(state), state)

    def output(self, state: Any) -> Tensor:
        """What the cell emits for this state, (B, output_size)."""
        raise NotImplementedError

    # ---- the layers ----------------------------------------------------------------------
    @property
    def layer_count(self) -> int:
        """How many layers `run_layers` iterates (one unless the core is stacked)."""
        return self.config.layers if self.stacked else 1

    def layer(self, k: int) -> Any:
        """Layer k's per-step functions (`project`, `initial_state`, `step`, ...): the cell itself
        for a single-layer core."""
        return self

    def between_layers(self, k: int, y: Tensor) -> Tensor:
        """Layer k's output sequence (B, T, H) as layer k + 1 receives it (stacked cores: dropout)."""
        return y

    # ---- the loop ----------------------------------------------------------------------
    def zero_state(self, x: Tensor, *, filter_state: bool = True) -> CellState:
        """The state at the start of a sequence for input x (B, T, input_size).

        filter_state=False leaves the dynamics' entries empty: the fast paths filter from
        zero on their own, and zero (B, G) tensors made for them would be work per call."""
        B = x.shape[0]
        dynamics = self.dynamics
        layers = [(self.layer(k).initial_state(B, x),
                   dynamics.initial_state(B, self.gate_size, x) if filter_state else ())
                  for k in range(self.layer_count)]
        return _pack(self, layers, 0)

    def forward(self, x: Tensor, state: CellState | None = None) -> tuple[Tensor, CellState]:
        """x (B, T, input_size) -> (outputs (B, T, output_size), final CellState)."""
        self._check_input(x)
        if state is None:
            state = self.zero_state(x)
        elif not isinstance(state, CellState):
            raise TypeError(f"{type(self).__name__}: expected state=None or the CellState a previous call "
                            f"returned, got {type(state).__name__}")
        with parametrize.cached():  # orthogonal weights computed once per call, not once per step
            return self.recur(x, state)

    def recur(self, x: Tensor, state: CellState) -> tuple[Tensor, CellState]:
        """The reference recurrence: every layer projects, filters and recurs step by step."""
        return run_layers(self, x, state, _reference_layer)

    def _check_input(self, x: Tensor):
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"{name}: expected input (B, T, input_size) batch-first 3D, got {x.dim()}D instead")
        if x.shape[2] != self.input_size:
            raise ValueError(f"{name}: expected input_size {self.input_size}, got {x.shape[2]}")
        if x.shape[1] < 1:
            raise ValueError(f"{name}: expected at least one time step, got T = 0")

    def __reduce_ex__(self, protocol):
        # torch refuses to pickle parametrized modules; a cell is its config and its state_dict,
        # so pickle (torch.save(model), multiprocessing) rebuilds it from those.
        if not parametrize.is_parametrized(self):
            return super().__reduce_ex__(protocol)
        first = next(self.parameters())
        return (_rebuild, (self.config.to_dict(), self.state_dict(), first.dtype,
                           first.device, self.training))

    def extra_repr(self) -> str:
        cfg = self.config
        parts = [f"{cfg.input_size}, {cfg.hidden_size}"]
        if cfg.dynamics != "plain":
            parts.append(f"dynamics={cfg.dynamics}")
        for p in PARAMS:
            value = getattr(cfg, p.name)
            if value is not None and value != p.default_for(cfg.core, cfg.dynamics):
                parts.append(f"{p.name}={value}")
        return ", ".join(parts)


def _rebuild(config, state, dtype, device, training):
    """Unpickle a parametrized cell: the reference build of its config, then its weights."""
    cell = CORE_CLASSES[config["core"]](CellConfig.from_dict(config)).to(device=device, dtype=dtype)
    cell.load_state_dict(state)
    return cell.train(training)


# What one layer does in `run_layers`: (cell, layer, input sequence, core state, dynamics
# state, t0) -> (output sequence (B, T, H), final core state, final dynamics state).
LayerFn = Callable[[Cell, Any, Tensor, Any, Any, int], tuple[Tensor, Any, Any]]


def run_layers(cell: Cell, x: Tensor, state: CellState, layer_fn: LayerFn) -> tuple[Tensor, CellState]:
    """The one layer loop of every implementation: layer k runs `layer_fn` on the sequence
    layer k - 1 emitted (after `cell.between_layers`); returns the last layer's sequence and
    the CellState packed as the core keeps it."""
    layers = _unpack(cell, state)
    inp, finals = x, []
    for k, (core, dyn) in enumerate(layers):
        out, core, dyn = layer_fn(cell, cell.layer(k), inp, core, dyn, state.t)
        inp = cell.between_layers(k, out)
        finals.append((core, dyn))
    return inp, _pack(cell, finals, state.t + x.shape[1])


def _unpack(cell: Cell, state: CellState) -> list[tuple[Any, Any]]:
    if cell.stacked:
        return list(zip(state.core, state.dynamics))
    return [(state.core, state.dynamics)]


def _pack(cell: Cell, layers: list[tuple[Any, Any]], t: int) -> CellState:
    if cell.stacked:
        return CellState(tuple(core for core, _ in layers), tuple(dyn for _, dyn in layers), t)
    (core, dyn), = layers
    return CellState(core, dyn, t)


def _reference_layer(cell: Cell, layer: Any, x: Tensor, core: Any, dyn: Any, t0: int):
    return scan(layer, cell.dynamics, layer.project(x), core, dyn, t0)


def hidden_states(cell: Cell, x: Tensor) -> list[Tensor]:
    """h_1 .. h_T of the last layer, each (B, output_size), from the zero state: the reference
    recurrence run on `cell`'s own parameters (whatever forward the cell normally uses).

    Each h_t is the tensor the next step reads, so `torch.autograd.grad(loss, hs)` gives the
    total derivative dL/dh_t (through the readout and every later state); the outputs are
    `torch.stack(hs, dim=1)`.

        >>> import torch
        >>> from cells import CellConfig, build_cell
        >>> cell = build_cell(CellConfig(core="gru", input_size=1, hidden_size=3))
        >>> hs = hidden_states(cell, torch.randn(2, 5, 1))
        >>> len(hs), tuple(hs[0].shape)
        (5, (2, 3))
        >>> grads = torch.autograd.grad(hs[-1].sum(), hs)
        >>> bool(grads[0].abs().sum() > 0)   # h_1 reaches the loss through h_2 .. h_5
        True
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"hidden_states: expected a cells Cell, got {type(cell).__name__}")
    cell._check_input(x)
    steps: list[Tensor] = []

    def keep_steps(cell, layer, inp, core, dyn, t0):
        outputs, core, dyn = _steps(layer, cell.dynamics, layer.project(inp), core, dyn, t0)
        steps[:] = outputs  # the last layer's remain
        return torch.stack(outputs, dim=1), core, dyn

    with parametrize.cached():
        run_layers(cell, x, cell.zero_state(x), keep_steps)
    return steps


def scan(core: Any, dynamics: Dynamics, g: Tensor, state: Any, dyn_state: tuple, t0: int):
    """The reference recurrence over g (B, T, G), one step at a time.

    `core` provides step / recurrent / update / output (a Cell, or one layer of a stack).
    Returns (outputs (B, T, output_size), final core state, final dynamics state).
    """
    outputs, state, dyn_state = _steps(core, dynamics, g, state, dyn_state, t0)
    return torch.stack(outputs, dim=1), state, dyn_state


def steps_over(core: Any, a: Tensor, state: Any) -> tuple[list[Tensor], Any]:
    """The core's step over an already filtered a (B, T, G): the per-step outputs and the
    final state (the reference loop and the fast hoisted path share it)."""
    # unbind, not a[:, t]: the backward of T slices would write T full (B, T, G) gradients
    outputs = []
    for a_t in a.unbind(1):
        state = core.step(a_t, state)
        outputs.append(core.output(state))
    return outputs, state


def _steps(core: Any, dynamics: Dynamics, g: Tensor, state: Any, dyn_state: tuple, t0: int):
    """`scan` with the outputs as the list of per-step tensors."""
    if dynamics.hoistable:
        a, dyn_state = dynamics.filter(g, dyn_state, t0)  # (B, T, G), depends on g only
        outputs, state = steps_over(core, a, state)
    else:  # paper-form NAG: the filter needs the recurrent term of every step
        outputs = []
        for t, g_t in enumerate(g.unbind(1)):
            z, dyn_state = dynamics.preactivation(g_t, core.recurrent(state), dyn_state, t0 + t)
            state = core.update(z, state)
            outputs.append(core.output(state))
    return outputs, state, dyn_state
