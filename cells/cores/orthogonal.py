"""Norm-preserving cores: orthogonal (expRNN / DTRIV / scoRNN / svd), unitary (scuRNN), urnn, enrnn.

All use modReLU and an input projection without bias (`weight_ih`, kaiming-normal as expRNN);
the recurrent matrix is constrained by a parametrization (`cells.manifolds`), so the
cell code is plain PyTorch: `pre = a_t + h_{t-1} @ weight_hh`. The free tensors behind the
constrained matrices are the "orthogonal" group of `parameter_groups` (smaller learning rate).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import manifolds as P
from ..cell import Cell
from ..registry import register_core

__all__ = ["OrthogonalCell", "ComplexCell", "ENRNNCell", "modrelu", "complex_modrelu"]


def modrelu(z: Tensor, b: Tensor) -> Tensor:
    """sign(z) relu(|z| + b), elementwise (real)."""
    return torch.sign(z) * F.relu(z.abs() + b)


def complex_modrelu(z: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    """z relu(|z| + b) / (|z| + eps) for complex z (scuRNN)."""
    modulus = z.abs()
    return z * (F.relu(modulus + b) / (modulus + eps))


class _ModReLUCell(Cell):
    """Shared: `weight_ih` (G, I) without bias, `modrelu_bias` ~ U(-0.01, 0.01), state h (B, G)."""

    def _input_and_bias(self, gate_size: int, bias_size: int):
        self.gate_size = gate_size
        self.weight_ih = nn.Parameter(torch.empty(gate_size, self.input_size))
        self.modrelu_bias = nn.Parameter(torch.empty(bias_size))

    def _reset_input_and_bias(self):
        nn.init.kaiming_normal_(self.weight_ih, nonlinearity="relu")
        nn.init.uniform_(self.modrelu_bias, -0.01, 0.01)

    def project(self, x):
        return F.linear(x, self.weight_ih)  # (B, T, G)

    def initial_state(self, batch, like):
        return like.new_zeros(batch, self.gate_size)

    def output(self, state):
        return state


@register_core("orthogonal")
class OrthogonalCell(_ModReLUCell):
    """h_t = modReLU(a_t + h_{t-1} @ weight_hh), weight_hh (H, H) orthogonal.

    `param` picks the parametrization: exp (expRNN, DTRIV re-basing every K optimizer steps
    through `after_optimizer_step`), cayley (scoRNN, D with `n_neg` entries -1), svd
    (singular values in [1 - m, 1 + m]). Init: the skew generator from 2x2 blocks (`init`).
    """

    def __init__(self, config):
        super().__init__(config)
        H = config.hidden_size
        self._input_and_bias(H, H)
        self.weight_hh = nn.Parameter(torch.diag(P.signs(H, config.n_neg)))  # a start every param can invert
        P.orthogonal_(self, "weight_hh", config.param, K=config.K, n_neg=config.n_neg, m=config.m)
        self.reset_parameters()

    def reset_parameters(self):
        self._reset_input_and_bias()
        P.initialize_(self, "weight_hh", P.skew_init(self.hidden_size, self.config.init))

    def recurrent(self, h):
        return h @ self.weight_hh  # (B, H)

    def update(self, z, h):
        return modrelu(z, self.modrelu_bias)


@register_core("unitary", "urnn")
class ComplexCell(_ModReLUCell):
    """Complex state h (B, H) stored as [Re, Im] (B, 2H); h_t = modReLU(a_t + h_{t-1} @ W), W unitary.

    core "unitary" (scuRNN): W = (I + A)^-1 (I - A) diag(e^{i theta}), theta trained;
    core "urnn" (Arjovsky): W = D3 R2 F^-1 D2 Pi R1 F D1. `weight_ih` (2H, I) gives a_t = [Re, Im];
    `h0` (2H,) is the trained initial state, U(-sqrt(3 / 2H), sqrt(3 / 2H)).
    """

    def __init__(self, config):
        super().__init__(config)
        H = config.hidden_size
        self.output_size = 2 * H
        self._input_and_bias(2 * H, H)
        self.h0 = nn.Parameter(torch.empty(2 * H))
        if config.core == "urnn":
            self.weight_hh = nn.Parameter(torch.empty(7 * H))
            P.unitary_(self, "weight_hh", "urnn")
        else:
            self.weight_hh = nn.Parameter(torch.empty(H, H))
            P.unitary_(self, "weight_hh", "cayley")
        self.reset_parameters()

    def reset_parameters(self):
        self._reset_input_and_bias()
        bound = math.sqrt(3.0 / (2 * self.hidden_size))
        nn.init.uniform_(self.h0, -bound, bound)
        init = self.config.init if self.config.core == "unitary" else None
        P.initialize_(self, "weight_hh", None if init is None else P.skew_init(self.hidden_size, init))

    def initial_state(self, batch, like):
        return self.h0.to(like.dtype).expand(batch, -1)

    def _complex(self, h: Tensor) -> Tensor:
        H = self.hidden_size
        return torch.complex(h[:, :H], h[:, H:])  # (B, H) complex

    def recurrent(self, h):
        r = self._complex(h) @ self.weight_hh
        return torch.cat([r.real, r.imag], dim=1)  # (B, 2H)

    def update(self, z, h):
        out = complex_modrelu(self._complex(z), self.modrelu_bias)
        return torch.cat([out.real, out.imag], dim=1)


@register_core("enrnn")
class ENRNNCell(_ModReLUCell):
    """Eigenvalue-normalised RNN (Helfrich & Ye 2020): state [h1 (n1); h2 (n2)].

    pre = a_t + [h1 @ W1 + h2 @ W3 ; h2 @ W2n], h_t = modReLU(pre). W1 = `weight_hh1` (n1, n1)
    scoRNN-orthogonal (Cayley, `n_neg`, cayley init); W2 = `weight_hh2` (n2, n2) free,
    W2n = W2 / rho(W2) once rho has exceeded 1 (buffer `latched`); W3 = `weight_hh3` (n2, n1)
    free. Init: W2 ~ N(0, 1 / n2) (spectral radius about 1), W3 ~ U(+-1 / sqrt(n2)).
    """

    def __init__(self, config):
        super().__init__(config)
        n1, n2 = config.n1, config.n2
        self._input_and_bias(n1 + n2, n1 + n2)
        self.weight_hh1 = nn.Parameter(torch.diag(P.signs(n1, config.n_neg)))
        self.weight_hh2 = nn.Parameter(torch.zeros(n2, n2))
        self.weight_hh3 = nn.Parameter(torch.empty(n2, n1))
        P.orthogonal_(self, "weight_hh1", "cayley", n_neg=config.n_neg)
        P.spectral_normalize_(self, "weight_hh2")
        self.reset_parameters()

    def reset_parameters(self):
        n1, n2 = self.config.n1, self.config.n2
        self._reset_input_and_bias()
        P.initialize_(self, "weight_hh1", P.skew_init(n1, "cayley"))
        plist = self.parametrizations["weight_hh2"]
        nn.init.normal_(plist.original, 0.0, 1.0 / math.sqrt(n2))
        plist[0].latched.fill_(False)
        nn.init.uniform_(self.weight_hh3, -1.0 / math.sqrt(n2), 1.0 / math.sqrt(n2))

    def recurrent(self, h):
        n1 = self.config.n1
        h1, h2 = h[:, :n1], h[:, n1:]
        top = h1 @ self.weight_hh1 + h2 @ self.weight_hh3  # (B, n1)
        return torch.cat([top, h2 @ self.weight_hh2], dim=1)  # (B, n1 + n2)

    def update(self, z, h):
        return modrelu(z, self.modrelu_bias)
