"""Oscillator cores: coRNN (Rusch & Mishra 2021) and UnICORNN (Rusch & Mishra 2021).

The dynamics filter each core's input projection `weight_ih x + bias_ih`; readout on y.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cell import Cell
from ..registry import register_core

__all__ = ["CoRNNCell", "UnICORNNCell", "time_shared_dropout_mask"]


def time_shared_dropout_mask(y: Tensor, p: float) -> Tensor:
    """A dropout mask for the sequence y (B, T, H), drawn once and shared over its T steps: (B, 1, H).

    Each entry is 0 with probability p and 1 / (1 - p) otherwise (tk-rusch/unicornn's
    `Dropout_overtime`: `noise.bernoulli_(1 - p).div_(1 - p)` over (batch, hidden)). Drawn with
    torch's RNG on y's device, always as float32 then cast, so the same seed gives the same mask
    to a float32 and a float64 cell, and to the reference and the fast path (both call this).
    """
    B, H = y.shape[0], y.shape[2]
    keep = torch.empty(B, H, dtype=torch.float32, device=y.device).bernoulli_(1.0 - p)
    return (keep.to(y.dtype) / (1.0 - p)).unsqueeze(1)


@register_core("cornn")
class CoRNNCell(Cell):
    """Coupled oscillators, state (y, z), each (B, H):

        z_t = z + dt (tanh(y W_hy^T + z W_hz^T + a_t) - gamma y - eps z),  y_t = y + dt z_t

    with a_t the dynamics' term over g = x W_ih^T + b_ih. The bias b of the paper's
    tanh(W y + W_z z + V x + b) is `bias_ih`, inside g, so the dynamics filter it too (REFERENCE §1:
    the whole input projection, bias included); with plain dynamics this is the reference's one
    Linear over cat(x, z, y). Init as that Linear: every weight and the bias ~ U(+-1 / sqrt(I + 2H)).
    """

    def __init__(self, config):
        super().__init__(config)
        I, H = config.input_size, config.hidden_size
        self.gate_size = H
        self.weight_ih = nn.Parameter(torch.empty(H, I))
        self.bias_ih = nn.Parameter(torch.empty(H))
        self.weight_hy = nn.Parameter(torch.empty(H, H))
        self.weight_hz = nn.Parameter(torch.empty(H, H))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.input_size + 2 * self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project(self, x):
        return F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, H)

    def initial_state(self, batch, like):
        zeros = like.new_zeros(batch, self.hidden_size)
        return (zeros, zeros)

    def recurrent(self, state):
        y, z = state
        return F.linear(y, self.weight_hy) + F.linear(z, self.weight_hz)  # (B, H)

    def update(self, pre, state):
        cfg = self.config
        y, z = state
        z = z + cfg.dt * (torch.tanh(pre) - cfg.gamma * y - cfg.eps * z)
        y = y + cfg.dt * z  # the new z
        return (y, z)

    def output(self, state):
        return state[0]


@register_core("unicornn")
class UnICORNNCell(Cell):
    """Undamped independent oscillators, `layers` stacked; layer k has state (y, z), each (B, H):

        delta = dt sigmoid(c_l{k}),  z_t = z - delta (tanh(w y + a_t) + alpha y),  y_t = y + delta z_t

    `weight_hh_l{k}` = w (H,) is a diagonal recurrence. Each layer's input projection
    (`weight_ih_l{k}`, `bias_ih_l{k}`, over x for k = 0, over the y sequence of layer k - 1
    after) goes through the dynamics. Init as the reference code (tk-rusch/unicornn, IndRNN's
    init_weights): w ~ U(0, 1), c ~ U(-0.1, 0.1), weight_ih `kaiming_uniform_(a=8, mode="fan_in")`,
    i.e. U(+-sqrt(6 / (65 fan_in))), bias_ih 0. State: a tuple with one (y, z) per layer.

    Dropout (`config.dropout` = p, training mode only): the y sequence of layer k < layers - 1 is
    multiplied by a mask drawn once per forward call (B, H) and shared over all time steps
    (`between_layers`) before layer k + 1 projects it. The reference code also drops the last
    layer's y before its classifier; that belongs to the readout: the cell's output is the last
    layer's y sequence as it is (a model wanting the reference's head applies
    `time_shared_dropout_mask` to it). The layers' final states are not masked. A call that
    carries a state in draws a new mask (the mask is not part of the CellState).
    """

    stacked = True

    def __init__(self, config):
        super().__init__(config)
        I, H = config.input_size, config.hidden_size
        self.gate_size = H
        for k in range(config.layers):
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(H, I if k == 0 else H)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(H)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(H)))
            self.register_parameter(f"c_l{k}", nn.Parameter(torch.empty(H)))
        self.reset_parameters()

    def reset_parameters(self):
        for k in range(self.config.layers):
            nn.init.kaiming_uniform_(getattr(self, f"weight_ih_l{k}"), a=8, mode="fan_in")
            nn.init.zeros_(getattr(self, f"bias_ih_l{k}"))
            nn.init.uniform_(getattr(self, f"weight_hh_l{k}"), 0.0, 1.0)
            nn.init.uniform_(getattr(self, f"c_l{k}"), -0.1, 0.1)

    def layer(self, k: int) -> "UnICORNNLayer":
        """Layer k's step functions (a view on this cell's parameters)."""
        return UnICORNNLayer(self, k)

    def between_layers(self, k: int, y: Tensor) -> Tensor:
        """Layer k's y sequence (B, T, H) as layer k + 1 receives it: in training mode with
        dropout > 0, times one time-shared mask (`time_shared_dropout_mask`); else y itself
        (and the last layer's y is always returned as is). Every impl calls this, in layer order,
        so the same torch seed draws the same masks."""
        p = self.config.dropout
        if not self.training or not p or k == self.config.layers - 1:
            return y
        return y * time_shared_dropout_mask(y, p)


class UnICORNNLayer:
    """One UnICORNN layer's per-step functions, bound to the cell's parameters of that layer."""

    def __init__(self, cell: UnICORNNCell, k: int):
        self.cell, self.k = cell, k
        self.weight_ih = getattr(cell, f"weight_ih_l{k}")
        self.bias_ih = getattr(cell, f"bias_ih_l{k}")
        self.w = getattr(cell, f"weight_hh_l{k}")
        self.c = getattr(cell, f"c_l{k}")

    def project(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, H)

    def initial_state(self, batch: int, like: Tensor):
        zeros = like.new_zeros(batch, self.cell.hidden_size)
        return (zeros, zeros)

    def recurrent(self, state):
        return self.w * state[0]  # (B, H)

    def update(self, pre, state):
        cfg = self.cell.config
        y, z = state
        delta = cfg.dt * torch.sigmoid(self.c)
        z = z - delta * (torch.tanh(pre) + cfg.alpha * y)
        y = y + delta * z
        return (y, z)

    def step(self, a, state):
        return self.update(a + self.recurrent(state), state)

    def output(self, state):
        return state[0]
