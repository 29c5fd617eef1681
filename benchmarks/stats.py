"""Summaries of latency samples (seconds in, milliseconds out) and pairwise ratios."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least q% of samples at or below it."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(seconds: Sequence[float]) -> dict[str, float | int]:
    if not seconds:
        return {"n": 0}
    values = sorted(seconds)
    ms = lambda v: round(v * 1000.0, 3)  # noqa: E731
    return {"n": len(values), "min": ms(values[0]), "median": ms(statistics.median(values)),
            "p95": ms(percentile(values, 95)), "max": ms(values[-1]), "mean": ms(statistics.fmean(values))}


def pairwise_ratio(ours: Sequence[float], other: Sequence[float]) -> dict[str, float | int]:
    """ours[i] / other[i] for runs of the same iteration (interleaved A/B pairs)."""
    pairs = [a / b for a, b in zip(ours, other) if b > 0]
    if not pairs:
        return {"n": 0}
    values = sorted(pairs)
    return {"n": len(values), "min": round(values[0], 3), "median": round(statistics.median(values), 3),
            "p95": round(percentile(values, 95), 3), "max": round(values[-1], 3)}


def pairwise_difference_ms(ours: Sequence[float], other: Sequence[float]) -> dict[str, float | int]:
    """ours[i] - other[i] in milliseconds: the overhead over the floor, iteration by iteration."""
    return summary([a - b for a, b in zip(ours, other)]) if ours and other else {"n": 0}
