"""The tensors a fused-rnn cell keeps between calls (`cells.fast.constants`): later calls with
another dtype, length or autograd mode stay exact, copies and saved models do not carry
them, and torch.export does not bake them into a program."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from cells import CellConfig, build_cell
from cells.fast.constants import Constants
from runs._model import build_model

FAMILIES = {"momentum": {"mu": 0.7, "s": 0.8}, "nag_restart": {"restart": 4, "s": 0.9},
            "adam": {"mu": 0.6, "s": 0.9, "beta": 0.3}}


def _pair(dynamics: str, core: str = "lstm"):
    torch.manual_seed(0)
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=5, **FAMILIES[dynamics])
    ref, fast = build_cell(cfg, impl="reference"), build_cell(cfg, impl="auto")
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def _grads(cell, x):
    out, state = cell(x)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum() + state.dynamics[0].sum()
    return [out, state.dynamics[0], *torch.autograd.grad(loss, [x, *cell.parameters()])]


@pytest.mark.parametrize("core", ["lstm", "gru"])
@pytest.mark.parametrize("dynamics", list(FAMILIES))
def test_later_calls_with_another_dtype_or_length_stay_exact(dynamics, core):
    ref, fast = _pair(dynamics, core)
    for dtype, T in ((torch.float32, 9), (torch.float64, 9), (torch.float64, 13), (torch.float32, 9)):
        ref, fast = ref.to(dtype), fast.to(dtype)
        x = torch.rand(3, T, 2, dtype=dtype, requires_grad=True)
        for got, expected in zip(_grads(fast, x), _grads(ref, x)):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert fast.fast_path == "fused-rnn" and len(fast.fast_constants) > 0


@pytest.mark.parametrize("dynamics", ["momentum", "nag_restart"])
def test_streams_too_long_for_one_matrix_take_the_chunked_filter(dynamics, monkeypatch):
    # above filters.FULL_LIMIT the x stream is filtered in chunks (no (T, T) matrix is kept)
    from cells.fast import filters

    monkeypatch.setattr(filters, "FULL_LIMIT", 0)
    ref, fast = _pair(dynamics)
    x = torch.rand(3, 70, 2, dtype=torch.float32, requires_grad=True)  # 70 > one 64-step chunk
    for got, expected in zip(_grads(fast, x), _grads(ref, x)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert len(fast.fast_constants) == 2  # the zero input bias and the filtered 1; no (70, 70) matrix


def test_a_call_in_inference_mode_then_training_with_input_gradients():
    # tensors kept from an inference-mode call would be "inference tensors", which autograd
    # refuses to save for backward (the filter matrix is saved when x requires grad)
    ref, fast = _pair("momentum")
    x = torch.rand(3, 9, 2)
    with torch.inference_mode():
        fast(x)
    x.requires_grad_()
    for got, expected in zip(_grads(fast, x), _grads(ref, x)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_copies_and_saved_models_do_not_carry_the_kept_tensors():
    _, fast = _pair("momentum")
    x = torch.rand(3, 200, 2)
    size_before = len(pickle.dumps(fast))
    expected = fast(x)[0]
    assert len(fast.fast_constants) > 0  # a (200, 200) matrix among them: 160 kB
    assert len(pickle.dumps(fast)) < size_before + 1000  # the call adds a few attributes, no tensor
    buf = io.BytesIO()
    torch.save(fast, buf)
    buf.seek(0)
    for other in (copy.deepcopy(fast), torch.load(buf, weights_only=False)):
        assert len(other.fast_constants) == 0
        torch.testing.assert_close(other(x)[0], expected)


def test_export_after_eager_calls_takes_no_kept_tensor_as_a_constant():
    torch.manual_seed(0)
    cfg = CellConfig(core="lstm", dynamics="momentum", input_size=2, hidden_size=4, mu=0.5)
    model = build_model(cfg, 3, "last").eval()
    x = torch.randn(3, 6, 2)
    with torch.no_grad():
        model(x)  # the cell now keeps its (6, 6) filter matrix
        program = torch.export.export(model, (x,))
        assert not [c for c in program.constants.values() if isinstance(c, torch.Tensor) and c.dim() == 2]
        other = torch.randn(3, 6, 2)
        torch.testing.assert_close(program.module()(other), model(other))


def test_constants_keep_the_newest_entries_up_to_their_size():
    kept = Constants(size=2)
    made = []

    def make(value):
        made.append(value)
        return torch.tensor(float(ord(value)))

    for key in ("a", "b", "a", "c", "a"):
        kept.get(key, lambda k=key: make(k))
    assert made == ["a", "b", "c", "a"]  # "a" made again after "c" pushed it out
    assert len(kept) == 2
