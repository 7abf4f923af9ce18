"""rnn, lstm, gru: parameters named as single-layer torch.nn.RNN / LSTM / GRU.

So `cell.load_state_dict(nn.LSTM(I, H, batch_first=True).state_dict())` works, and a plain
cell then computes exactly what the torch module computes. The dynamics filter
`g = x W_ih^T + b_ih` (all gates); the recurrent term keeps `b_hh`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cell import Cell
from ..registry import register_core

__all__ = ["RNNCell", "LSTMCell", "GRUCell"]


class _TorchNamed(Cell):
    """Shared by rnn, lstm, gru: `weight_ih_l0` (G, I), `weight_hh_l0` (G, H), `bias_ih_l0`, `bias_hh_l0` (G,)."""

    gates: ClassVar[int] = 1

    def __init__(self, config):
        super().__init__(config)
        I, H = config.input_size, config.hidden_size
        self.gate_size = self.gates * H
        self.weight_ih_l0 = nn.Parameter(torch.empty(self.gate_size, I))
        self.weight_hh_l0 = nn.Parameter(torch.empty(self.gate_size, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(self.gate_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(self.gate_size))
        self.reset_parameters()

    def reset_parameters(self):
        """torch.nn's rule: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (B, T, G)

    def _hidden(self, state) -> Tensor:
        return state

    def recurrent(self, state) -> Tensor:
        return F.linear(self._hidden(state), self.weight_hh_l0, self.bias_hh_l0)  # (B, G)

    def initial_state(self, batch: int, like: Tensor):
        return like.new_zeros(batch, self.hidden_size)

    def output(self, state) -> Tensor:
        return self._hidden(state)


@register_core("rnn")
class RNNCell(_TorchNamed):
    """Elman cell: h_t = tanh(a_t + h_{t-1} W_hh^T + b_hh). State: h (B, H)."""

    def update(self, z, state):
        return torch.tanh(z)


@register_core("lstm")
class LSTMCell(_TorchNamed):
    """LSTM, gates i, f, g, o stacked in rows as torch.nn.LSTM. State: (h, c), each (B, H).

    Init (the MomentumRNN reference code): `weight_ih_l0` orthogonal, `weight_hh_l0` identity
    (`eye_` on the 4H x H matrix, so only the i block starts as I), biases zero but the forget
    block, set to `fg_init` in both biases.
    """

    gates = 4

    def reset_parameters(self):
        H = self.hidden_size
        nn.init.orthogonal_(self.weight_ih_l0)
        nn.init.eye_(self.weight_hh_l0)
        for bias in (self.bias_ih_l0, self.bias_hh_l0):
            nn.init.zeros_(bias)
            nn.init.constant_(bias[H:2 * H], self.config.fg_init)

    def _hidden(self, state):
        return state[0]

    def initial_state(self, batch, like):
        zeros = like.new_zeros(batch, self.hidden_size)
        return (zeros, zeros)

    def update(self, z, state):
        i, f, g, o = z.chunk(4, dim=1)  # each (B, H)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return (h, c)


@register_core("gru")
class GRUCell(_TorchNamed):
    """GRU as torch.nn.GRU (gates r, z, n), with a_t in place of the input pre-activation. State: h (B, H).

    Not additive: the candidate n = tanh(a_n + r * (W_hn h + b_hn)) scales the recurrent term
    by the reset gate, so the paper-form NAG (which replaces the whole sum) does not apply.
    """

    gates = 3
    additive = False

    def step(self, a, state):
        h = state
        a_r, a_z, a_n = a.chunk(3, dim=1)  # each (B, H)
        h_r, h_z, h_n = F.linear(h, self.weight_hh_l0, self.bias_hh_l0).chunk(3, dim=1)
        r = torch.sigmoid(a_r + h_r)
        z = torch.sigmoid(a_z + h_z)
        n = torch.tanh(a_n + r * h_n)
        return (1.0 - z) * n + z * h
