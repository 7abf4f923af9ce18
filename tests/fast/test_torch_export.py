"""torch.export of every core x dynamics the cells allow, as `runs` builds the model (impl="auto"), equal to eager."""

from __future__ import annotations

import itertools

import pytest
import torch

from cells import CellConfig, families
from runs._model import build_model

torch.set_num_threads(1)


def _allowed_configs():
    """Every core x dynamics (x nag_form) that CellConfig accepts, at a tiny size."""
    cores = [f.name for f in families() if f.kind == "core"]
    dynamics = {f.name: f for f in families() if f.kind == "dynamics"}
    for core, (name, family) in itertools.product(cores, dynamics.items()):
        forms = next((p.choices for p in family.params if p.name == "nag_form"), (None,))
        for form in forms:
            extra = {"nag_form": form, "restart": 2} if form else {}
            try:
                cfg = CellConfig(core=core, dynamics=name, input_size=2, hidden_size=4, **extra,
                                 **({"layers": 2} if core == "unicornn" else {}))
            except ValueError:  # e.g. the paper-form NAG on a non-additive core (gru)
                continue
            yield pytest.param(cfg, id=f"{cfg.family}" + (f"-{form}" if form else ""))
    for param in ("cayley", "svd"):  # exp is the default above
        yield pytest.param(CellConfig(core="orthogonal", dynamics="momentum", input_size=2, hidden_size=4,
                                      param=param), id=f"momentum-orthogonal-{param}")


@pytest.mark.parametrize("cfg", list(_allowed_configs()))
def test_exported_program_equals_the_eager_model(cfg):
    torch.manual_seed(0)
    model = build_model(cfg, 3, "last").eval()
    x = torch.randn(3, 5, 2)
    with torch.no_grad():
        program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        other = torch.randn(3, 5, 2)  # not the traced input: no value of it may be baked in
        assert torch.allclose(program.module()(other), model(other), rtol=1e-5, atol=1e-6)
