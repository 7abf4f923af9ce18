"""CellConfig: defaults, validation of every field, to_dict / from_dict, the table behind families()."""

import dataclasses

import pytest
import torch

from cells import CellConfig, build_cell, families
from cells.config import CORES, DYNAMICS, PARAMS
from cells.cores import CORE_CLASSES
from cells.dynamics import DYNAMICS_CLASSES
from cells.dynamics import dynamics_params

from cells_helpers import every_family


def test_paper_defaults():
    cfg = CellConfig(core="lstm", dynamics="momentum", input_size=1, hidden_size=128)
    assert (cfg.mu, cfg.s, cfg.fg_init) == (0.6, 0.6, 1.0)
    assert CellConfig(core="lstm", dynamics="nag_restart").s == 1.0  # sMNIST NAG recipe
    assert CellConfig(core="lstm", dynamics="adam").beta == 0.1
    cornn = CellConfig(core="cornn")
    assert (cornn.dt, cornn.gamma, cornn.eps) == (0.042, 2.7, 4.7)
    uni = CellConfig(core="unicornn")
    assert (uni.dt, uni.alpha, uni.layers, uni.dropout) == (0.19, 30.65, 3, 0.0)
    orth = CellConfig(core="orthogonal")
    assert (orth.param, orth.K, orth.n_neg, orth.init) == ("exp", 1, 0, "henaff")


def test_frozen_and_hashable():
    cfg = CellConfig(core="gru")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden_size = 3
    assert hash(cfg) == hash(CellConfig(core="gru"))


def test_to_dict_emits_only_relevant_params():
    assert CellConfig(core="lstm", dynamics="plain", input_size=2, hidden_size=3).to_dict() == {
        "core": "lstm", "dynamics": "plain", "input_size": 2, "hidden_size": 3, "fg_init": 1.0}
    assert set(CellConfig(core="gru", dynamics="adam").to_dict()) == {
        "core", "dynamics", "input_size", "hidden_size", "mu", "s", "beta"}
    assert set(CellConfig(core="cornn", dynamics="nag_restart").to_dict()) == {
        "core", "dynamics", "input_size", "hidden_size", "s", "restart", "nag_form", "dt", "gamma", "eps"}


@pytest.mark.parametrize("core,dynamics,extra", every_family())
def test_round_trip_every_family(core, dynamics, extra):
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=2, hidden_size=6, **extra)
    assert CellConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.family == f"{dynamics}-{core}"


@pytest.mark.parametrize("core,dynamics,extra", every_family())
def test_every_family_builds_on_the_meta_device(core, dynamics, extra):
    """Shapes without storage (how runs.estimate_memory counts a cell's weights): the same
    parameters and buffers as the real cell."""
    cfg = CellConfig(core=core, dynamics=dynamics, input_size=3, hidden_size=6, **extra)
    with torch.device("meta"):
        meta = build_cell(cfg, impl="reference")
    real = build_cell(cfg, impl="reference")
    shapes = lambda cell: {name: tuple(t.shape) for name, t in (*cell.named_parameters(), *cell.named_buffers())}
    assert all(t.is_meta for t in meta.parameters())
    assert shapes(meta) == shapes(real) and (meta.gate_size, meta.output_size) == (real.gate_size, real.output_size)


def test_unicornn_dropout_row():
    """dropout: unicornn only, default 0.0 (no dropout), [0, 1), through to_dict / from_dict and families()."""
    cfg = CellConfig(core="unicornn", dynamics="momentum", dropout=0.25)
    assert cfg.dropout == 0.25 and cfg.to_dict()["dropout"] == 0.25
    assert CellConfig.from_dict(cfg.to_dict()) == cfg
    assert CellConfig(core="unicornn", dropout=0).dropout == 0.0 and isinstance(CellConfig(core="unicornn", dropout=0).dropout, float)
    assert "dropout" not in CellConfig(core="cornn").to_dict()
    with pytest.raises(ValueError, match="dropout does not apply to core='cornn'"):
        CellConfig.from_dict({"core": "cornn", "dropout": 0.1})
    by_name = {f.name: {p.name: p for p in f.params} for f in families()}
    row = by_name["unicornn"]["dropout"]
    assert (row.default, row.range, row.type) == (0.0, "[0, 1)", float)
    assert "shared over time" in row.help and "training only" in row.help
    assert [name for name, params in by_name.items() if "dropout" in params] == ["unicornn"]


