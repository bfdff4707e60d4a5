"""Borrowing noise across series: empirical-Bayes moderated variances (Smyth 2004, limma).

A pull request's run is judged against 3-5 earlier runs of each series. A variance from 5 runs has
4 degrees of freedom, and Student's t at 4 df is so wide in the far tail a family-wise test needs
(per-series level 0.01/30) that a 2% slowdown of a series with 0.2% scatter is missed half the
time. But one run judges many series of the same metric (the step time of every case), and their
noise levels are alike: together they say what a series' variance usually is. The moderated
variance of a series is the weighted mean of its own sample variance (``d`` df) and that common
prior (``d0`` df), and its t statistic has ``d + d0`` degrees of freedom.

The prior is fitted to the sample variances by the method of moments on their logarithms (limma's
``fitFDist``): the spread of log s² beyond what sampling alone explains (trigamma(d/2)) measures
how different the series' true noise levels are. Alike series give a large ``d0`` (much
borrowing); one very noisy series among quiet ones widens that spread and so shrinks ``d0``:
the borrowing adapts, and a noisy series is not made to look quiet by its neighbours. ``d0`` is
capped at the total df of the series it was fitted to (the prior cannot know more than its data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from perfwatch.domain.tdist import betai

MIN_SERIES = 4  # fewer series than this: no prior, each series on its own
MAX_DF = math.inf  # the moderated t's degrees of freedom at most (heavier tails than Gaussian: see docs/verdict.md)
OUTLIER_P = 0.01  # a series' variance this improbable under the prior: not moderated


def digamma(x: float) -> float:
    acc = 0.0
    while x < 6.0:
        acc -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return acc + math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


def trigamma(x: float) -> float:
    acc = 0.0
    while x < 6.0:
        acc += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    return acc + 1 / x + f / 2 + f / x * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f * (1 / 30 - f * 5 / 66))))


def trigamma_inverse(y: float) -> float:
    """The x > 0 with trigamma(x) = y (trigamma falls monotonically from +inf to 0)."""
    lo, hi = 1e-8, 1e8
    for _ in range(200):  # bisection on a log scale: plenty of digits, no derivative needed
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if trigamma(mid) < y else (mid, hi)
        if hi / lo < 1 + 1e-12:
            break
    return math.sqrt(lo * hi)


@dataclass(frozen=True)
class Prior:
    s2: float  # the typical variance of a series in the group
    df: float  # how much it is worth, in degrees of freedom (inf: the series all share one noise)


def fit_prior(variances: Sequence[float], dfs: Sequence[float]) -> Prior | None:
    """The common prior of a group of series' sample variances, or None when too few to fit."""
    pairs = [(s2, d) for s2, d in zip(variances, dfs) if s2 > 0 and d > 0 and math.isfinite(s2)]
    if len(pairs) < MIN_SERIES:
        return None
    e = [math.log(s2) - digamma(d / 2) + math.log(d / 2) for s2, d in pairs]
    n = len(e)
    mean = sum(e) / n
    extra = sum((x - mean) ** 2 for x in e) / (n - 1) - sum(trigamma(d / 2) for _, d in pairs) / n
    total_df = float(sum(d for _, d in pairs))
    if extra <= 0:  # no more spread than sampling explains: one noise level for all
        d0 = total_df
    else:
        d0 = min(2 * trigamma_inverse(extra), total_df)
    s2_0 = math.exp(mean + digamma(d0 / 2) - math.log(d0 / 2))
    return Prior(s2_0, d0)


def f_sf(f: float, d1: float, d2: float) -> float:
    """P(F(d1, d2) >= f)."""
    if f <= 0:
        return 1.0
    return betai(d2 / 2, d1 / 2, d2 / (d2 + d1 * f))


def moderate(s2: float, df: float, prior: Prior | None) -> tuple[float, float]:
    """A series' moderated variance and its degrees of freedom.

    A series far noisier than the prior allows (its variance in the top ``OUTLIER_P`` of what the
    prior predicts) is not of the group: it keeps its own variance and df, so quiet neighbours
    never make a noisy series look quiet (limma's robust fit serves the same end)."""
    if prior is None or f_sf(s2 / prior.s2, df, prior.df) < OUTLIER_P:
        return s2, df
    return (prior.df * prior.s2 + df * s2) / (prior.df + df), min(prior.df + df, MAX_DF)
