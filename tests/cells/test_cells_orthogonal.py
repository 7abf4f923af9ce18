"""Orthogonal, unitary, urnn and enrnn cores: the parametrizations by hand, and staying on the manifold."""

import math

import numpy as np
import pytest
import torch

from cells import CellConfig, after_optimizer_step, build_cell, parameter_groups
from cells import manifolds as P
from cells.manifolds._linalg import polar, reorthogonalize
from cells.cores.orthogonal import complex_modrelu, modrelu


def train(cell, steps=25, lr=0.05):
    """Adam steps on a random regression, with the manifold upkeep after each."""
    opt = torch.optim.Adam(cell.parameters(), lr=lr)
    x = torch.randn(4, 5, cell.input_size)
    target = torch.randn(4, 5, cell.output_size)
    for _ in range(steps):
        opt.zero_grad()
        loss = (cell(x)[0] - target).square().mean()
        loss.backward()
        opt.step()
        after_optimizer_step(cell)
    return cell


def orthogonality_error(W):
    eye = torch.eye(W.shape[0], dtype=W.dtype)
    return (W.mH @ W - eye).abs().max().item()


def test_exp_by_hand():
    A = torch.tensor([[0.0, 0.7], [0.0, 0.0]], dtype=torch.float64)
    B = P.Exp(2).double()(A)
    c, s = math.cos(0.7), math.sin(0.7)
    torch.testing.assert_close(B, torch.tensor([[c, s], [-s, c]], dtype=torch.float64))


def test_cayley_by_hand():
    a = 0.5
    A = torch.tensor([[0.0, a], [0.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1 - a * a, -2 * a], [2 * a, 1 - a * a]], dtype=torch.float64) / (1 + a * a)
    torch.testing.assert_close(P.Cayley(2).double()(A), expected)
    flipped = expected.clone()
    flipped[:, 1] *= -1  # D = diag(1, -1)
    torch.testing.assert_close(P.Cayley(2, n_neg=1)(A.to(torch.float32)).double(), flipped, atol=1e-6, rtol=0)
    # right_inverse recovers the generator
    layer = P.Cayley(2, n_neg=1).double()
    torch.testing.assert_close(P.skew(layer.right_inverse(layer(A))), P.skew(A))


def test_svd_keeps_singular_values_in_the_band():
    svd = P.SVD(3, m=0.2)
    W = svd(torch.zeros(3, 3), torch.zeros(3, 3), torch.tensor([-50.0, 0.0, 50.0]))
    torch.testing.assert_close(torch.linalg.svdvals(W), torch.tensor([1.2, 1.0, 0.8]))


def test_skew_init():
    for init in ("henaff", "cayley"):
        A = P.skew_init(5, init)
        torch.testing.assert_close(A, -A.T)
        assert torch.count_nonzero(A) <= 4  # 2x2 blocks; the odd last row stays 0
    assert torch.all(P.skew_init(6, "cayley").triu(1).diagonal(1)[::2] <= 0)  # -tan(s/2), s in (0, pi/2)
    with pytest.raises(ValueError, match="init='bad' is unknown"):
        P.skew_init(4, "bad")


def test_modrelu_by_hand():
    z = torch.tensor([-2.0, 0.5, 0.1])
    assert modrelu(z, torch.tensor(-0.3)).tolist() == pytest.approx([-1.7, 0.2, 0.0])
    zc = torch.tensor([3 + 4j, 0.1 + 0j])
    out = complex_modrelu(zc, torch.tensor([1.0, -0.5]))
    torch.testing.assert_close(out, torch.tensor([(3 + 4j) * 6 / (5 + 1e-5), 0j]))


def test_orthogonal_cell_by_hand():
    cell = build_cell(CellConfig(core="orthogonal", param="cayley", input_size=1, hidden_size=2)).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0], [-1.0]]))
        cell.modrelu_bias.fill_(-0.1)
    B = cell.weight_hh.detach()
    out, _ = cell(torch.tensor([[[0.5], [0.5]]], dtype=torch.float64))
    h1 = modrelu(torch.tensor([0.5, -0.5], dtype=torch.float64), torch.tensor(-0.1))
    h2 = modrelu(torch.tensor([0.5, -0.5], dtype=torch.float64) + h1 @ B, torch.tensor(-0.1))
    torch.testing.assert_close(out[0], torch.stack([h1, h2]))


