"""Axis ranges shared by the figures: a metric stays within the values it can take, a log axis
is labelled at powers of ten only."""

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
    """Layout of a log axis over the positive `values`: labels at powers of ten (10⁻³), unlabelled
    minor ticks between them, and at least one decade shown so that two labels always appear."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    axis = {"type": "log", "dtick": 1, "exponentformat": "power", "minor": {"dtick": "D1", "ticks": "inside", "showgrid": True}}
    if positive:
        # A little room beyond the data, so that a curve lying on a power of ten is not drawn on the frame.
        lo, hi = math.floor(math.log10(min(positive)) - 0.05), math.ceil(math.log10(max(positive)) + 0.05)
        axis["range"] = [lo, max(hi, lo + 1)]
    return axis
