"""The samplers a search can use, by name: the one table behind `--sampler`, its check and its help."""

from __future__ import annotations

import warnings
from typing import Callable

import optuna

from search.errors import BadInput

# name -> factory(seed). The first is the default.
SAMPLERS: dict[str, Callable[[int | None], optuna.samplers.BaseSampler]] = {
    # group=True: TPE models each family's parameters together, as the space is conditional.
    "tpe": lambda seed: optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    "nsga3": lambda seed: optuna.samplers.NSGAIIISampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
}


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The sampler by name: multivariate TPE (default), NSGA-II / III, random, GP."""
    if name not in SAMPLERS:
        raise BadInput(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[name](seed)
