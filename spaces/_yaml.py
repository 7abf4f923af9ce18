"""A user's space from YAML: families to search or leave out, ranges, choices and fixed values.

    name: lstm-momentum          # optional (default: the file's stem)
    base: momentum               # named space giving the starting families and ranges (default momentum)
    families: [momentum-lstm, adam-lstm, "*-cornn"]   # optional; `*` matches any dynamics or core
    exclude: [nag_restart-*]     # families to leave out
    params:
      momentum.mu: {low: 0.0, high: 0.9}           # a range (add log: true, step: 0.1, int: true)
      momentum.s: [0.3, 0.6, 1.0]                  # choices
      cornn.dt: 0.05                               # a fixed value
      orthogonal.K: {low: 1, high: 100, log: true, when: {param: [exp]}}
      lr: {low: 1.0e-4, high: 1.0e-2, log: true}
      hidden_size: [64, 128]
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import yaml

from spaces._params import Distribution
from spaces._space import Space, split_family

TOP_KEYS = ("name", "description", "base", "families", "exclude", "params")
# Shared parameters: where they go in the run config.
SHARED = {"hidden_size": "cell", "lr": "train", "batch_size": "train", "orthogonal_lr": "train", "optimizer": "train", "clip": "train", "weight_decay": "train"}
RANGE_KEYS = ("low", "high", "log", "step", "int", "when")
# Parameters that are integers whatever the YAML writes (other ranges are floats unless `int: true`).
INT_KEYS = {"hidden_size", "batch_size", "restart", "K", "layers", "n_neg", "n1", "n2"}


def load_space(path: str | Path, named: dict[str, Space], known: dict[str, dict[str, tuple[str, ...]]]) -> Space:
    """Read and validate a YAML space. Every error names the file and the offending entry."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"space file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"space file {path} is a folder; give a YAML file (momnas spaces show momentum --yaml > mine.yaml)")
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file; a space is a YAML file (momnas spaces show momentum --yaml > mine.yaml)") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:  # an empty file (or comments only) would silently search the whole base space
        raise ValueError(f"space file {path} is empty; give at least a base or families "
                         "(momnas spaces show momentum --yaml > mine.yaml writes a full one)")
    try:
        return space_from_data(data, named, known, default_name=path.stem)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line: the problem and where ("expected ',' or ']' at line 2, column 1")."""
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def space_from_data(
    data: Any, named: dict[str, Space], known: dict[str, dict[str, tuple[str, ...]]], *, default_name: str = "custom"
) -> Space:
    """Build a `Space` from parsed YAML; `known` = {"dynamics": {name: keys}, "cores": {name: keys}}."""
    if not isinstance(data, dict):
        raise ValueError(f"a space file is a mapping with keys {', '.join(TOP_KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; a space file has {', '.join(TOP_KEYS)}")
    base_name = data.get("base", "momentum")
    if base_name not in named:
        raise ValueError(f"base: unknown space {base_name!r}; named spaces: {', '.join(named)}")
    base = named[base_name]
    all_families = [f"{d}-{c}" for c in known["cores"] for d in known["dynamics"]]

    families = list(base.families)
    if "families" in data:
        families = _match(_str_list(data["families"], "families"), all_families, "families")
    if "exclude" in data:
        drop = set(_match(_str_list(data["exclude"], "exclude"), families, "exclude"))
        families = [f for f in families if f not in drop]
    if not families:
        raise ValueError("no families left to search after `exclude`")

    dynamics = {d: dict(base.dynamics.get(d, _fallback(named, "dynamics", d))) for d in known["dynamics"]}
    cores = {c: dict(base.cores.get(c, _fallback(named, "cores", c))) for c in known["cores"]}
    cell, train = dict(base.cell), dict(base.train)
    used_dyn = {split_family(f)[0] for f in families}
    used_core = {split_family(f)[1] for f in families}

    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params: expected a mapping of parameter name to range, choices or value")
    for name, spec in params.items():
        name = str(name)
        param = _param(name, spec)
        if name in SHARED:
            (cell if SHARED[name] == "cell" else train)[name] = param
            continue
        scope, dot, key = name.partition(".")
        if not dot:
            raise ValueError(
                f"params: unknown parameter {name!r}; shared ones are {', '.join(SHARED)}, "
                "the others are named DYNAMICS.KEY or CORE.KEY (e.g. momentum.mu, cornn.dt)"
            )
        kind = "dynamics" if scope in known["dynamics"] else "cores" if scope in known["cores"] else None
        if kind is None:
            raise ValueError(
                f"params: {name!r}: {scope!r} is neither a dynamics ({', '.join(known['dynamics'])}) "
                f"nor a core ({', '.join(known['cores'])})"
            )
        valid = known[kind][scope]
        if key not in valid:
            listed = ", ".join(f"{scope}.{k}" for k in valid) or "none"
            raise ValueError(f"params: {scope} has no parameter {key!r} (its parameters: {listed})")
        if scope not in (used_dyn if kind == "dynamics" else used_core):
            raise ValueError(f"params: {name!r} is set but no searched family uses {scope}")
        _check_cell_range(name, scope, key, param)
        (dynamics if kind == "dynamics" else cores)[scope][key] = param
        if param.when is not None and param.when[0] not in ("core", "dynamics"):
            sibling = param.when[0]
            table = (dynamics if kind == "dynamics" else cores)[scope]
            if sibling not in valid or sibling == key:
                raise ValueError(f"params: {name!r}: `when` refers to {sibling!r}, not a parameter of {scope}")
            if sibling not in table:
                raise ValueError(f"params: {name!r}: `when` refers to {scope}.{sibling}, which this space does not set")

    return Space(
        name=str(data.get("name", default_name)),
        description=str(data.get("description", f"user space (base {base_name})")),
        families=tuple(families),
        dynamics={d: t for d, t in dynamics.items() if d in used_dyn},
        cores={c: t for c, t in cores.items() if c in used_core},
        cell=cell,
        train=train,
    )


def _check_cell_range(name: str, scope: str, key: str, param: Distribution) -> None:
    """Refuse, when the space is read, a range or value the cell itself would refuse: each
    trial would otherwise fail with it after Ray started, and count towards --trials."""
    import cells

    allowed = next((p for f in cells.families() if f.name == scope for p in f.params if p.name == key), None)
    if allowed is None:
        return
    ends = {"fixed": [("value", param.value)], "categorical": [("choice", c) for c in param.choices]}.get(
        param.kind, [("low", param.low), ("high", param.high)])
    for which, value in ends:
        try:
            allowed.check(value)
        except ValueError:
            raise ValueError(f"params: {name}: {which} {value!r} is outside what the cell takes; "
                             f"{key} takes {allowed.range}") from None


def _fallback(named: dict[str, Space], kind: str, name: str) -> dict[str, Distribution]:
    # A family outside the base space takes its ranges from the widest named space.
    return dict(getattr(named["full"], kind).get(name, {}))


def _str_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of family names like momentum-lstm, got {value!r}")
    return value


def _match(patterns: list[str], pool: list[str], key: str) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        split_family(pattern) if "*" not in pattern else None
        hits = [f for f in pool if fnmatch.fnmatchcase(f, pattern)]
        if not hits:
            sample = ", ".join(pool[:8]) + (", ..." if len(pool) > 8 else "")
            raise ValueError(f"{key}: {pattern!r} matches no family (families are DYNAMICS-CORE: {sample})")
        out.extend(h for h in hits if h not in out)
    return out


def _number(value: Any, where: str) -> Any:
    # PyYAML reads `1e-4` (no dot) as a string; accept it as the number it means.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    return value


def _maybe_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _param(name: str, spec: Any) -> Distribution:
    where = f"params: {name}"
    try:
        if isinstance(spec, list):
            return Distribution("categorical", choices=tuple(_maybe_number(v) for v in spec))
        if not isinstance(spec, dict):
            return Distribution("fixed", value=_maybe_number(spec))
        when = _when(spec.get("when"), where)
        if "choices" in spec or "value" in spec:
            extra = sorted(set(spec) - {"choices", "value", "when"})
            if extra or ("choices" in spec and "value" in spec):
                raise ValueError("give either choices or value (with an optional when)")
            if "choices" in spec:
                if not isinstance(spec["choices"], list):
                    raise ValueError("choices must be a list")
                return Distribution("categorical", choices=tuple(_maybe_number(v) for v in spec["choices"]), when=when)
            return Distribution("fixed", value=_maybe_number(spec["value"]), when=when)
        extra = sorted(set(spec) - set(RANGE_KEYS))
        if extra:
            raise ValueError(f"unknown key(s) {', '.join(extra)}; a range has {', '.join(RANGE_KEYS)}")
        if "low" not in spec or "high" not in spec:
            raise ValueError("a range needs low and high")
        low, high = _number(spec["low"], where + ".low"), _number(spec["high"], where + ".high")
        step = _number(spec["step"], where + ".step") if spec.get("step") is not None else None
        is_int = bool(spec.get("int")) or name.rpartition(".")[2] in INT_KEYS
        return Distribution("int" if is_int else "float", low, high, log=bool(spec.get("log", False)), step=step, when=when)
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None


def _when(value: Any, where: str) -> tuple[str, tuple] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"{where}: when is one sibling and its values, e.g. when: {{param: [exp]}}")
    (key, allowed), = value.items()
    allowed = allowed if isinstance(allowed, list) else [allowed]
    return str(key), tuple(allowed)
