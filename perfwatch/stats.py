"""Summary statistics of timing samples: median, IQR, MAD and a distribution-free CI of the median."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    q1: float
    q3: float
    mad: float
    ci_low: float
    ci_high: float
    mean: float
    stdev: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted data."""
    if not sorted_xs:
        raise ValueError("no samples")
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def median_ci(sorted_xs: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """95% CI of the median from order statistics (binomial, normal approximation).

    Distribution-free, which matters because step times are right-skewed and multi-modal.
    """
    n = len(sorted_xs)
    if n < 3:
        return sorted_xs[0], sorted_xs[-1]
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half))
    return sorted_xs[lo], sorted_xs[hi]


def summarize(samples: Sequence[float]) -> Summary:
    xs = sorted(float(x) for x in samples)
    n = len(xs)
    med = quantile(xs, 0.5)
    mad = quantile(sorted(abs(x - med) for x in xs), 0.5)
    mean = sum(xs) / n
    stdev = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    lo, hi = median_ci(xs)
    return Summary(n=n, median=med, q1=quantile(xs, 0.25), q3=quantile(xs, 0.75), mad=mad, ci_low=lo, ci_high=hi, mean=mean, stdev=stdev)