@pytest.mark.parametrize("param,extra", [("exp", {"K": 1}), ("exp", {"K": 3}), ("exp", {"K": 0}),
                                          ("cayley", {"n_neg": 2}), ("svd", {"m": 0.0, "K": 2})])
def test_orthogonal_stays_orthogonal_through_training(param, extra):
    cell = build_cell(CellConfig(core="orthogonal", param=param, input_size=3, hidden_size=8, **extra))
    before = cell.weight_hh.detach().clone()
    train(cell)
    after = cell.weight_hh.detach()
    assert orthogonality_error(after) < 1e-5
    assert (after - before).abs().max() > 1e-3  # it did move


def test_svd_margin_through_training():
    cell = train(build_cell(CellConfig(core="orthogonal", param="svd", m=0.1, input_size=3, hidden_size=8)),
                 steps=30, lr=0.2)
    sv = torch.linalg.svdvals(cell.weight_hh.detach())
    assert torch.all(sv <= 1.1 + 1e-5) and torch.all(sv >= 0.9 - 1e-5)
    assert (sv - 1).abs().max() > 1e-3  # the margin is used


@pytest.mark.parametrize("core", ["unitary", "urnn"])
def test_unitary_stays_unitary_through_training(core):
    cell = build_cell(CellConfig(core=core, input_size=3, hidden_size=8))
    assert cell.output_size == 16
    before = cell.weight_hh.detach().clone()
    train(cell)
    W = cell.weight_hh.detach()
    assert W.is_complex() and orthogonality_error(W) < 1e-5
    assert (W - before).abs().max() > 1e-3


def test_unitary_cayley_by_hand():
    """1x1: A = i a, W = (1 - i a) / (1 + i a) e^{i theta}."""
    W = P.UnitaryCayley()(torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64))
    expected = (1 - 0.3j) / (1 + 0.3j) * complex(math.cos(0.2), math.sin(0.2))
    assert W.item() == pytest.approx(expected, abs=1e-12)


def test_urnn_is_the_published_product():
    n = 4
    urnn = P.URNN(n).double()
    packed = torch.randn(7 * n, dtype=torch.float64)
    th = packed[:3 * n].view(3, n).numpy()
    v = packed[3 * n:].view(2, 2, n).numpy()
    D = [np.diag(np.exp(1j * th[k])) for k in range(3)]
    R = [np.eye(n) - 2 * np.outer(u, u.conj()) / np.vdot(u, u).real for u in (v[0, 0] + 1j * v[0, 1], v[1, 0] + 1j * v[1, 1])]
    F = np.fft.fft(np.eye(n), axis=0, norm="ortho")
    Pi = np.eye(n)[urnn.perm.numpy()]
    W = D[2] @ R[1] @ np.linalg.inv(F) @ D[1] @ Pi @ R[0] @ F @ D[0]
    np.testing.assert_allclose(urnn(packed).numpy(), W.T, atol=1e-12)


def test_dtriv_rebases_every_K_steps_without_moving_B():
    cell = build_cell(CellConfig(core="orthogonal", param="exp", K=2, input_size=2, hidden_size=4))
    (A,) = [p for n, p in cell.named_parameters() if n.endswith("original")]
    opt = torch.optim.SGD(cell.parameters(), lr=0.1)
    x = torch.randn(2, 3, 2)
    for step in (1, 2):
        opt.zero_grad()
        cell(x)[0].sum().backward()
        opt.step()
        B_before = cell.weight_hh.detach().clone()
        after_optimizer_step(cell)
        torch.testing.assert_close(cell.weight_hh.detach(), B_before, atol=1e-6, rtol=0)
        assert (A.abs().max() == 0) == (step == 2)


def _generator(cell):
    return [p for n, p in cell.named_parameters() if n.startswith("parametrizations.weight_hh.original")]


