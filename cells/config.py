"""`CellConfig`, the one flat and validated description of a cell, and the parameter table behind it.

Everything a cell can be told lives in `PARAMS` (one row per parameter: type, range, default,
which cores or dynamics it belongs to, help). Validation, `to_dict`, `from_dict`, `families()`
and the `momnas cells` listing all read that table, so a new parameter is one row.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["CellConfig", "Family", "Param", "families", "CORES", "DYNAMICS", "PARAMS"]


@dataclass(frozen=True)
class Param:
    """One row of the parameter table.

    `applies` names the cores and dynamics that have this parameter; `defaults` overrides
    `default` for some of them (e.g. `dt` is 0.042 for cornn, 0.19 for unicornn). A numeric
    range is `[low, high]`, an end excluded when `low_open` / `high_open`; a string parameter
    has `choices`. A default of None means "derived from other fields" (see the help).
    """

    name: str
    type: type
    default: Any
    help: str
    applies: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()

    @property
    def range(self) -> str:
        """The allowed values in words, e.g. "[0, 1)", "integer >= 0", "exp | cayley | svd"."""
        if self.choices:
            return " | ".join(self.choices)
        if self.type is int:
            if self.high is None:
                return f"integer >= {self.low:g}"
            return f"integer in [{self.low:g}, {self.high:g}]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{left}{low}, {high}{right}"

    def default_for(self, core: str, dynamics: str) -> Any:
        """The default for this core + dynamics (a family-specific override wins)."""
        overrides = dict(self.defaults)
        return overrides.get(core, overrides.get(dynamics, self.default))

    def check(self, value: Any) -> Any:
        """Return `value` normalised to the parameter's type, or raise a one-line ValueError."""
        where = f"CellConfig: {self.name}={value!r}"
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"{where} is not allowed; {self.name} must be one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where} is not a number; {self.name} must be {self._in_words()}")
        if self.type is int:
            if not isinstance(value, numbers.Integral):
                raise ValueError(f"{where} is not an integer; {self.name} must be {self._in_words()}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{where} is not finite; {self.name} must be {self._in_words()}")
        too_low = self.low is not None and (value < self.low or (self.low_open and value == self.low))
        too_high = self.high is not None and (value > self.high or (self.high_open and value == self.high))
        if too_low or too_high:
            raise ValueError(f"{where} is out of range; {self.name} must be {self._in_words()}")
        return value

    def _in_words(self) -> str:
        return self.range if self.type is int else f"in {self.range}"


# The families. A core is "additive" when its pre-activation is `a_t + (recurrent term)`,
# which the paper-form NAG needs (it replaces that whole sum).
CORES: dict[str, dict[str, Any]] = {
    "rnn": {"help": "Elman RNN, h = tanh(a + U h + b_h); torch.nn.RNN names", "additive": True},
    "lstm": {"help": "LSTM, gates i, f, g, o; torch.nn.LSTM names, reference init", "additive": True},
    "gru": {"help": "GRU as torch.nn.GRU (candidate gate r * (U h + b) is not additive)", "additive": False},
    "orthogonal": {"help": "expRNN / DTRIV / scoRNN: modReLU(a + h B), B orthogonal", "additive": True},
    "unitary": {"help": "scuRNN: complex state [Re, Im], W = Cayley(A) D, D trainable phases", "additive": True},
    "urnn": {"help": "uRNN (Arjovsky 2016): W = D3 R2 F^-1 D2 P R1 F D1, complex state", "additive": True},
    "enrnn": {"help": "Eigenvalue-normalised RNN: [h1; h2], W1 orthogonal, W2 / rho(W2)", "additive": True},
    "cornn": {"help": "coupled oscillators (coRNN), state (y, z), readout y", "additive": True},
    "unicornn": {"help": "undamped oscillators (UnICORNN), diagonal recurrence, stacked layers", "additive": True},
}

DYNAMICS: dict[str, dict[str, Any]] = {
    "plain": {"help": "the core as is: a_t = g_t = W x_t + b"},
    "momentum": {"help": "v = mu v + s g; feeds v (MomentumRNN)"},
    "adam": {"help": "v = mu v + s g, r = beta r + (1 - beta) g^2; feeds v / sqrt(r + 1e-16)"},
    "rmsprop": {"help": "adam with mu = 0"},
    "nag_restart": {"help": "Nesterov momentum c_k = (k-1)/(k+2), restarted every `restart` steps"},
}

