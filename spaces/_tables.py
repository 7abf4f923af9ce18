"""The named spaces, as tables: `paper`, `momentum`, `full`.

Ranges come from the seed papers' published recipes (docs: REFERENCE §3). A dynamics'
parameters are named `{dynamics}.{key}` and a core's `{core}.{key}`, so one name always
has one distribution inside a space, whichever family draws it.
"""

from __future__ import annotations

import functools

from spaces._params import Choice, Fixed, Float, Int
from spaces._space import Space, family_name

# MomentumRNN's ablation grid: mu in {0, .1, .3, .6, .9} x s in {.1, .3, .6, .9, 1}; its
# recipes use beta 0.1 (sMNIST) and 0.01 (psMNIST), restart F 2 (sMNIST) and 40 (psMNIST).
PAPER_DYNAMICS = {
    "plain": {},
    "momentum": {"mu": Choice(0.0, 0.1, 0.3, 0.6, 0.9), "s": Choice(0.1, 0.3, 0.6, 0.9, 1.0)},
    "adam": {
        "mu": Choice(0.0, 0.1, 0.3, 0.6, 0.9),
        "s": Choice(0.1, 0.3, 0.6, 0.9, 1.0),
        "beta": Float(0.005, 0.2, log=True),
    },
    "rmsprop": {"s": Choice(0.1, 0.3, 0.6, 0.9, 1.0), "beta": Float(0.005, 0.2, log=True)},
    # The MNIST results use the paper form of NAG-restart ("SRLSTM").
    "nag_restart": {"s": Float(0.5, 1.0), "restart": Int(1, 64, log=True), "nag_form": Fixed("paper")},
}

# Wider ranges around the published ones, for the optimizer dynamics on any core.
WIDE_DYNAMICS = {
    "plain": {},
    "momentum": {"mu": Float(0.0, 0.95), "s": Float(0.05, 1.0)},
    "adam": {"mu": Float(0.0, 0.95), "s": Float(0.05, 1.0), "beta": Float(1e-3, 0.99, log=True)},
    "rmsprop": {"s": Float(0.05, 1.0), "beta": Float(1e-3, 0.99, log=True)},
    # The input form is the one defined on every core (the paper form needs U h).
    "nag_restart": {"s": Float(0.05, 1.0), "restart": Int(0, 64), "nag_form": Fixed("input")},
}

# coRNN: sMNIST dt .042 g 2.7 e 4.7; psMNIST dt .076 g .4 e 8; adding dt .06 g 66 e 15.
# UnICORNN psMNIST: dt .19, alpha 30.65, 3 layers. LSTM forget bias +1 on MNIST.
PAPER_CORES = {
    "lstm": {"fg_init": Fixed(1.0)},
    "orthogonal": {
        # expRNN / DTRIV (exp; K = 0 re-bases once, K = 1 is the psMNIST DTRIV recipe), scoRNN (cayley),
        # and the singular-value margin of Vorontsov et al. (svd).
        "param": Choice("exp", "cayley", "svd"),
        "K": Choice(0, 1, 100, when=("param", ("exp", "svd"))),
        "m": Float(0.0, 0.5, when=("param", ("svd",))),
        "init": Choice("henaff", "cayley"),
    },
    "unitary": {"init": Choice("henaff", "cayley")},
    "cornn": {"dt": Float(0.02, 0.1, log=True), "gamma": Float(0.3, 80.0, log=True), "eps": Float(3.0, 20.0, log=True)},
    "unicornn": {"dt": Float(0.05, 0.5, log=True), "alpha": Float(5.0, 50.0, log=True), "layers": Int(1, 3)},
}