def test_dtriv_first_rebase_comes_before_the_first_gradient():
    """DTRIV's reference code re-bases on its first forward: base = expm(A_init), A = 0, so the
    first gradient is dB/dA at A = 0 around that base, dB = base @ skew(dA). By hand on 4 units:
    grad A_ij = (base^T G)_ij - (base^T G)_ji for i < j (the chart at A_init gives another one)."""
    cell = build_cell(CellConfig(core="orthogonal", param="exp", K=0, input_size=1, hidden_size=4),
                      impl="reference").double()
    A0 = torch.zeros(4, 4, dtype=torch.float64)
    A0[0, 1], A0[2, 3] = 0.7, -1.9
    P.initialize_(cell, "weight_hh", A0 - A0.T)
    (A,) = _generator(cell)
    base = cell.parametrizations.weight_hh[0].base
    c, s, c2, s2 = math.cos(0.7), math.sin(0.7), math.cos(-1.9), math.sin(-1.9)
    by_hand = torch.tensor([[c, s, 0, 0], [-s, c, 0, 0], [0, 0, c2, s2], [0, 0, -s2, c2]], dtype=torch.float64)
    torch.testing.assert_close(base, by_hand)
    assert torch.count_nonzero(A) == 0
    torch.testing.assert_close(cell.weight_hh, by_hand)  # B = expm(A_init), unchanged by the re-base
    G = torch.randn(4, 4, dtype=torch.float64)
    (cell.weight_hh * G).sum().backward()
    M = by_hand.T @ G
    torch.testing.assert_close(A.grad, (M - M.T).triu(1))


@pytest.mark.parametrize("param", ["exp", "svd"])
@pytest.mark.parametrize("K,rebased_after", [(0, ()), (1, (1, 2, 3, 4, 5, 6)), (3, (3, 6))])
def test_dtriv_rebases_after_steps_K_2K_and_never_again_for_K0(param, K, rebased_after):
    cell = build_cell(CellConfig(core="orthogonal", param=param, K=K, input_size=2, hidden_size=4))
    generators = _generator(cell)[:2]  # exp: A; svd: A_p, A_q (not p)
    assert all(torch.count_nonzero(A) == 0 for A in generators)  # the re-base at initialisation
    for step in range(1, 7):
        with torch.no_grad():
            for A in generators:
                A.add_(0.01)
        B_before = cell.weight_hh.detach().clone()
        after_optimizer_step(cell)
        assert all((torch.count_nonzero(A) == 0) == (step in rebased_after) for A in generators)
        torch.testing.assert_close(cell.weight_hh.detach(), B_before, atol=1e-6, rtol=0)


def test_enrnn_latches_normalisation():
    cell = build_cell(CellConfig(core="enrnn", input_size=2, hidden_size=5, n1=3))
    plist = cell.parametrizations.weight_hh2
    assert cell.weight_hh1.shape == (3, 3) and cell.weight_hh2.shape == (2, 2) and cell.weight_hh3.shape == (2, 3)
    small = torch.tensor([[0.5, 0.0], [0.0, -0.25]])
    with torch.no_grad():
        plist.original.copy_(small)
    assert torch.equal(cell.weight_hh2, small) and not plist[0].latched  # rho = 0.5: left alone
    big = torch.tensor([[0.0, 2.0], [-2.0, 0.0]])  # eigenvalues +-2i: rho = 2
    with torch.no_grad():
        plist.original.copy_(big)
    torch.testing.assert_close(cell.weight_hh2, big / 2)
    assert plist[0].latched
    with torch.no_grad():
        plist.original.copy_(small)
    torch.testing.assert_close(cell.weight_hh2, small / 0.5)  # stays on after rho falls below 1
    assert cell.state_dict()["parametrizations.weight_hh2.0.latched"]


def test_enrnn_recurrence_by_hand():
    cell = build_cell(CellConfig(core="enrnn", input_size=1, hidden_size=3, n1=2)).double()
    h = torch.randn(1, 3, dtype=torch.float64)
    W1, W2, W3 = cell.weight_hh1, cell.weight_hh2, cell.weight_hh3
    expected = torch.cat([h[:, :2] @ W1 + h[:, 2:] @ W3, h[:, 2:] @ W2], dim=1)
    torch.testing.assert_close(cell.recurrent(h), expected)


def test_enrnn_gradient_through_the_spectral_radius():
    W = torch.tensor([[0.3, 1.9], [-1.2, 0.4]], dtype=torch.float64, requires_grad=True)
    sn = P.SpectralNormalize()
    sn.latched.fill_(True)
    assert torch.autograd.gradcheck(sn, (W,))