_ORTHO = ("orthogonal",)
PARAMS: tuple[Param, ...] = (
    # dynamics
    Param("mu", float, 0.6, "momentum of the input filter", ("momentum", "adam"), 0.0, 1.0, high_open=True),
    Param("s", float, 0.6, "step size: the weight of g_t in the filter", ("momentum", "adam", "rmsprop", "nag_restart"),
          0.0, None, low_open=True, defaults=(("nag_restart", 1.0),)),
    Param("beta", float, 0.1, "decay of the squared-input average r", ("adam", "rmsprop"), 0.0, 1.0, high_open=True),
    Param("restart", int, 2, "restart period F in steps (0: never restart)", ("nag_restart",), 0),
    Param("nag_form", str, "input", "input: filter g; paper: p = u + c (u - u_prev), u = U h + b_h - s g",
          ("nag_restart",), choices=("input", "paper")),
    # orthogonal core
    Param("param", str, "exp", "how B is kept orthogonal: exp (expRNN/DTRIV), cayley (scoRNN), svd (margin m)",
          _ORTHO, choices=("exp", "cayley", "svd")),
    Param("K", int, 1, "DTRIV re-basing period in optimizer steps for exp / svd (0: infinity, re-based once, before the first step)",
          _ORTHO, 0),
    Param("n_neg", int, 0, "number of -1 entries of the Cayley scaling D (cayley; W1 of enrnn)",
          ("orthogonal", "enrnn"), 0),
    Param("m", float, 0.1, "svd: singular values held in [1 - m, 1 + m] (0: exactly orthogonal)", _ORTHO,
          0.0, 1.0, high_open=True),
    Param("init", str, "henaff", "init of the skew generator: 2x2 blocks, henaff U(-pi, pi) or cayley",
          ("orthogonal", "unitary"), choices=("henaff", "cayley")),
    # enrnn
    Param("n1", int, None, "size of the orthogonal block h1 (default hidden_size - n2)", ("enrnn",), 1),
    Param("n2", int, None, "size of the normalised block h2 (default hidden_size // 2)", ("enrnn",), 1),
    # oscillators
    Param("dt", float, 0.042, "time step", ("cornn", "unicornn"), 0.0, None, low_open=True,
          defaults=(("unicornn", 0.19),)),
    Param("gamma", float, 2.7, "stiffness gamma", ("cornn",), 0.0),
    Param("eps", float, 4.7, "damping epsilon", ("cornn",), 0.0),
    Param("alpha", float, 30.65, "restoring force alpha", ("unicornn",), 0.0),
    Param("layers", int, 3, "stacked layers", ("unicornn",), 1),
    Param("dropout", float, 0.0, "dropout on each layer's y sequence before the next layer: mask drawn once per "
          "sequence, shared over time, between stacked layers (training only)", ("unicornn",), 0.0, 1.0,
          high_open=True),
    # lstm
    Param("fg_init", float, 1.0, "forget-gate bias, set in both biases (+1 MNIST, -4 TIMIT)", ("lstm",)),
)
_BY_NAME = {p.name: p for p in PARAMS}


@dataclass(frozen=True)
class Family:
    """A core or a dynamics with its parameters: what `momnas cells` lists."""

    kind: str  # "core" | "dynamics"
    name: str
    help: str
    params: tuple[Param, ...]


def families() -> list[Family]:
    """Every core and dynamics with its parameters, ranges and defaults (data, no formatting).

    Each family's params carry that family's own default (`s` is 1.0 for nag_restart).

    Example:
        >>> [f.name for f in families() if f.kind == "dynamics"]
        ['plain', 'momentum', 'adam', 'rmsprop', 'nag_restart']
    """
    out = []
    for kind, table in (("core", CORES), ("dynamics", DYNAMICS)):
        for name, info in table.items():
            params = tuple(dataclasses.replace(p, default=p.default_for(name, name), defaults=())
                           for p in PARAMS if name in p.applies)
            out.append(Family(kind, name, info["help"], params))
    return out


