"""What every figure reads from a study: objective names and directions, families and their
colours, the trials a front is made of, what a trial recorded (its curve, gradient profile,
cell parameters, status) and its configuration as hover text.

Trials are read through search._record (TrialRecord, StudyRecord), here, so that the figures
never depend on how a trial stores what it recorded: the figures take records, which have a
FrozenTrial's number, state, values and params.
"""

from __future__ import annotations

import math
from functools import cache

import optuna
from optuna.trial import TrialState

import cells
import spaces
from search import _record
from search._record import StudyRecord, TrialRecord

# A family outside the cells' vocabulary ("unknown", a renamed core) is drawn in gray.
UNKNOWN_COLOR = "#888888"
# Lines of one core (one hue) tell apart by dash ("dot" is kept for stopped trials).
DASHES = ("solid", "dash", "dashdot", "longdash", "longdashdot")


def objective_names(study: optuna.Study) -> list[str]:
    return StudyRecord.of(study).metric_names


def study_directions(study: optuna.Study) -> list[str]:
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]


def family_of(record: TrialRecord) -> str:
    return "unknown" if record.family == "?" else record.family


def family_colors(study: optuna.Study) -> dict[str, str]:
    """Family name -> colour (`family_color`) for the families of the study's trials, sorted."""
    names = sorted({family_of(r) for r in _record.trials(study)})
    return {name: family_color(name) for name in names}


def family_parts(family: str) -> tuple[str, str] | None:
    """`"momentum-lstm"` -> `("momentum", "lstm")` (the spaces' rule); None for a name that is not DYNAMICS-CORE."""
    try:
        return spaces.split_family(family)
    except ValueError:
        return None


@cache
def _vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cells' cores and dynamics, in their registry order."""
    found = cells.families()
    return tuple(f.name for f in found if f.kind == "core"), tuple(f.name for f in found if f.kind == "dynamics")


def dynamics_order() -> tuple[str, ...]:
    """The cells' dynamics in their registry order (plain first)."""
    return _vocabulary()[1]


@cache
def family_color(family: str) -> str:
    """The colour of `family` in every figure of every study: the hue names the core, the shade
    the dynamics (plain darkest), so that the families of one core read as one kin.

    The hues are spread evenly over the colour circle in OKLCH (equal steps look equal), one
    slot per core of the cells' vocabulary; consecutive cores sit two slots apart (the step
    is the smallest one coprime with the number of cores, so each core has its own slot), so
    that the first cores, which most spaces share (rnn, lstm, gru), are far apart.
    """
    parts = family_parts(family)
    cores, dynamics = _vocabulary()
    if parts is None or parts[0] not in dynamics or parts[1] not in cores:
        return UNKNOWN_COLOR
    step = next(k for k in range(2, len(cores) + 2) if math.gcd(k, len(cores)) == 1)
    hue = 25.0 + 360.0 * ((cores.index(parts[1]) * step) % len(cores)) / len(cores)  # 25: the first core red
    # Lightness 0.42 (dark, still coloured) to 0.79 (light, still visible on white).
    shade = dynamics.index(parts[0]) / max(len(dynamics) - 1, 1)
    return _oklch_hex(0.42 + 0.37 * shade, 0.14, hue)


def line_dashes(families: list[str]) -> list[str]:
    """A dash for each line of `families` (one entry per line, in drawing order): lines of one core
    share a hue, so each gets the next dash among that core's lines, and so do trials of one family."""
    seen: dict[str, int] = {}
    dashes = []
    for family in families:
        core = (family_parts(family) or ("", family))[1]
        seen[core] = seen.get(core, -1) + 1
        dashes.append(DASHES[seen[core] % len(DASHES)])
    return dashes


def _oklch_hex(lightness: float, chroma: float, hue: float) -> str:
    """An OKLCH colour as sRGB hex, clipped into the sRGB gamut (Björn Ottosson's OKLab matrices)."""
    a, b = chroma * math.cos(math.radians(hue)), chroma * math.sin(math.radians(hue))
    l_ = (lightness + 0.3963377774 * a + 0.2158037573 * b) ** 3
    m_ = (lightness - 0.1055613458 * a - 0.0638541728 * b) ** 3
    s_ = (lightness - 0.0894841775 * a - 1.2914855480 * b) ** 3
    linear = (4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
              -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
              -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_)
    encoded = [12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055 for c in (min(max(c, 0.0), 1.0) for c in linear)]
    return "#" + "".join(f"{round(c * 255):02x}" for c in encoded)


def finished_trials(study: optuna.Study) -> list[TrialRecord]:
    return _record.trials(study, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))


def finite(values) -> bool:
    return values is not None and all(v is not None and math.isfinite(v) for v in values)


def complete_trials(study: optuna.Study) -> list[TrialRecord]:
    """COMPLETE trials with finite objective values: the ones a front is made of."""
    return [r for r in _record.trials(study, states=(TrialState.COMPLETE,)) if finite(r.values)]


def pareto_numbers(study: optuna.Study) -> set[int]:
    if not complete_trials(study):
        return set()
    return {t.number for t in study.best_trials if finite(t.values)}


def recorded_values(record: TrialRecord, metric: str) -> tuple[float | None, float | None]:
    """The objective values of a trial; for one without values, what its metrics.json recorded,
    or where it has none (early stopping ended it), its learning curve's last point."""
    return record.recorded_values(metric)


def learning_curve(record: TrialRecord) -> list[tuple[float, float | None, float | None]]:
    """(epoch, validation metric, instability) after each evaluation of the trial, as its run reported them."""
    return [(p["epoch"], p.get("metric"), p.get("instability")) for p in record.curve]


def grad_profile(record: TrialRecord) -> tuple[list[int], list[float]] | None:
    """(t, ‖∂L/∂h_t‖) of the trial's last evaluation, nan where the norm was not finite; None
    where it recorded none."""
    norms = record.grad_profile
    if not norms:
        return None
    t = record.grad_profile_t or list(range(len(norms)))
    # JSON has no inf / nan: the search stores them as None; plotly leaves gaps for nan.
    return list(t), [float(n) if n is not None else math.nan for n in norms]


def status_text(record: TrialRecord) -> str:
    """How the trial ended, in words: "completed", "diverged", "stopped at epoch 3 (MO-ASHA)", ..."""
    status = record.status + (f" (prior: {record.prior})" if record.prior else "")
    if record.stopped_at is not None:
        status += f" at epoch {fmt(record.stopped_at)} (MO-ASHA)"
    return status


def cell_value(record: TrialRecord, param: str) -> float | None:
    """The finite number the trial's cell had for `param` ("mu"), whether searched or fixed; None
    where its cell has no such parameter."""
    cell = record.cell
    value = cell.get(param, record.params.get(param))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def config_lines(record: TrialRecord) -> list[str]:
    cell = record.cell
    lines = [", ".join(f"{k}={fmt(v)}" for k, v in cell.items())] if cell else []
    shown = set(cell)
    # Spaces namespace their parameters ("adam.mu"): those already shown through the cell are left out.
    rest = {k: v for k, v in record.params.items() if k.rpartition(".")[2] not in shown and k != "family"}
    if rest:
        lines.append(", ".join(f"{k}={fmt(v)}" for k, v in sorted(rest.items())))
    return lines


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