@pytest.mark.parametrize("W", [[[0.5, 0.1], [0.0, -0.25]], [[0.3, 1.9], [-1.2, 0.4]]], ids=["rho<1", "rho>1"])
def test_spectral_normalize_traced_twin_equals_eager(W):
    """Eager branches on the host (autograd skips eigvals until latched); torch.compile and
    torch.export trace the branch-free twin: the same value, latch and gradient on both sides of rho = 1."""
    results = []
    for run in (lambda m: m, lambda m: torch.compile(m, backend="eager", fullgraph=True)):
        sn = P.SpectralNormalize()
        original = torch.tensor(W, requires_grad=True)
        value = run(sn)(original)
        (value * torch.arange(4.0).view(2, 2)).sum().backward()
        results.append((value.detach(), bool(sn.latched), original.grad))
    (eager_value, eager_latched, eager_grad), (traced_value, traced_latched, traced_grad) = results
    assert eager_latched == traced_latched == (W[0][1] > 1)
    torch.testing.assert_close(traced_value, eager_value)
    torch.testing.assert_close(traced_grad, eager_grad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("n", [64, 128])
@pytest.mark.parametrize("scale", [0.5, 2.0], ids=["rho<1", "rho>1"])
def test_spectral_radius_on_the_host_equals_the_device(monkeypatch, n, scale):
    """A CUDA W of at most HOST_EIG_MAX rows has its eigvals taken on the host: the same value,
    latch and gradient (on W's device) as the device's eigvals."""
    from cells.manifolds import _spectral

    torch.manual_seed(n)
    W = torch.randn(n, n, device="cuda") * scale / n ** 0.5
    weights = torch.randn(n, n, device="cuda")
    results = []
    for limit in (_spectral.HOST_EIG_MAX, 0):
        monkeypatch.setattr(_spectral, "HOST_EIG_MAX", limit)
        for latched in (False, True):
            sn = P.SpectralNormalize().cuda()
            sn.latched.fill_(latched)
            original = W.clone().requires_grad_(True)
            value = sn(original)
            (value * weights).sum().backward()
            assert value.device == original.grad.device == W.device
            results.append((value.detach(), bool(sn.latched), original.grad))
    for (host_value, host_latched, host_grad), (dev_value, dev_latched, dev_grad) in zip(results[:2], results[2:]):
        assert host_latched == dev_latched
        torch.testing.assert_close(host_value, dev_value, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(host_grad, dev_grad, rtol=1e-3, atol=1e-4)


def test_parameter_groups():
    cell = build_cell(CellConfig(core="orthogonal", param="svd", input_size=2, hidden_size=4))
    model = torch.nn.Sequential()
    model.add_module("cell", cell)
    model.add_module("readout", torch.nn.Linear(4, 2))
    groups = parameter_groups(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in groups["orthogonal"]) == [
        "cell.parametrizations.weight_hh.original0", "cell.parametrizations.weight_hh.original1",
        "cell.parametrizations.weight_hh.original2"]
    assert len(groups["default"]) + len(groups["orthogonal"]) == len(list(model.parameters()))
    assert parameter_groups(build_cell(CellConfig(core="lstm")))["orthogonal"] == []
    enrnn = parameter_groups(build_cell(CellConfig(core="enrnn", hidden_size=4)))
    assert len(enrnn["orthogonal"]) == 1  # W1's generator; the free W2 and W3 take the default rate


def test_orthogonal_helpers_refuse_bad_input():
    layer = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="weight must be a square matrix, got shape"):
        P.orthogonal_(layer, "weight")
    with pytest.raises(ValueError, match="param='householder' is unknown; param must be one of exp, cayley, svd"):
        P.orthogonal_(torch.nn.Linear(2, 2), "weight", "householder")
    with pytest.raises(ValueError, match="kind='x' is unknown"):
        P.unitary_(torch.nn.Linear(2, 2), "weight", "x")
    with pytest.raises(ValueError, match="packed"):
        P.unitary_(torch.nn.Linear(2, 2), "bias", "urnn")


def test_exp_without_rebasing_stays_orthogonal_at_width_128():
    """A generator that grows for many steps (K = 0: one re-base only) in float32: 1.7e-5 off the
    group when expm ran in float32; the parametrization computes it in float64."""
    cell = build_cell(CellConfig(core="orthogonal", param="exp", K=0, input_size=2, hidden_size=128))
    opt = torch.optim.RMSprop(cell.parameters(), lr=1e-2)
    x = torch.randn(8, 10, 2)
    for _ in range(30):
        opt.zero_grad()
        cell(x)[0].square().mean().backward()
        opt.step()
        after_optimizer_step(cell)
    assert orthogonality_error(cell.weight_hh.detach()) < 1e-5


@pytest.mark.parametrize("scale", [0.0, 1e-3, 0.4, 3.0, 50.0, 4000.0])
def test_matrix_exp_on_device_equals_torch_in_value_and_gradient(scale):
    """The GPU path's expm (no host sync) is torch.linalg.matrix_exp to 1e-10 in float64 (its fixed
    2^16 scaling costs ~2^16 ulp), in value and in gradient, from A = 0 to ||A||_1 ~ 5e3, skew or
    not, batched."""
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(3, 16, 16, generator=gen, dtype=torch.float64) * min(scale, 5.0) / 16
    A[1] = (A[1] - A[1].mT) * (scale / min(scale, 5.0) if scale else 1.0)  # skew: any size (e^A stays bounded)
    A.requires_grad_(True)
    G = torch.randn(3, 16, 16, generator=gen, dtype=torch.float64)
    mine = P.matrix_exp_on_device(A)
    (grad_mine,) = torch.autograd.grad((mine * G).sum(), A)
    theirs = torch.linalg.matrix_exp(A)
    (grad_theirs,) = torch.autograd.grad((theirs * G).sum(), A)
    torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-10 * float(theirs.detach().abs().max()))
    torch.testing.assert_close(grad_mine, grad_theirs, rtol=1e-9, atol=1e-9 * float(grad_theirs.abs().max()))


