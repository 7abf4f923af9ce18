"""One searchable value: a range, a set of choices, or a fixed value, and how it is suggested."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

KINDS = ("float", "int", "categorical", "fixed")


@dataclass(frozen=True)
class Distribution:
    """How one parameter is drawn: `Float(0, 1)`, `Int(1, 3)`, `Choice("exp", "cayley")`, `Fixed(1.0)`.

    `when` makes it conditional on a sibling already drawn in the same branch:
    `Int(1, 100, log=True, when=("param", ("exp",)))` is drawn only where `param` is `exp`;
    `when=("core", ("rnn", "lstm"))` conditions on the family's core (or `dynamics`). Where a
    parameter is not drawn, the cell's own default applies.
    """

    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()
    value: Any = None
    when: tuple[str, tuple] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Distribution: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind in ("float", "int"):
            if self.low is None or self.high is None:
                raise ValueError("a range needs both low and high")
            if not self.low < self.high:
                raise ValueError(f"a range needs low < high, got low={self.low}, high={self.high}")
            if self.log and self.low <= 0:
                raise ValueError(f"a log range needs low > 0, got low={self.low}")
            if self.log and self.step is not None:
                raise ValueError("a range cannot be both log and stepped")
            if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, (int, float))
                                          or not 0 < self.step < math.inf):
                raise ValueError(f"a range's step must be a positive number, got step={self.step!r}")
            if self.kind == "int" and not all(float(v).is_integer() for v in (self.low, self.high)):
                raise ValueError(f"an integer range needs integer bounds, got {self.low}..{self.high}")
        if self.kind == "categorical":
            if not self.choices:
                raise ValueError("a choice needs at least one value")
            for c in self.choices:
                if c is not None and not isinstance(c, (bool, int, float, str)):
                    raise ValueError(f"choices must be numbers, strings, booleans or null, got {c!r}")
                if isinstance(c, float) and not math.isfinite(c):
                    raise ValueError(f"choices must be finite, got {c!r}")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError(f"choices repeat a value: {list(self.choices)}")

    def active(self, drawn: dict[str, Any]) -> bool:
        """Whether this parameter is drawn, given its branch's values so far."""
        if self.when is None:
            return True
        key, allowed = self.when
        return drawn.get(key) in allowed

    def sample(self, trial: optuna.Trial, name: str) -> Any:
        """Suggest (or, when fixed, just return) the value under `name`."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)

    def describe(self) -> str:
        """A short human form: `0.0 .. 0.9`, `1e-4 .. 3e-2 (log)`, `{exp, cayley}`, `= 1.0`."""
        if self.kind == "fixed":
            text = f"= {self.value!r}" if isinstance(self.value, str) else f"= {self.value}"
        elif self.kind == "categorical":
            text = "{" + ", ".join(str(c) for c in self.choices) + "}"
        else:
            text = f"{_num(self.low)} .. {_num(self.high)}"
            if self.log:
                text += " (log)"
            if self.step is not None:
                text += f" step {_num(self.step)}"
        if self.when is not None:
            text += f"  if {self.when[0]} in {{{', '.join(map(str, self.when[1]))}}}"
        return text

    def to_data(self) -> Any:
        """The YAML form of this parameter (what `load_space` reads back)."""
        if self.kind == "fixed":
            data: Any = self.value
        elif self.kind == "categorical":
            data = list(self.choices)
        else:
            data = {"low": self.low, "high": self.high}
            if self.log:
                data["log"] = True
            if self.step is not None:
                data["step"] = self.step
            if self.kind == "int":
                data["int"] = True
        if self.when is not None:
            if not isinstance(data, dict):
                data = {"choices": data} if self.kind == "categorical" else {"value": data}
            data["when"] = {self.when[0]: list(self.when[1])}
        return data


def _num(x: float | int | None) -> str:
    if isinstance(x, float) and x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e4):
        return f"{x:.0e}"
    return str(x)


def Float(low: float, high: float, *, log: bool = False, step: float | None = None, when=None) -> Distribution:
    return Distribution("float", float(low), float(high), log=log, step=step, when=when)


def Int(low: int, high: int, *, log: bool = False, step: int | None = None, when=None) -> Distribution:
    return Distribution("int", int(low), int(high), log=log, step=step, when=when)


def Choice(*choices: Any, when=None) -> Distribution:
    return Distribution("categorical", choices=tuple(choices), when=when)


def Fixed(value: Any, *, when=None) -> Distribution:
    return Distribution("fixed", value=value, when=when)
