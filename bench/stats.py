"""Summaries of repeated measurements: median and min–max, never a mean that one noisy run can drag."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Summary", "paired_ratios", "percentile", "summarize"]


@dataclass(frozen=True)
class Summary:
    median: float
    minimum: float
    maximum: float
    runs: int

    def scaled(self, factor: float) -> Summary:
        return Summary(self.median * factor, self.minimum * factor, self.maximum * factor, self.runs)

    def format(self, unit: str = "", digits: int = 1) -> str:
        """``12.3 ms (11.0–14.2)``: the median, then the range over every run."""
        suffix = f" {unit}" if unit else ""
        return f"{self.median:.{digits}f}{suffix} ({self.minimum:.{digits}f}–{self.maximum:.{digits}f})"

    def format_ratio(self) -> str:
        """``1.42× (1.30–1.61)``: a ratio's median, then its range."""
        return f"{self.median:.2f}× ({self.minimum:.2f}–{self.maximum:.2f})"


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("cannot summarize zero measurements")
    return Summary(statistics.median(values), min(values), max(values), len(values))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Summary:
    """Ratios of measurements taken side by side (round i of one with round i of the other).

    Pairing keeps a noisy moment of the machine on both sides of each ratio.
    """
    if len(numerators) != len(denominators):
        raise ValueError(f"unpaired measurements: {len(numerators)} vs {len(denominators)}")
    if any(d == 0 for d in denominators):
        raise ValueError("a denominator is zero")
    return summarize([n / d for n, d in zip(numerators, denominators, strict=True)])


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1), as load-testing tools report it."""
    if not values:
        raise ValueError("no values")
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]
