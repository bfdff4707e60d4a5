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


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected).

    The test Google benchmark's compare.py uses for timing samples: no normality assumed.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = r
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    mu = n1 * n2 / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)  # continuity correction
    return math.erfc(max(z, 0.0) / math.sqrt(2))
