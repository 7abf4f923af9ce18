"""The Triton time-loop kernels on the CPU through TRITON_INTERPRET=1, at tiny sizes.

The interpreter is switched on for this module only (the kernels are imported under it);
`auto` then takes its "triton" path for float32 tensors on the CPU, exactly as on CUDA.
Sizes are chosen to hit the masks: H not a power of two, B not a multiple of 16.
"""

from __future__ import annotations

import os
import sys

import pytest

if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
    # Triton reads the switch once: kernels decorated here would not be interpreted, and the
    # tests would fail with "Cannot call @triton.jit'd outside of the scope of a kernel".
    pytest.fail("triton was imported before tests/fast/test_triton_interpret.py (by a test module's imports, "
                "e.g. torch._dynamo): import it inside that module's tests instead", pytrace=False)
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


def _assert_triton_matches_reference(cfg: CellConfig, state_in_loss: bool = False) -> None:
    """`auto` (float32) takes the Triton path for cfg and matches the float64 reference within
    1e-4 on a (17, 6, 1) input: outputs, and the gradients of a random weighting of them (plus
    the final core state's sum, `state_in_loss`) with respect to the input and every parameter."""
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ref.state_dict().items()})
    x = torch.rand(17, 6, 1, dtype=torch.float64)
    x32, x64 = x.float().requires_grad_(), x.clone().requires_grad_()
    out, state = fast(x32)
    assert fast.fast_path == "triton"
    out64, state64 = ref(x64)
    w = torch.randn_like(out64)
    loss, loss64 = (out * w.float()).sum(), (out64 * w).sum()
    if state_in_loss:
        loss = loss + sum(s.sum() for s in _leaves(state.core))
        loss64 = loss64 + sum(s.sum() for s in _leaves(state64.core))
    g = torch.autograd.grad(loss, [x32] + list(fast.parameters()))
    g64 = torch.autograd.grad(loss64, [x64] + list(ref.parameters()))
    assert rel(out, out64) < 1e-4
    for a, b in zip(g, g64):
        assert rel(a, b) < 1e-4


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
    _assert_triton_matches_reference(CellConfig(core=core, dynamics="momentum", input_size=1, hidden_size=H))


@pytest.mark.parametrize("core,H,ways,kwargs", [
    ("unitary", 40, 2, {}), ("unitary", 40, 4, {}), ("urnn", 20, 2, {}), ("orthogonal", 40, 4, {}),
    ("enrnn", 20, 2, {}), ("lstm", 40, 2, {"dynamics": "nag_restart", "nag_form": "paper", "restart": 4})])
def test_split_kernels(core, H, ways, kwargs, monkeypatch):
    """Each step shared by `ways` programs, each owning a slice of the state's columns (the
    last one masked: 40 in slices of 32 or 16); the interpreter runs them a launch per step."""
    from cells.fast import _triton

    monkeypatch.setitem(_triton.OVERRIDES, "split", ways)
    torch.manual_seed(0)
    _assert_triton_matches_reference(CellConfig(core=core, input_size=1, hidden_size=H,
                                                **{"dynamics": "momentum", **kwargs}), state_in_loss=True)


@pytest.mark.parametrize("core,ways", [("unitary", 2), ("urnn", 4)])
def test_split_complex_kernel_reading_its_weights_each_step(core, ways, monkeypatch):
    """The complex split kernel with its weight slices read from memory in 16-row blocks each
    step (how it runs where they would not fit in registers): 40 columns padded to 64, so the
    last block is partly masked."""
    from cells.fast import _triton

    monkeypatch.setitem(_triton.OVERRIDES, "split", ways)
    monkeypatch.setitem(_triton.OVERRIDES, "stream_k", 16)
    torch.manual_seed(0)
    _assert_triton_matches_reference(CellConfig(core=core, dynamics="momentum", input_size=1, hidden_size=40),
                                     state_in_loss=True)


