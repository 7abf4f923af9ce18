"""Define-by-run search spaces over cells: the family first, then only that family's parameters.

    >>> import optuna
    >>> from spaces import get_space
    >>> space = get_space("momentum")      # or "paper", "full", or a YAML file's path
    >>> trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    >>> run = space(trial)                 # {"cell": {...}, "train": {...}}: suggests, never trains
    >>> sorted(run), f"{run['cell']['dynamics']}-{run['cell']['core']}" == trial.params["family"]
    (['cell', 'train'], True)
"""

from spaces._params import Choice, Distribution, Fixed, Float, Int
from spaces._registry import describe, get_space, known_parameters, list_spaces, load_space
from spaces._space import FAMILY_PARAM, Space, family_name, split_family

__all__ = [
    "FAMILY_PARAM",
    "Choice",
    "Distribution",
    "Fixed",
    "Float",
    "Int",
    "Space",
    "describe",
    "family_name",
    "get_space",
    "known_parameters",
    "list_spaces",
    "load_space",
    "split_family",
]
