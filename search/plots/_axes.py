"""Axis ranges shared by the figures: a metric stays within the values it can take, a log axis
is labelled where its data lie."""

from __future__ import annotations

import math

# What a task's metric can be (runs' task kinds): a padded range never leaves these bounds.
METRIC_BOUNDS = {
    "accuracy": (0.0, 1.0),
    "acc": (0.0, 1.0),
    "mse": (0.0, None),
    "cross_entropy": (0.0, None),
}


def padded_range(values: list[float], *, bounds: tuple[float | None, float | None] = (None, None), pad: float = 0.08) -> tuple[float, float] | None:
    """[min, max] of the finite `values` widened by `pad` of their spread (a single value gets a
    window of its own size), clipped to `bounds`; None without a finite value."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    lo, hi = min(finite), max(finite)
    margin = pad * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1e-3)
    lo, hi = lo - margin, hi + margin
    low_bound, high_bound = bounds
    if low_bound is not None:
        lo = max(lo, low_bound)
    if high_bound is not None:
        hi = min(hi, high_bound)
    return lo, hi


def metric_range(metric: str, values: list[float]) -> tuple[float, float] | None:
    """A padded range for the metric `metric` ("val_acc", "mse", ...) over `values`."""
    return padded_range(values, bounds=METRIC_BOUNDS.get(metric.removeprefix("val_"), (None, None)))


def decade_axis(values: list[float]) -> dict:
    """Layout of a log axis over the positive `values`.

    Where the data reach over two powers of ten or more: labels at powers of ten (10⁻³) only,
    unlabelled minor ticks between them. Otherwise, where that would leave one or two labels
    far from the data: a range around the data (at least 0.3 decades), labelled at 1, 2 and 5
    times a power of ten, or at every digit where those give fewer than three labels.
    """
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    decades = {"type": "log", "exponentformat": "power", "dtick": 1, "minor": {"dtick": "D1", "ticks": "inside", "showgrid": True}}
    if not positive:
        return decades
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    if math.floor(hi) - math.ceil(lo) >= 1:
        # A little room beyond the data, so that a curve lying on a power of ten is not drawn on the frame.
        return {**decades, "range": [lo - 0.1, hi + 0.1]}
    pad = max(0.05, (0.3 - (hi - lo)) / 2)
    lo, hi = lo - pad, hi + pad
    ticks = _log_ticks(lo, hi, (1, 2, 5))
    if len(ticks) < 3:
        ticks = _log_ticks(lo, hi, range(1, 10))
    return {"type": "log", "range": [lo, hi], "tickmode": "array", "tickvals": ticks, "ticktext": [tick_label(v) for v in ticks]}


def _log_ticks(lo: float, hi: float, mantissas) -> list[float]:
    """The values m × 10^k (m in `mantissas`) whose log10 lies in [lo, hi]."""
    return [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in mantissas
            if lo <= math.log10(m * 10.0**k) <= hi]


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def tick_label(value: float) -> str:
    """A tick of a log axis: 0.2, 5, 300 as they are; beyond 1e-3 .. 1e4, 2×10⁻⁵ as plotly's own labels read."""
    if 1e-3 <= value < 1e4:
        return f"{value:.3g}"
    exponent = math.floor(math.log10(value))
    mantissa = round(value / 10.0**exponent, 2)
    power = f"10{str(exponent).translate(_SUPERSCRIPT)}"
    return power if mantissa == 1 else f"{mantissa:g}×{power}"