def test_split_kernel_barrier_in_one_launch():
    """One program per batch tile through the barrier path (one launch, SYNC): the count each
    tile's barrier reached is its number of steps, and the states match the one-program kernel."""
    from cells.fast import _triton, triton_cmodrelu as cm

    torch.manual_seed(0)
    B, T, H = 18, 5, 24
    M = cm.real_form(torch.linalg.qr(torch.randn(H, H, dtype=torch.complex64))[0])
    a, bias, h0 = torch.randn(B, T, 2 * H), 0.01 * torch.randn(H), torch.randn(B, 2 * H)
    Hs, P = torch.empty(B, T + 1, 2 * H), torch.empty(B, T, 2 * H)
    Hs[:, 0] = h0
    count = torch.zeros(2, dtype=torch.int32)
    cm._cmodrelu_fwd_split[(1, 2)](a, M, bias, Hs, P, B, T, H, cm.EPS, count, 0, T, BB=16, HP=32, HS=32, BK=32, SYNC=True,
                                   PREC="ieee")
    assert count.tolist() == [T, T]
    assert rel(Hs, cm.cmodrelu_fwd(a, M, bias, h0)[0]) < 1e-6


@pytest.mark.parametrize("dynamics", ["plain", "momentum", "adam", "rmsprop"])
def test_wide_lstm_runs_the_triton_lstm_kernel(dynamics, monkeypatch):
    """From `LSTM_KERNEL_MIN_H` units (lowered here to 16) the LSTM families run the Triton
    LSTM kernel instead of the fused RNN operator, on the same filtered stream: outputs,
    final state (core and filter) and gradients match the fused operator's. (Against a
    float64 loop, both are off by the float32 conditioning of Adam's 1 / sqrt(r), up to 1e-3.)"""
    from cells.fast import auto

    torch.manual_seed(0)
    cfg = CellConfig(core="lstm", dynamics=dynamics, input_size=2, hidden_size=20)
    cell = build_cell(cfg, impl="auto")
    x = torch.rand(18, 9, 2)
    res = {}
    for min_h in (10_000, 16):
        monkeypatch.setattr(auto, "LSTM_KERNEL_MIN_H", min_h)
        xx = x.clone().requires_grad_()
        out, state = cell(xx)
        w = torch.linspace(-1, 1, out.numel()).view_as(out)
        leaves = _leaves(state.core) + _leaves(state.dynamics)
        loss = (out * w).sum() + sum(s.sum() for s in leaves)
        res[cell.fast_path] = [out] + leaves + list(torch.autograd.grad(loss, [xx] + list(cell.parameters())))
    assert set(res) == {"fused-rnn", "triton"}
    for a, b in zip(res["triton"], res["fused-rnn"]):
        assert rel(a, b) < 1e-5


@pytest.mark.parametrize("T", [1, 7, 11])
@pytest.mark.parametrize("core,dynamics", [("lstm", "adam"), ("lstm", "rmsprop"), ("gru", "adam"), ("gru", "rmsprop"),
                                           ("rnn", "adam"), ("rnn", "rmsprop"), ("cornn", "adam")])
def test_adam_filter_kernel(core, dynamics, T):
    """The one-pass Adam / RMSProp filter, inside the fused-rnn path (time-major stream) and a
    kernel path (cornn: batch-major stream), T not a multiple of the kernels' UNROLL; the final
    filter state (v_T, r_T) is in the loss so its gradient path is exercised too."""
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=8, beta=0.4)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x = torch.rand(5, T, 2, dtype=torch.float64)
    x32, x64 = x.float().requires_grad_(), x.clone().requires_grad_()
    outs = []
    for cell, xx in ((fast, x32), (ref, x64)):
        out, state = cell(xx)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum() + \
            sum(s.sum() for s in _leaves(state.core) + _leaves(state.dynamics))
        outs.append((out, _leaves(state.core) + _leaves(state.dynamics),
                     torch.autograd.grad(loss, [xx] + list(cell.parameters()))))
    assert fast.fast_path == ("triton" if core == "cornn" else "fused-rnn")
    (o, d, g), (o64, d64, g64) = outs
    assert len(d) == len(d64) and [t.shape for t in d] == [t.shape for t in d64]
    assert rel(o, o64) < 1e-4
    for a, b in zip(d + list(g), d64 + list(g64)):
        assert rel(a, b) < 1e-4


