"""`Cell` = a dynamics applied to a core, and the reference time loop (the oracle).

A core subclasses `Cell` and says, for one time step, how its input projection and its
recurrence look (`project`, `initial_state`, `step`, `output`, and for additive cores
`recurrent` + `update`, with `step(a, s) = update(a + recurrent(s), s)`). The loop in
`scan` is the only place time is iterated: fast implementations can reuse the per-step
methods and hoist `dynamics.filter` out of the loop.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .config import PARAMS, CellConfig
from .dynamics import Dynamics, make_dynamics

__all__ = ["Cell", "CellState", "scan"]


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

    # ---- the loop ----------------------------------------------------------------------
    def zero_state(self, x: Tensor) -> CellState:
        """The state at the start of a sequence for input x (B, T, input_size)."""
        B = x.shape[0]
        return CellState(self.initial_state(B, x), self.dynamics.initial_state(B, self.gate_size, x), 0)

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
        """One layer: project, filter, recur. Stacked cores override this."""
        g = self.project(x)  # (B, T, G)
        out, core, dyn = scan(self, self.dynamics, g, state.core, state.dynamics, state.t)
        return out, CellState(core, dyn, state.t + x.shape[1])

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
    from .cores import CORE_CLASSES

    cell = CORE_CLASSES[config["core"]](CellConfig.from_dict(config)).to(device=device, dtype=dtype)
    cell.load_state_dict(state)
    return cell.train(training)


def scan(core: Any, dynamics: Dynamics, g: Tensor, state: Any, dyn_state: tuple, t0: int):
    """The reference recurrence over g (B, T, G), one step at a time.

    `core` provides step / recurrent / update / output (a Cell, or one layer of a stack).
    Returns (outputs (B, T, output_size), final core state, final dynamics state).
    """
    # unbind, not g[:, t]: the backward of T slices would write T full (B, T, G) gradients
    outputs = []
    if dynamics.hoistable:
        a, dyn_state = dynamics.filter(g, dyn_state, t0)  # (B, T, G), depends on g only
        for a_t in a.unbind(1):
            state = core.step(a_t, state)
            outputs.append(core.output(state))
    else:  # paper-form NAG: the filter needs the recurrent term of every step
        for t, g_t in enumerate(g.unbind(1)):
            z, dyn_state = dynamics.preactivation(g_t, core.recurrent(state), dyn_state, t0 + t)
            state = core.update(z, state)
            outputs.append(core.output(state))
    return torch.stack(outputs, dim=1), state, dyn_state