@dataclass(frozen=True)
class CellConfig:
    """What cell to build: a core, a dynamics over its input, the sizes and their parameters.

    Frozen and validated on construction. Parameters that the core and dynamics have and that
    are left as None get their defaults (the paper recipes); parameters that they do not have
    must stay None. Every problem is a one-line ValueError naming the field.

    Example:
        >>> cfg = CellConfig(core="lstm", dynamics="momentum", input_size=1, hidden_size=128)
        >>> cfg.mu, cfg.s, cfg.fg_init
        (0.6, 0.6, 1.0)
        >>> CellConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    core: str
    dynamics: str = "plain"
    input_size: int = 1     # sMNIST: one pixel per step
    hidden_size: int = 128  # the smaller size of the MomentumRNN sMNIST tables
    mu: float | None = None
    s: float | None = None
    beta: float | None = None
    restart: int | None = None
    nag_form: str | None = None
    param: str | None = None
    K: int | None = None
    n_neg: int | None = None
    m: float | None = None
    init: str | None = None
    n1: int | None = None
    n2: int | None = None
    dt: float | None = None
    gamma: float | None = None
    eps: float | None = None
    alpha: float | None = None
    layers: int | None = None
    dropout: float | None = None
    fg_init: float | None = None

    def __post_init__(self):
        for field, table in (("core", CORES), ("dynamics", DYNAMICS)):
            value = getattr(self, field)
            if value not in table:
                raise ValueError(f"CellConfig: {field}={value!r} is unknown; {field} must be one of {', '.join(table)}")
        for field in ("input_size", "hidden_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"CellConfig: {field}={value!r} is not allowed; {field} must be an integer >= 1")
            object.__setattr__(self, field, int(value))
        for p in PARAMS:
            value = getattr(self, p.name)
            if not self._has(p):
                if value is not None:
                    owners = ", ".join(p.applies)
                    raise ValueError(
                        f"CellConfig: {p.name}={value!r} does not apply to core={self.core!r} with "
                        f"dynamics={self.dynamics!r}; {p.name} belongs to {owners}")
                continue
            if value is None:
                value = p.default_for(self.core, self.dynamics)
            if value is not None:
                value = p.check(value)
            object.__setattr__(self, p.name, value)
        self._check_together()

    def _has(self, p: Param) -> bool:
        return self.core in p.applies or self.dynamics in p.applies

    def _check_together(self):
        """Rules that tie several fields together."""
        H = self.hidden_size
        if self.core == "enrnn":
            n1, n2 = self.n1, self.n2
            if n2 is None:
                n2 = H // 2 if n1 is None else H - n1
            if n1 is None:
                n1 = H - n2
            if n1 < 1 or n2 < 1 or n1 + n2 != H:
                raise ValueError(f"CellConfig: n1={n1}, n2={n2} do not fit hidden_size={H}; enrnn needs "
                                 f"n1 >= 1, n2 >= 1 and n1 + n2 == hidden_size")
            object.__setattr__(self, "n1", n1)
            object.__setattr__(self, "n2", n2)
        if self.n_neg is not None:
            n = self.n1 if self.core == "enrnn" else H
            if self.n_neg > n:
                size = "n1" if self.core == "enrnn" else "hidden_size"
                raise ValueError(f"CellConfig: n_neg={self.n_neg} is out of range; n_neg must be <= {size} ({n})")
        if self.nag_form == "paper" and not CORES[self.core]["additive"]:
            raise ValueError(
                f"CellConfig: nag_form='paper' does not fit core={self.core!r}; the paper form replaces the "
                f"whole pre-activation a_t + U h + b_h, and {self.core}'s candidate gate is not additive "
                f"(it multiplies U h + b_h by the reset gate); use nag_form='input'")

    @property
    def family(self) -> str:
        """`"{dynamics}-{core}"`, e.g. "momentum-lstm": the family name studies record."""
        return f"{self.dynamics}-{self.core}"

    def to_dict(self) -> dict[str, Any]:
        """One flat dict: core, dynamics, sizes and only the parameters this cell has."""
        out = {"core": self.core, "dynamics": self.dynamics,
               "input_size": self.input_size, "hidden_size": self.hidden_size}
        out.update({p.name: getattr(self, p.name) for p in PARAMS if self._has(p)})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CellConfig":
        """Inverse of `to_dict`; keys that are not fields, or that this cell does not have, are refused."""
        if not isinstance(data, Mapping):
            raise ValueError(f"CellConfig.from_dict: expected a dict, got {type(data).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"CellConfig: unknown key {unknown[0]!r}; keys are core, dynamics, input_size, "
                             f"hidden_size, {', '.join(p.name for p in PARAMS)}")
        if "core" not in data:
            raise ValueError(f"CellConfig: 'core' is missing; core must be one of {', '.join(CORES)}")
        probe = cls(core=data["core"], dynamics=data.get("dynamics", "plain"))
        for key in data:
            if key in _BY_NAME and not probe._has(_BY_NAME[key]):
                raise ValueError(
                    f"CellConfig: {key} does not apply to core={probe.core!r} with dynamics={probe.dynamics!r}; "
                    f"{key} belongs to {', '.join(_BY_NAME[key].applies)}")
        return cls(**data)