def _adam_stream(T, B, F, layout):
    """A float64 g (T, B, F): time-major, or a batch-major tensor seen through its transpose."""
    if layout == "batch-major":
        return torch.randn(B, T, F, dtype=torch.float64).transpose(0, 1)
    return torch.randn(T, B, F, dtype=torch.float64)


@pytest.mark.parametrize("layout", ["time-major", "batch-major"])
@pytest.mark.parametrize("T", [1, 4, 7, 9])
@pytest.mark.parametrize("mu", [0.6, 0.0])
def test_adam_filter_op_matches_the_torch_scans(T, mu, layout):
    """The op alone, in float32, against float64: a and the final (v_T, r_T) against the torch
    scans of `hoist.hoisted` (the CPU path), the whole v and r against the dynamics' own step
    loop; dL/dg with and without gradients arriving on v and r. B * F = 300 spans two
    programs, the second one masked. a, v, r and dL/dg come back in g's layout. eps = 0.01,
    not the cells' 1e-16: at T = 1, a = s g / sqrt((1 - beta) g^2 + 1e-16) is flat in g, and
    dL/dg only float32 rounding, nothing to compare."""
    from cells.dynamics import Adam
    from cells.fast import hoist

    class Damped(Adam):
        eps = 0.01

    torch.manual_seed(T)
    dyn = Damped(mu=mu, s=0.9, beta=0.3)
    consts = (dyn.mu, dyn.s, dyn.beta, dyn.eps)
    g64 = _adam_stream(T, 6, 50, layout)
    wa, wv, wr = (torch.randn_like(g64) for _ in range(3))
    for on_vr in ("none", "final", "all"):
        g = g64.float().requires_grad_()
        a, v, r = triton_adam.adam_filter(g, *consts)
        assert a.stride() == v.stride() == r.stride() == g.stride()
        gd = g64.clone().requires_grad_()
        ad, (vT, rT) = hoist.hoisted(dyn, gd.transpose(0, 1))  # the torch scans, (B, T, F)
        ad = ad.transpose(0, 1)
        state, vs, rs = (torch.zeros_like(gd[0]), torch.zeros_like(gd[0])), [], []
        for t in range(T):
            _, state = dyn.step(gd[t], state, t)
            vs.append(state[0])
            rs.append(state[1])
        vd, rd = torch.stack(vs), torch.stack(rs)
        loss, loss64 = (a * wa.float()).sum(), (ad * wa).sum()
        if on_vr == "final":
            loss = loss + (v[-1] * wv[-1].float()).sum() + (r[-1] * wr[-1].float()).sum()
            loss64 = loss64 + (vT * wv[-1]).sum() + (rT * wr[-1]).sum()
        elif on_vr == "all":
            loss = loss + (v * wv.float()).sum() + (r * wr.float()).sum()
            loss64 = loss64 + (vd * wv).sum() + (rd * wr).sum()
        dg, = torch.autograd.grad(loss, g)
        dg64, = torch.autograd.grad(loss64, gd)
        assert dg.stride() == g.stride()
        assert rel(vd[-1], vT) < 1e-12 and rel(rd[-1], rT) < 1e-12
        for got, want in ((a, ad), (v, vd), (r, rd), (dg, dg64)):
            assert rel(got, want) < 1e-5


@pytest.mark.parametrize("T", [1, 5, 8])
def test_adam_filter_unroll_is_bit_identical(T, monkeypatch):
    """Loading UNROLL steps ahead changes no arithmetic: UNROLL = 4 and 3 give exactly the bits
    of one step at a time, forward and backward (v, r gradients included)."""
    torch.manual_seed(1)
    g = torch.randn(T, 3, 40)
    dA, dV, dR = torch.randn_like(g), torch.randn_like(g), torch.randn_like(g)
    results = []
    for unroll in (1, 3, 4):
        monkeypatch.setattr(triton_adam, "UNROLL", unroll)
        a, v, r = triton_adam.adam_filter(g, 0.7, 0.9, 0.4, 1e-8)
        results.append((a, v, r, triton_adam.adam_filter_bwd(dA, dV, dR, g, v, r, 0.7, 0.9, 0.4, 1e-8, True),
                        triton_adam.adam_filter_bwd(dA, dV, dR, g, v, r, 0.7, 0.9, 0.4, 1e-8, False)))
    for other in results[1:]:
        for x, y in zip(other, results[0]):
            assert torch.equal(x, y)


