"""Optimizer-inspired dynamics: filters over the input projection `g_t = W x_t + b_ih`.

A dynamics has no parameters; it turns the stream g (B, T, G) into the stream a (B, T, G)
that the core adds to its recurrent term (REFERENCE §1). Every dynamics but the paper-form
NAG depends on g only, so `filter` can run over the whole sequence before the recurrence
(`hoistable`); the paper-form NAG needs the core's recurrent term at each step and
provides `preactivation` instead.

State: a tuple of (B, G) tensors, zero at the start of a sequence. `t` is the 0-based
time index inside the sequence (it carries across calls through the cell's state).

Example:
    >>> import torch
    >>> a, state = Momentum(mu=0.5, s=1.0).filter(torch.ones(1, 3, 1))
    >>> a.flatten().tolist()
    [1.0, 1.5, 1.75]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor

__all__ = ["Dynamics", "Plain", "Momentum", "Adam", "RMSProp", "NAGRestart", "DYNAMICS_CLASSES", "make_dynamics"]

State = tuple[Tensor, ...]


@dataclass(frozen=True)
class Dynamics:
    """Base class: a per-feature filter with `n_state` state tensors of shape (B, G)."""

    hoistable: ClassVar[bool] = True
    n_state: ClassVar[int] = 0

    def initial_state(self, batch: int, size: int, like: Tensor) -> State:
        """Zeros, one (B, G) tensor per state variable, dtype and device of `like`."""
        return tuple(like.new_zeros(batch, size) for _ in range(self.n_state))

    def step(self, g_t: Tensor, state: State, t: int) -> tuple[Tensor, State]:
        """One time step: g_t (B, G) -> a_t (B, G) and the new state."""
        raise NotImplementedError

    def filter(self, g: Tensor, state: State | None = None, t0: int = 0) -> tuple[Tensor, State]:
        """The whole sequence g (B, T, G) -> a (B, T, G), step by step (the reference)."""
        if state is None:
            state = self.initial_state(g.shape[0], g.shape[2], g)
        out = []
        for t, g_t in enumerate(g.unbind(1)):
            a_t, state = self.step(g_t, state, t0 + t)
            out.append(a_t)
        return torch.stack(out, dim=1), state  # (B, T, G)


@dataclass(frozen=True)
class Plain(Dynamics):
    """a_t = g_t."""

    def step(self, g_t, state, t):
        return g_t, state

    def filter(self, g, state=None, t0=0):
        return g, () if state is None else state


@dataclass(frozen=True)
class Momentum(Dynamics):
    """Heavy ball: v_t = mu v_{t-1} + s g_t; a_t = v_t (MomentumRNN). mu=0, s=1 is plain."""

    mu: float = 0.6
    s: float = 0.6
    n_state: ClassVar[int] = 1

    def step(self, g_t, state, t):
        (v,) = state
        v = self.mu * v + self.s * g_t
        return v, (v,)


@dataclass(frozen=True)
class Adam(Dynamics):
    """v_t = mu v + s g_t; r_t = beta r + (1 - beta) g_t^2; a_t = v_t / sqrt(r_t + 1e-16), no bias correction."""

    mu: float = 0.6
    s: float = 0.6
    beta: float = 0.1
    n_state: ClassVar[int] = 2
    eps: ClassVar[float] = 1e-16  # as the reference code: inside the square root

    def step(self, g_t, state, t):
        v, r = state
        v = self.mu * v + self.s * g_t
        r = self.beta * r + (1.0 - self.beta) * g_t * g_t
        return v / torch.sqrt(r + self.eps), (v, r)


@dataclass(frozen=True)
class RMSProp(Adam):
    """Adam with mu = 0: a_t = s g_t / sqrt(r_t + 1e-16)."""

    mu: float = 0.0
    s: float = 0.6
    beta: float = 0.1

    def __post_init__(self):
        if self.mu != 0.0:
            raise ValueError(f"RMSProp: mu={self.mu} is not allowed; RMSProp is Adam with mu = 0")


@dataclass(frozen=True)
class NAGRestart(Dynamics):
    """Nesterov momentum with restart; `c_k = (k - 1) / (k + 2)`, k = 1, 2, ... restarting after k = restart.

    input form (default, hoistable): v_t = c_k v_{t-1} + s g_t; a_t = v_t.
    paper form: u_t = r_t - s g_t with r_t = U h_{t-1} + b_h the core's recurrent term;
    p_t = u_t + c_k (u_t - u_{t-1}) is the whole pre-activation (the "SRLSTM" of the paper).
    """

    s: float = 1.0
    restart: int = 2
    nag_form: str = "input"

    @property
    def hoistable(self) -> bool:  # type: ignore[override]
        return self.nag_form == "input"

    @property
    def n_state(self) -> int:  # type: ignore[override]
        return 1

    def coefficient(self, t: int) -> float:
        """c_k for the 0-based time index t: k = t + 1, restarted to 1 after every `restart` steps."""
        k = t % self.restart + 1 if self.restart > 0 else t + 1
        return (k - 1) / (k + 2)

    def step(self, g_t, state, t):
        if self.nag_form != "input":
            raise RuntimeError("NAGRestart(nag_form='paper') depends on h: use preactivation()")
        (v,) = state
        v = self.coefficient(t) * v + self.s * g_t
        return v, (v,)

    def preactivation(self, g_t: Tensor, r_t: Tensor, state: State, t: int) -> tuple[Tensor, State]:
        """Paper form: g_t, r_t (B, G) -> the whole pre-activation p_t (B, G)."""
        (u_prev,) = state
        u = r_t - self.s * g_t
        return u + self.coefficient(t) * (u - u_prev), (u,)


DYNAMICS_CLASSES: dict[str, type[Dynamics]] = {
    "plain": Plain,
    "momentum": Momentum,
    "adam": Adam,
    "rmsprop": RMSProp,
    "nag_restart": NAGRestart,
}


def dynamics_params(name: str) -> tuple[str, ...]:
    """The config fields a dynamics takes (its dataclass fields, less rmsprop's fixed mu)."""
    cls = DYNAMICS_CLASSES[name]
    return tuple(f.name for f in fields(cls) if not (cls is RMSProp and f.name == "mu"))


def make_dynamics(config) -> Dynamics:
    """The dynamics a CellConfig names, with its parameters."""
    name = config.dynamics
    return DYNAMICS_CLASSES[name](**{p: getattr(config, p) for p in dynamics_params(name)})