def test_matrix_exp_on_device_passes_gradcheck():
    A = (torch.randn(5, 5, dtype=torch.float64) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(P.matrix_exp_on_device, (A,))


def test_reorthogonalize_is_the_polar_factor():
    """The re-base's Newton-Schulz step lands on the nearest orthogonal matrix (the SVD's answer)
    for a float32 product that is orthogonal up to rounding."""
    Q = torch.linalg.qr(torch.randn(64, 64, dtype=torch.float64))[0]
    M = (Q.float() @ torch.linalg.matrix_exp(P.skew(torch.randn(64, 64) * 0.01)))
    fixed = reorthogonalize(M.double())
    torch.testing.assert_close(fixed, polar(M.double()), rtol=0, atol=1e-13)
    assert orthogonality_error(fixed) < 1e-13 < orthogonality_error(M.double())


@pytest.mark.parametrize("param", ["exp", "svd"])
def test_dtriv_schedule_continues_from_a_loaded_step_count(param):
    """The schedule is counted on the host; loading a state_dict with steps = 2 (K = 3) into a cell
    that had counted 1 makes the next step the third, and it re-bases."""
    cfg = CellConfig(core="orthogonal", param=param, K=3, input_size=2, hidden_size=4)
    trained, fresh = build_cell(cfg), build_cell(cfg)
    for _ in range(2):
        after_optimizer_step(trained)
    after_optimizer_step(fresh)
    fresh.load_state_dict(trained.state_dict())
    generators = _generator(fresh)[:2]
    with torch.no_grad():
        for A in generators:
            A.add_(0.01)
    after_optimizer_step(fresh)
    assert int(fresh.parametrizations.weight_hh[0].steps) == 3
    assert all(torch.count_nonzero(A) == 0 for A in generators)


@pytest.mark.parametrize("make", [lambda: P.Exp(4), lambda: P.Cayley(4, n_neg=1), lambda: P.SVD(4, m=0.2), lambda: P.UnitaryCayley()])
def test_every_manifold_with_a_right_inverse_starts_where_it_is_told(make):
    """The protocol's right_inverse: forward(right_inverse(W)) = W for a W on the manifold."""
    manifold = make().double()
    assert isinstance(manifold, P.Manifold)
    gen = torch.Generator().manual_seed(0)
    shapes = {P.SVD: [(4, 4), (4, 4), (4,)], P.UnitaryCayley: [(4, 4), (4,)]}.get(type(manifold), [(4, 4)])
    W = manifold(*(0.3 * torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes))
    free = manifold.right_inverse(W)
    again = manifold(*free) if isinstance(free, tuple) else manifold(free)
    torch.testing.assert_close(again, W, atol=1e-8, rtol=0)


@pytest.mark.parametrize(("core", "name"), [("urnn", "weight_hh"), ("enrnn", "weight_hh2")])
def test_manifolds_without_a_right_inverse_say_so(core, name):
    cell = build_cell(CellConfig(core=core, input_size=1, hidden_size=4))
    manifold = cell.parametrizations[name][0]
    with pytest.raises(NotImplementedError, match=f"{type(manifold).__name__} has no right inverse"):
        setattr(cell, name, torch.zeros_like(getattr(cell, name)))