@pytest.mark.parametrize("layout", ["time-major", "batch-major"])
def test_adam_filter_op_schema_and_fake_tensors(layout):
    """The fake (meta) outputs have the real ones' shapes and strides, in both layouts."""
    g = _adam_stream(5, 4, 6, layout).float()
    args = (g, 0.6, 0.9, 0.3, 1e-8)
    torch.library.opcheck(torch.ops.momnas.adam_filter.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))
    a, v, r = triton_adam.adam_filter(*args)
    torch.library.opcheck(torch.ops.momnas.adam_filter_bwd.default, (a, v, r, g, v, r, 0.6, 0.9, 0.3, 1e-8, True),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("I", [1, 2, 4])
@pytest.mark.parametrize("T", [1, 5, 9])
def test_adam_filter_from_input_is_the_filter_of_the_projection(I, T):
    """`adam_filter_x` makes g = x W^T + b in the kernel: a, v, r and dL/dW, dL/db equal the
    projection's then `adam_filter`'s (to float32 rounding), with and without gradients on
    v and r, for x seen through a strided view and B * F = 150 in one masked program."""
    torch.manual_seed(10 * I + T)
    B, F = 3, 50
    x = torch.rand(B, T + 2, I)[:, 1:T + 1]
    W, b = torch.randn(F, I, requires_grad=True), torch.randn(F, requires_grad=True)
    consts = (0.6, 0.9, 0.3, 0.01)
    wa, wv, wr = (torch.randn(T, B, F) for _ in range(3))
    for on_vr in ("none", "final", "all"):
        got, want = [], []
        for made_in_kernel in (True, False):
            if made_in_kernel:
                a, v, r = triton_adam.adam_filter_x(x, W, b, *consts)
            else:
                g = torch.addmm(b, x.transpose(0, 1).reshape(T * B, I), W.t()).view(T, B, F)
                a, v, r = triton_adam.adam_filter(g, *consts)
            loss = (a * wa).sum()
            if on_vr == "final":
                loss = loss + (v[-1] * wv[-1]).sum() + (r[-1] * wr[-1]).sum()
            elif on_vr == "all":
                loss = loss + (v * wv).sum() + (r * wr).sum()
            (got if made_in_kernel else want).extend([a, v, r, *torch.autograd.grad(loss, [W, b])])
        assert got[0].shape == (T, B, F) and got[0].is_contiguous()
        for mine, theirs in zip(got, want):
            assert rel(mine, theirs) < 1e-5


@pytest.mark.parametrize("core,dynamics", [("lstm", "adam"), ("lstm", "rmsprop"), ("gru", "adam")])
def test_adam_cells_on_data_make_g_in_the_kernel(core, dynamics, monkeypatch):
    """A fused-rnn cell fed data (x needs no gradient, I <= 4) takes the from-input kernel, and
    its output, final state and every parameter's gradient match the float64 reference."""
    calls = []
    op = triton_adam.adam_filter_x
    monkeypatch.setattr(triton_adam, "adam_filter_x", lambda *a: calls.append(a[0].shape) or op(*a))
    torch.manual_seed(3)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=8, beta=0.4)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x = torch.rand(5, 9, 2, dtype=torch.float64)
    res = []
    for cell, xx in ((fast, x.float()), (ref, x)):
        out, state = cell(xx)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum() + \
            sum(s.sum() for s in _leaves(state.core) + _leaves(state.dynamics))
        res.append([out, *_leaves(state.core), *_leaves(state.dynamics), *torch.autograd.grad(loss, list(cell.parameters()))])
    assert calls == [(5, 9, 2)] and fast.fast_path == "fused-rnn"
    for mine, theirs in zip(*res):
        assert rel(mine, theirs) < 1e-4