def test_enrnn_sizes():
    assert (CellConfig(core="enrnn", hidden_size=10).n1, CellConfig(core="enrnn", hidden_size=10).n2) == (5, 5)
    assert CellConfig(core="enrnn", hidden_size=10, n1=7).n2 == 3
    assert CellConfig(core="enrnn", hidden_size=10, n2=4).n1 == 6
    with pytest.raises(ValueError, match=r"n1=3, n2=3 do not fit hidden_size=10"):
        CellConfig(core="enrnn", hidden_size=10, n1=3, n2=3)
    with pytest.raises(ValueError, match=r"n_neg=6 is out of range; n_neg must be <= n1 \(5\)"):
        CellConfig(core="enrnn", hidden_size=10, n_neg=6)


BAD = [
    (dict(core="transformer"), "core='transformer' is unknown; core must be one of rnn, lstm"),
    (dict(core="lstm", dynamics="sgd"), "dynamics='sgd' is unknown; dynamics must be one of plain"),
    (dict(core="lstm", hidden_size=0), "hidden_size=0 is not allowed; hidden_size must be an integer >= 1"),
    (dict(core="lstm", input_size=2.5), "input_size=2.5 is not allowed"),
    (dict(core="lstm", hidden_size=True), "hidden_size=True is not allowed"),
    (dict(core="lstm", dynamics="momentum", mu=1.2), "CellConfig: mu=1.2 is out of range; mu must be in [0, 1)"),
    (dict(core="lstm", dynamics="momentum", mu=1.0), "mu=1.0 is out of range"),
    (dict(core="lstm", dynamics="momentum", mu=-0.1), "mu=-0.1 is out of range"),
    (dict(core="lstm", dynamics="momentum", s=0.0), "s=0.0 is out of range; s must be in (0, inf)"),
    (dict(core="lstm", dynamics="momentum", s=-1), "s=-1 is out of range"),
    (dict(core="lstm", dynamics="momentum", s="big"), "s='big' is not a number"),
    (dict(core="lstm", dynamics="momentum", s=float("nan")), "s=nan is not finite"),
    (dict(core="lstm", dynamics="adam", beta=1.0), "beta=1.0 is out of range; beta must be in [0, 1)"),
    (dict(core="lstm", dynamics="nag_restart", restart=-1), "restart=-1 is out of range; restart must be integer >= 0"),
    (dict(core="lstm", dynamics="nag_restart", restart=2.5), "restart=2.5 is not an integer"),
    (dict(core="lstm", dynamics="nag_restart", nag_form="both"), "nag_form='both' is not allowed; nag_form must be one of input, paper"),
    (dict(core="gru", dynamics="nag_restart", nag_form="paper"), "core='gru'; the paper form replaces the whole pre-activation"),
    (dict(core="orthogonal", param="qr"), "param='qr' is not allowed; param must be one of exp, cayley, svd"),
    (dict(core="orthogonal", K=-1), "K=-1 is out of range"),
    (dict(core="orthogonal", hidden_size=4, n_neg=5), "n_neg=5 is out of range; n_neg must be <= hidden_size (4)"),
    (dict(core="orthogonal", m=1.0), "m=1.0 is out of range; m must be in [0, 1)"),
    (dict(core="orthogonal", init="xavier"), "init='xavier' is not allowed"),
    (dict(core="cornn", dt=0), "dt=0 is out of range; dt must be in (0, inf)"),
    (dict(core="cornn", gamma=-1.0), "gamma=-1.0 is out of range"),
    (dict(core="cornn", eps=-1.0), "eps=-1.0 is out of range"),
    (dict(core="unicornn", alpha=-2.0), "alpha=-2.0 is out of range"),
    (dict(core="unicornn", layers=0), "layers=0 is out of range; layers must be integer >= 1"),
    (dict(core="unicornn", dropout=1.0), "dropout=1.0 is out of range; dropout must be in [0, 1)"),
    (dict(core="unicornn", dropout=-0.1), "dropout=-0.1 is out of range; dropout must be in [0, 1)"),
    (dict(core="unicornn", dropout="half"), "dropout='half' is not a number"),
    (dict(core="cornn", dropout=0.1), "dropout=0.1 does not apply to core='cornn' with dynamics='plain'; dropout belongs to unicornn"),
    (dict(core="lstm", dynamics="momentum", dropout=0.0), "dropout=0.0 does not apply to core='lstm'"),
    (dict(core="enrnn", hidden_size=4, n1=0), "n1=0 is out of range"),
    (dict(core="lstm", fg_init=float("inf")), "fg_init=inf is not finite"),
    (dict(core="lstm", dynamics="plain", mu=0.6), "mu=0.6 does not apply to core='lstm' with dynamics='plain'; mu belongs to momentum, adam"),
    (dict(core="gru", fg_init=1.0), "fg_init=1.0 does not apply to core='gru'"),
    (dict(core="lstm", dynamics="rmsprop", mu=0.0), "mu=0.0 does not apply"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[m.split(";")[0][:40] for _, m in BAD])
def test_bad_values_are_one_line_value_errors(kwargs, message):
    with pytest.raises(ValueError) as info:
        CellConfig(**kwargs)
    text = str(info.value)
    assert message in text
    assert text.startswith("CellConfig: ") and "\n" not in text


def test_from_dict_refuses_unknown_and_foreign_keys():
    with pytest.raises(ValueError, match="unknown key 'momentum'"):
        CellConfig.from_dict({"core": "lstm", "momentum": 0.5})
    with pytest.raises(ValueError, match="mu does not apply to core='lstm' with dynamics='plain'"):
        CellConfig.from_dict({"core": "lstm", "dynamics": "plain", "mu": None})
    with pytest.raises(ValueError, match="'core' is missing"):
        CellConfig.from_dict({"dynamics": "plain"})
    with pytest.raises(ValueError, match="expected a dict, got list"):
        CellConfig.from_dict(["lstm"])


def test_families_match_the_registries():
    fams = families()
    cores = [f.name for f in fams if f.kind == "core"]
    dyns = [f.name for f in fams if f.kind == "dynamics"]
    assert cores == list(CORES) == list(CORE_CLASSES)
    assert dyns == list(DYNAMICS) == list(DYNAMICS_CLASSES)
    for f in fams:
        for p in f.params:
            assert p.range and p.help and p.type in (int, float, str)
    # the dynamics classes take exactly the parameters the table gives them
    for f in fams:
        if f.kind == "dynamics":
            assert set(dynamics_params(f.name)) == {p.name for p in f.params}
    # the config's notion of "additive" is the cores'
    for name, cls in CORE_CLASSES.items():
        assert cls.additive == CORES[name]["additive"]
    assert {p.name for p in PARAMS} == {f.name for f in dataclasses.fields(CellConfig)} - {
        "core", "dynamics", "input_size", "hidden_size"}


def test_families_carry_each_familys_default():
    by_name = {f.name: {p.name: p for p in f.params} for f in families()}
    assert by_name["nag_restart"]["s"].default == 1.0 and by_name["momentum"]["s"].default == 0.6
    assert by_name["cornn"]["dt"].default == 0.042 and by_name["unicornn"]["dt"].default == 0.19
    assert by_name["momentum"]["mu"].range == "[0, 1)" and by_name["enrnn"]["n1"].default is None
