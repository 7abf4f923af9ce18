"""impl="auto" against the reference cells: outputs, final state and every gradient, every family."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from cells import CellConfig, build_cell

CORES = ("rnn", "lstm", "gru", "orthogonal", "unitary", "urnn", "enrnn", "cornn", "unicornn")
DYNAMICS = (("plain", {}), ("momentum", {"mu": 0.7, "s": 0.8}), ("adam", {"mu": 0.6, "s": 0.9, "beta": 0.3}),
            ("rmsprop", {"s": 0.7, "beta": 0.2}), ("nag_restart", {"restart": 5}),
            ("nag_restart", {"restart": 0, "s": 0.9}))
EXTRA = {"orthogonal": [{"param": "exp"}, {"param": "cayley"}, {"param": "svd"}],
         "unicornn": [{"layers": 2}]}
TOL = {torch.float64: 1e-5, torch.float32: 1e-4}


def _cases():
    for core in CORES:
        for dyn, kw in DYNAMICS:
            for extra in EXTRA.get(core, [{}]):
                yield pytest.param(core, dyn, {**kw, **extra}, id=f"{dyn}-{core}-{'-'.join(map(str, {**kw, **extra}.values()))}")
    yield pytest.param("lstm", "nag_restart", {"restart": 3, "nag_form": "paper"}, id="nag_paper-lstm")


def rel(a, b):
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-30))


def _leaves(state):
    return [t for t in torch.utils._pytree.tree_leaves(state) if isinstance(t, torch.Tensor)]


def _run(cell, x, w):
    out, state = cell(x)
    loss = (out * w).sum() + sum((s * 0.5).sum() for s in _leaves(state.core))
    params = [x] + list(cell.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return out, state, grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("core,dynamics,kwargs", list(_cases()))
def test_auto_matches_reference(core, dynamics, kwargs, dtype):
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=3, hidden_size=6, **kwargs)
    ref = build_cell(cfg, impl="reference").to(dtype)
    fast = build_cell(cfg, impl="auto").to(dtype)
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(4, 70, 3, dtype=dtype, requires_grad=True)  # 70 > one 64-step chunk
    w = torch.randn(4, 70, ref.output_size, dtype=dtype)
    o1, s1, g1 = _run(ref, x, w)
    o2, s2, g2 = _run(fast, x, w)
    expected = "reference" if kwargs.get("nag_form") == "paper" else (
        "fused-rnn" if core in ("rnn", "lstm", "gru") else "hoisted")
    assert fast.fast_path == expected
    tol = TOL[dtype]
    assert rel(o2, o1) < tol
    assert s2.t == s1.t == 70
    for a, b in zip(_leaves(s2.core) + _leaves(s2.dynamics), _leaves(s1.core) + _leaves(s1.dynamics)):
        assert rel(a, b) < tol
    names = ["x"] + [n for n, _ in fast.named_parameters()]
    for name, a, b in zip(names, g2, g1):
        assert (a is None) == (b is None), name
        if b is not None and b.norm() > 0:
            assert rel(a, b) < tol, name


def test_auto_keeps_the_reference_interface():
    cfg = CellConfig(core="lstm", dynamics="momentum", input_size=1, hidden_size=8)
    ref, fast = build_cell(cfg, impl="reference"), build_cell(cfg, impl="auto")
    assert isinstance(fast, type(ref))
    assert list(fast.state_dict()) == list(ref.state_dict())
    assert fast.config == cfg and fast.output_size == ref.output_size
    buf = io.BytesIO()
    torch.save(fast, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=False)
    x = torch.rand(2, 9, 1)
    assert torch.allclose(again(x)[0], fast(x)[0])
    assert again.fast_path == "fused-rnn" and copy.deepcopy(fast)(x)[0].shape == (2, 9, 8)


def test_auto_with_a_carried_state_runs_the_reference_loop():
    torch.manual_seed(1)
    cfg = CellConfig(core="lstm", dynamics="momentum", input_size=2, hidden_size=5)
    ref = build_cell(cfg, impl="reference").double()
    fast = build_cell(cfg, impl="auto").double()
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(3, 20, 2, dtype=torch.float64)
    _, s_fast = fast(x[:, :12])
    out_fast, _ = fast(x[:, 12:], s_fast)  # second call with the first call's state
    assert fast.fast_path == "reference"
    out_ref, _ = ref(x)
    assert rel(out_fast, out_ref[:, 12:]) < 1e-10


def test_auto_without_grad_and_in_eval_mode():
    cfg = CellConfig(core="gru", dynamics="adam", input_size=1, hidden_size=4)
    cell = build_cell(cfg, impl="auto").eval()
    with torch.no_grad():
        out, _ = cell(torch.rand(2, 10, 1))
    assert out.shape == (2, 10, 4) and torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("dynamics,kwargs", [("plain", {}), ("momentum", {"mu": 0.7, "s": 0.8}),
                                             ("adam", {"mu": 0.6, "s": 0.9, "beta": 0.3}),
                                             ("nag_restart", {"restart": 5})])
def test_auto_matches_reference_with_unicornn_dropout_in_training(dynamics, kwargs, dtype):
    """The time-shared masks come from one place (`between_layers`), drawn in layer order: the
    same torch seed gives auto and reference the same masks, so the same outputs and gradients."""
    torch.manual_seed(0)
    cfg = CellConfig(core="unicornn", dynamics=dynamics, input_size=3, hidden_size=6, layers=3, dropout=0.5,
                     **kwargs)
    ref = build_cell(cfg, impl="reference").to(dtype)
    fast = build_cell(cfg, impl="auto").to(dtype)
    fast.load_state_dict(ref.state_dict())
    assert ref.training and fast.training
    x = torch.rand(4, 70, 3, dtype=dtype, requires_grad=True)
    w = torch.randn(4, 70, ref.output_size, dtype=dtype)
    torch.manual_seed(11)
    o1, s1, g1 = _run(ref, x, w)
    torch.manual_seed(11)
    o2, s2, g2 = _run(fast, x, w)
    assert fast.fast_path == "hoisted"
    with torch.no_grad():
        undropped = ref.eval()(x)[0]
    assert rel(o1, undropped) > 1e-2  # the masks did act
    tol = TOL[dtype]
    assert rel(o2, o1) < tol
    for a, b in zip(_leaves(s2.core) + _leaves(s2.dynamics), _leaves(s1.core) + _leaves(s1.dynamics)):
        assert rel(a, b) < tol
    names = ["x"] + [n for n, _ in fast.named_parameters()]
    for name, a, b in zip(names, g2, g1):
        assert (a is None) == (b is None), name
        if b is not None and b.norm() > 0:
            assert rel(a, b) < tol, name


def test_auto_unicornn_dropout_is_off_in_eval_mode():
    cfg = CellConfig(core="unicornn", dynamics="momentum", input_size=2, hidden_size=6, layers=2, dropout=0.5)
    fast = build_cell(cfg, impl="auto").double().eval()
    plain = build_cell(CellConfig(**{**cfg.to_dict(), "dropout": 0.0}), impl="auto").double()
    plain.load_state_dict(fast.state_dict())
    x = torch.rand(3, 9, 2, dtype=torch.float64)
    rng = torch.get_rng_state()
    out = fast(x)[0]
    assert torch.equal(torch.get_rng_state(), rng) and fast.fast_path == "hoisted"
    assert torch.equal(out, plain(x)[0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize("core", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dynamics,kwargs", [("adam", {"mu": 0.6, "s": 0.9, "beta": 0.3}),
                                             ("rmsprop", {"s": 0.7, "beta": 0.2})])
def test_fused_rnn_adam_short_sequences_and_filter_state_gradient(core, dynamics, kwargs, T, dtype):
    """adam / rmsprop through the fused RNN operator (the torch scans on the CPU) at T = 1 and 7,
    the final filter state (v_T, r_T) in the loss as well, so its gradient path is checked."""
    torch.manual_seed(3)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=5, **kwargs)
    ref = build_cell(cfg, impl="reference").to(dtype)
    fast = build_cell(cfg, impl="auto").to(dtype)
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(3, T, 2, dtype=dtype, requires_grad=True)
    w = torch.randn(3, T, 5, dtype=dtype)
    res = []
    for cell in (ref, fast):
        out, state = cell(x)
        leaves = _leaves(state.core) + _leaves(state.dynamics)
        loss = (out * w).sum() + sum((s * (0.5 + i)).sum() for i, s in enumerate(leaves))
        res.append((out, state, leaves, torch.autograd.grad(loss, [x] + list(cell.parameters()))))
    (o1, s1, l1, g1), (o2, s2, l2, g2) = res
    assert fast.fast_path == "fused-rnn"
    assert o2.shape == o1.shape and s2.t == T
    assert [t.shape for t in l2] == [t.shape for t in l1] and len(_leaves(s2.dynamics)) == 2  # v_T, r_T (B, G)
    tol = TOL[dtype]
    assert rel(o2, o1) < tol
    for a, b in zip(l2, l1):
        assert rel(a, b) < tol
    names = ["x"] + [n for n, _ in fast.named_parameters()]
    for name, a, b in zip(names, g2, g1):
        assert rel(a, b) < tol, name


@pytest.mark.parametrize("dynamics", ["plain", "momentum", "adam", "rmsprop"])
def test_fused_rnn_runs_the_operator_time_major(dynamics, monkeypatch):
    """The fused operator gets a (T, B, features) input with batch_first=False (no transpose of
    adam's wide stream inside it) and the output comes back as a (B, T, H) view of its result."""
    calls = []
    lstm = torch._VF.lstm

    def spy(inp, hx, weights, **flags):  # the flags come by name (has_biases, ..., batch_first)
        calls.append((tuple(inp.shape), flags["batch_first"]))
        return lstm(inp, hx, weights, **flags)

    monkeypatch.setattr(torch._VF, "lstm", spy)
    cell = build_cell(CellConfig(core="lstm", dynamics=dynamics, input_size=2, hidden_size=5), impl="auto")
    out, _ = cell(torch.rand(3, 7, 2))
    width = {"plain": 2, "momentum": 3}.get(dynamics, 20)  # x, [x~, c~], or the filtered g (4H)
    assert calls == [((7, 3, width), False)]
    assert out.shape == (3, 7, 5) and out.transpose(0, 1).is_contiguous()
