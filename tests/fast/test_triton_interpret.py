"""The Triton time-loop kernels on the CPU through TRITON_INTERPRET=1, at tiny sizes.

The interpreter is switched on for this module only (the kernels are imported under it);
`auto` then takes its "triton" path for float32 tensors on the CPU, exactly as on CUDA.
Sizes are chosen to hit the masks: H not a power of two, B not a multiple of 16.
"""

from __future__ import annotations

import os

import pytest

_OLD = os.environ.get("TRITON_INTERPRET")
os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported: it reads the switch then
try:
    import torch

    triton = pytest.importorskip("triton")
    # imported here so that their kernels are decorated as interpreted
    from cells.fast import (triton_adam, triton_cmodrelu, triton_cornn, triton_modrelu,  # noqa: F401
                            triton_nag_lstm, triton_unicornn)
finally:  # other test modules, collected after this one, must see the CPU paths
    if _OLD is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = _OLD

from cells import CellConfig, build_cell  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def interpreter():
    os.environ["TRITON_INTERPRET"] = "1"
    yield
    if _OLD is None:  # later modules' CPU tensors go back to the CPU paths
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = _OLD


def rel(a, b):
    return float((a.double() - b.double()).detach().norm() / b.double().detach().norm().clamp_min(1e-30))


def _leaves(state):
    return [t for t in torch.utils._pytree.tree_leaves(state) if isinstance(t, torch.Tensor)]


@pytest.mark.parametrize("core,dynamics,kwargs", [
    ("cornn", "momentum", {}),
    ("cornn", "plain", {}),
    ("orthogonal", "adam", {"param": "exp"}),
    ("orthogonal", "nag_restart", {"param": "cayley", "restart": 4}),
    ("orthogonal", "plain", {"param": "svd"}),
    ("enrnn", "momentum", {}),
    ("unicornn", "rmsprop", {"layers": 2}),
    ("unitary", "momentum", {}),
    ("urnn", "plain", {}),
    ("lstm", "nag_restart", {"nag_form": "paper", "restart": 4}),
    ("lstm", "nag_restart", {"nag_form": "paper", "restart": 0, "s": 0.7}),
])
def test_auto_triton_path_matches_float64_reference(core, dynamics, kwargs):
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=20, **kwargs)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ref.state_dict().items()})
    x = torch.rand(18, 9, 2, dtype=torch.float64)
    w = torch.randn(18, 9, ref.output_size, dtype=torch.float64)
    x32 = x.float().requires_grad_()
    x64 = x.clone().requires_grad_()
    out, state = fast(x32)
    assert fast.fast_path == "triton"
    loss = (out * w.float()).sum() + sum(s.sum() for s in _leaves(state.core))
    g = torch.autograd.grad(loss, [x32] + list(fast.parameters()))
    out64, state64 = ref(x64)
    loss64 = (out64 * w).sum() + sum(s.sum() for s in _leaves(state64.core))
    g64 = torch.autograd.grad(loss64, [x64] + list(ref.parameters()))
    assert rel(out, out64) < 1e-4
    for a, b in zip(_leaves(state.core) + _leaves(state.dynamics), _leaves(state64.core) + _leaves(state64.dynamics)):
        assert rel(a, b) < 1e-4
    names = ["x"] + [n for n, _ in fast.named_parameters()]
    for name, a, b in zip(names, g, g64):
        assert rel(a, b) < 1e-4, name


def test_custom_ops_are_registered_and_opaque():
    from cells.fast.triton_cornn import cornn_sequence

    a = torch.randn(16, 5, 16)
    W = torch.randn(16, 16) / 4
    y, z = cornn_sequence(a, W, W, 0.1, 1.0, 1.0)
    assert y.shape == z.shape == (16, 5, 16)
    assert hasattr(torch.ops.momnas, "cornn_fwd") and hasattr(torch.ops.momnas, "modrelu_fwd")
    torch.library.opcheck(torch.ops.momnas.cornn_fwd.default, (a, W, W, 0.1, 1.0, 1.0),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("core,H", [("cornn", 70), ("orthogonal", 70), ("enrnn", 20), ("unitary", 40), ("urnn", 20)])
def test_tiled_kernels_for_wide_states(core, H, monkeypatch):
    """States wider than 128 stream the weights in (BB x 64) tiles: forced here at small H
    (70: two tiles, the second one masked)."""
    monkeypatch.setattr(triton_cornn, "RESIDENT_MAX", 0)
    monkeypatch.setattr(triton_modrelu, "RESIDENT_MAX", 0)
    monkeypatch.setattr(triton_cmodrelu, "MAX_H", 0)
    # Seed 0: with seed 1 one enrnn pre-activation sits within float32 rounding of modReLU's
    # kink |z| + b = 0, and the float32 *reference* is then 2e-2 off the float64 one too.
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics="momentum", input_size=1, hidden_size=H)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ref.state_dict().items()})
    x = torch.rand(17, 6, 1, dtype=torch.float64)
    x32, x64 = x.float().requires_grad_(), x.clone().requires_grad_()
    out, _ = fast(x32)
    assert fast.fast_path == "triton"
    out64, _ = ref(x64)
    w = torch.randn_like(out64)
    g = torch.autograd.grad((out * w.float()).sum(), [x32] + list(fast.parameters()))
    g64 = torch.autograd.grad((out64 * w).sum(), [x64] + list(ref.parameters()))
    assert rel(out, out64) < 1e-4
    for a, b in zip(g, g64):
        assert rel(a, b) < 1e-4