WIDE_CORES = {
    "lstm": {"fg_init": Float(-4.0, 4.0)},
    "orthogonal": {
        "param": Choice("exp", "cayley", "svd"),
        "K": Int(0, 100, when=("param", ("exp", "svd"))),
        "m": Float(0.0, 0.9, when=("param", ("svd",))),
        "init": Choice("henaff", "cayley"),
    },
    "unitary": {"init": Choice("henaff", "cayley")},
    "cornn": {"dt": Float(0.005, 0.5, log=True), "gamma": Float(0.1, 100.0, log=True), "eps": Float(0.1, 30.0, log=True)},
    # dropout between stacked layers (one mask per sequence, shared over time): a no-op with one layer
    "unicornn": {"dt": Float(0.01, 1.0, log=True), "alpha": Float(1.0, 100.0, log=True), "layers": Int(1, 3),
                 "dropout": Float(0.0, 0.3, when=("layers", (2, 3)))},
}

# Learning rates of the recipes: 7e-4 (DTRIV) to 2e-2 (coRNN on adding).
LR = Float(1e-4, 3e-2, log=True)

PAPER_FAMILIES = (
    # MomentumRNN, Table 1 (LSTM variants) and MomentumDTRIV
    "plain-lstm", "momentum-lstm", "adam-lstm", "rmsprop-lstm", "nag_restart-lstm",
    "plain-orthogonal", "momentum-orthogonal",
    # the orthogonal / unitary baselines those papers compare with
    "plain-unitary", "plain-urnn", "plain-enrnn",
    # oscillators
    "plain-cornn", "plain-unicornn",
)


def _all(dynamics: tuple[str, ...], cores: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(family_name(d, c) for c in cores for d in dynamics)


@functools.cache
def named_spaces() -> dict[str, Space]:
    """The named spaces by name, built the first time one is asked for.

    Their families come from the cells' own vocabulary (`cells.config.CORES` and `DYNAMICS`,
    with each core's `additive` flag), so a new core or dynamics is searched as soon as cells
    has it. Importing cells imports torch, which reading a study never needs: hence not at import.
    """
    from cells.config import CORES, DYNAMICS

    cores, dynamics = tuple(CORES), tuple(DYNAMICS)
    # The paper form of NAG replaces the whole pre-activation a_t + U h + b_h, so it is drawn only
    # on the additive cores (not gru, whose candidate multiplies U h by the reset gate);
    # elsewhere the cell's default (input form) applies.
    nag_forms = Choice("input", "paper", when=("core", tuple(c for c in cores if CORES[c]["additive"])))
    return {
        "paper": Space(
            name="paper",
            description="The seed papers' cells (MomentumRNN, expRNN, scoRNN, coRNN, UnICORNN, ...) with their published hyper-parameter ranges.",
            families=PAPER_FAMILIES,
            dynamics=PAPER_DYNAMICS,
            cores=PAPER_CORES,
            train={"lr": Float(5e-4, 2e-2, log=True)},
        ),
        "momentum": Space(
            name="momentum",
            description="The optimizer-inspired dynamics (momentum, adam, rmsprop, nag_restart) over every core, plain as baseline.",
            families=_all(dynamics, cores),
            dynamics=WIDE_DYNAMICS,
            cores=WIDE_CORES,
            train={"lr": LR},
        ),
        "small": Space(
            name="small",
            description="The optimizer dynamics on the cores that train fast on a CPU (rnn, lstm, gru, cornn): quick searches.",
            families=_all(dynamics, ("rnn", "lstm", "gru", "cornn")),
            dynamics=WIDE_DYNAMICS,
            cores=WIDE_CORES,
            train={"lr": LR},
        ),
        "full": Space(
            name="full",
            description="Everything: every dynamics on every core, both NAG forms, hidden size and batch size searched too.",
            families=_all(dynamics, cores),
            dynamics={**WIDE_DYNAMICS, "nag_restart": {**WIDE_DYNAMICS["nag_restart"], "nag_form": nag_forms}},
            cores=WIDE_CORES,
            cell={"hidden_size": Choice(32, 64, 128, 256)},
            train={"lr": LR, "batch_size": Choice(32, 64, 128)},
        ),
    }
