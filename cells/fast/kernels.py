"""The fused-kernel paths of `auto`: one `FastPath` per core, declared in `auto.PATHS`.

Each runs one layer (`cells.cell.LayerFn`) from the zero state: it maps the reference
cell's own parameters (under `parametrize.cached()`, so a constrained matrix is built once
per forward and autograd reaches its free tensors) onto a Triton time-loop kernel; the
dynamics' filter is hoisted before it. The Triton modules are imported inside the
functions: only when a kernel is about to run.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cells.cell import Cell

from . import hoist
from .auto import FastPath, register_path, triton_ready


def _cornn(cell: Cell, layer, x: Tensor, _state, _dyn, _t0):
    from .triton_cornn import cornn_sequence

    cfg = cell.config
    a, dyn_state = hoist.hoisted(cell.dynamics, layer.project(x))  # (B, T, H)
    y, z = cornn_sequence(a, layer.weight_hy, layer.weight_hz, cfg.dt, cfg.gamma, cfg.eps)
    return y, (y[:, -1], z[:, -1]), dyn_state


def _modrelu(cell: Cell, x: Tensor, M: Tensor):
    from .triton_modrelu import modrelu_sequence

    a, dyn_state = hoist.hoisted(cell.dynamics, cell.project(x))  # (B, T, H)
    h = modrelu_sequence(a, M, cell.modrelu_bias)
    return h, h[:, -1], dyn_state


def _orthogonal(cell: Cell, layer, x: Tensor, _state, _dyn, _t0):
    return _modrelu(cell, x, cell.weight_hh)  # pre = a + h @ B


def _enrnn(cell: Cell, layer, x: Tensor, _state, _dyn, _t0):
    # pre = a + h @ M with M = [[W1, 0], [W3, W2n]]: rows h1 (n1), h2 (n2); columns top (n1), bottom (n2)
    W1, W2, W3 = cell.weight_hh1, cell.weight_hh2, cell.weight_hh3
    n1, n2 = W1.shape[0], W2.shape[0]
    M = torch.cat([torch.cat([W1, W1.new_zeros(n1, n2)], dim=1), torch.cat([W3, W2], dim=1)], dim=0)
    return _modrelu(cell, x, M)


def _complex(cell: Cell, layer, x: Tensor, _state, _dyn, _t0):
    from .triton_cmodrelu import cmodrelu_sequence

    a, dyn_state = hoist.hoisted(cell.dynamics, cell.project(x))  # (B, T, 2H)
    h0 = cell.initial_state(x.shape[0], x)  # (B, 2H), trained
    h = cmodrelu_sequence(a, cell.weight_hh, cell.modrelu_bias, h0)
    return h, h[:, -1], dyn_state


def _unicornn(cell: Cell, layer, x: Tensor, _state, _dyn, _t0):
    from .triton_unicornn import unicornn_sequence

    cfg = cell.config
    a, dyn_state = hoist.hoisted(cell.dynamics, layer.project(x))  # (B, T, H)
    delta = cfg.dt * torch.sigmoid(layer.c)
    y, z = unicornn_sequence(a, layer.w, delta, cfg.alpha)
    return y, (y[:, -1], z[:, -1]), dyn_state


def _nag_paper_lstm(cell: Cell, layer, x: Tensor, _state, _dyn, _t0):
    from . import filters
    from .triton_nag_lstm import nag_lstm_fwd

    dyn, T = cell.dynamics, x.shape[1]
    sg = dyn.s * cell.project(x)  # (B, T, 4H): the only part that leaves the loop
    coeffs = cell.fast_constants.get(("nag_coefficients", T, dyn.restart, x.dtype, x.device),
                                     lambda: filters.nag_coefficients(T, dyn.restart, x.dtype, x.device))
    Hs, Cs, Us, _ = nag_lstm_fwd(sg, cell.weight_hh_l0, cell.bias_hh_l0, coeffs)
    return Hs[:, 1:], (Hs[:, -1], Cs[:, -1]), (Us[:, -1],)


for _core, _layer in {"cornn": _cornn, "orthogonal": _orthogonal, "enrnn": _enrnn, "unicornn": _unicornn,
                      "unitary": _complex, "urnn": _complex}.items():
    register_path(_core, FastPath("triton", _layer, triton_ready))
register_path("lstm", FastPath("triton", _nag_paper_lstm, triton_ready, paper=True))