@pytest.mark.parametrize("core,dynamics", [("lstm", "adam"), ("gru", "rmsprop"), ("cornn", "adam")])
def test_adam_filter_kernel(core, dynamics):
    """The one-pass Adam / RMSProp filter, inside the fused-rnn and kernel paths, final filter
    state (v_T, r_T) included in the loss so its gradient path is exercised too."""
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=8, beta=0.4)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x = torch.rand(5, 11, 2, dtype=torch.float64)
    x32, x64 = x.float().requires_grad_(), x.clone().requires_grad_()
    outs = []
    for cell, xx in ((fast, x32), (ref, x64)):
        out, state = cell(xx)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum() + \
            sum(s.sum() for s in _leaves(state.dynamics))
        outs.append((out, _leaves(state.dynamics), torch.autograd.grad(loss, [xx] + list(cell.parameters()))))
    (o, d, g), (o64, d64, g64) = outs
    assert rel(o, o64) < 1e-4
    for a, b in zip(d + list(g), d64 + list(g64)):
        assert rel(a, b) < 1e-4


def test_paper_nag_lstm_kernel_over_several_tiles():
    """H = 70: two (16 x 64) tiles of h, five of the 4H gate rows in the backward; the final
    u (the dynamics' state) is in the loss, so dL/du_T enters the kernel too."""
    torch.manual_seed(2)
    cfg = CellConfig(core="lstm", dynamics="nag_restart", input_size=1, hidden_size=70, nag_form="paper",
                     restart=3, s=0.8)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x = torch.rand(17, 7, 1, dtype=torch.float64)
    res = []
    for cell, xx in ((fast, x.float().requires_grad_()), (ref, x.clone().requires_grad_())):
        out, state = cell(xx)
        w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        loss = (out * w).sum() + sum(s.sum() for s in _leaves(state.core) + _leaves(state.dynamics))
        res.append((out, _leaves(state.dynamics), torch.autograd.grad(loss, [xx] + list(cell.parameters()))))
    assert fast.fast_path == "triton"
    (o, d, g), (o64, d64, g64) = res
    assert rel(o, o64) < 1e-4
    for a, b in zip(d + list(g), d64 + list(g64)):
        assert rel(a, b) < 1e-4


@pytest.mark.parametrize("dynamics", ["plain", "rmsprop"])
def test_unicornn_kernel_path_with_dropout_in_training(dynamics):
    """The time-shared dropout mask multiplies each layer's kernel output y outside the kernel,
    drawn by the same `between_layers` as the reference: with the same seed, the float32 kernel
    path matches the float64 reference (the mask is drawn as float32 for both), gradients too.
    Three layers: the third layer's pre-activations are ~1e-9 here, where an exp-based tanh
    (1 - e) / (1 + e) alone cancels to nothing (it was 3e-3 off before the kernels' tanh took
    the Taylor series for small |x|)."""
    torch.manual_seed(0)
    cfg = CellConfig(core="unicornn", dynamics=dynamics, input_size=2, hidden_size=20, layers=3, dropout=0.4)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x = torch.rand(18, 9, 2, dtype=torch.float64)
    w = torch.randn(18, 9, 20, dtype=torch.float64)
    x32, x64 = x.float().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(5)
    out, state = fast(x32)
    assert fast.fast_path == "triton"
    g = torch.autograd.grad((out * w.float()).sum() + sum(s.sum() for s in _leaves(state.core)),
                            [x32] + list(fast.parameters()))
    torch.manual_seed(5)
    out64, state64 = ref(x64)
    g64 = torch.autograd.grad((out64 * w).sum() + sum(s.sum() for s in _leaves(state64.core)),
                              [x64] + list(ref.parameters()))
    with torch.no_grad():
        assert rel(out64, ref.eval()(x64)[0]) > 1e-2  # the masks did act
    assert rel(out, out64) < 1e-4
    for a, b in zip(_leaves(state.core), _leaves(state64.core)):
        assert rel(a, b) < 1e-4
    for a, b in zip(g, g64):
        assert rel(a, b) < 1e-4