def test_adam_filter_from_input_schema_and_fake_tensors():
    x, W, b = torch.rand(4, 5, 2), torch.randn(6, 2), torch.randn(6)
    args = (x, W, b, 0.6, 0.9, 0.3, 1e-8)
    torch.library.opcheck(torch.ops.momnas.adam_filter_x.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))
    a, v, r = triton_adam.adam_filter_x(*args)
    torch.library.opcheck(torch.ops.momnas.adam_filter_x_bwd.default,
                          (a, v, r, x, W, b, v, r, 0.6, 0.9, 0.3, 1e-8, True), test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("core,layout", [("lstm", "time-major"), ("cornn", "batch-major")])
def test_adam_stream_reaches_the_kernel_without_a_copy(core, layout, monkeypatch):
    """fused-rnn hands the kernel a time-major g, the other kernel paths their batch-major g
    through a transposed view; neither the forward nor the backward copies it into the other
    layout, and with the filter state out of the loss no zero gradients for v, r are made."""
    seen, copies, dvr = [], [], []
    op, bwd, in_layout = triton_adam.adam_filter, triton_adam.adam_filter_bwd, triton_adam._in_layout
    monkeypatch.setattr(triton_adam, "adam_filter", lambda g, *c: seen.append(g) or op(g, *c))
    monkeypatch.setattr(triton_adam, "adam_filter_bwd", lambda *a: dvr.append(a[-1]) or bwd(*a))
    monkeypatch.setattr(triton_adam, "_in_layout",
                        lambda t, like: copies.append(t.stride() != like.stride()) or in_layout(t, like))
    cell = build_cell(CellConfig(core=core, dynamics="adam", input_size=2, hidden_size=8), impl="auto")
    out, _ = cell(torch.rand(5, 7, 2, requires_grad=True))
    out.sum().backward()
    (g,) = seen
    assert g.shape == (7, 5, 32 if core == "lstm" else 8)
    assert g.is_contiguous() if layout == "time-major" else g.transpose(0, 1).is_contiguous()
    assert dvr == [False]
    assert copies and not any(copies)


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


@pytest.mark.parametrize("core,kwargs", [("cornn", {}), ("orthogonal", {}), ("unitary", {}),
                                         ("lstm", {"dynamics": "nag_restart", "nag_form": "paper", "restart": 3})])
def test_tile_override_reaches_every_tiled_kernel(core, kwargs, monkeypatch):
    """benchmarks/gpu_check.py sweeps `_triton.OVERRIDES["tile"]`: a tile of 16 instead of 64
    sums H = 40 in three pieces instead of one, so the float32 bits change, and the result
    still matches the float64 reference."""
    from cells.fast import _triton

    monkeypatch.setattr(triton_cornn, "RESIDENT_MAX", 0)
    monkeypatch.setattr(triton_modrelu, "RESIDENT_MAX", 0)
    monkeypatch.setattr(triton_cmodrelu, "MAX_H", 0)
    torch.manual_seed(0)
    cfg = CellConfig(core=core, input_size=1, hidden_size=40, **{"dynamics": "momentum", **kwargs})
    ref = build_cell(cfg, impl="reference").double()
    with torch.no_grad():  # dense recurrent matrices (the orthogonal init is block-diagonal)
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    fast = build_cell(cfg, impl="auto")
    fast.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ref.state_dict().items()})
    x = torch.rand(5, 6, 1, dtype=torch.float64)
    outputs = {}
    for tile in (None, 16):
        monkeypatch.setitem(_triton.OVERRIDES, "tile", tile)
        outputs[tile] = fast(x.float())[0]
        assert fast.fast_path == "triton"
    assert not torch.equal(outputs[None], outputs[16])
    out64 = ref(x)[0]
    assert rel(outputs[16], out64) < 1e-4 and rel(outputs[None], out64) < 1e-4


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
