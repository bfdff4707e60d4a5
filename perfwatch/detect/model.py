"""Plain data of the detector: one run's figure (Point), thresholds (DetectConfig), and a
found level change (ChangePoint). Frozen, no behaviour beyond validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LOWER = "lower_is_better"
HIGHER = "higher_is_better"
DIRECTIONS = (LOWER, HIGHER)

REGRESSION = "regression"
IMPROVEMENT = "improvement"

# Largest magnitude a run's figure may have. Far beyond any measurement (bytes, ns or FLOPs stay
# below 1e30) and far enough below float's 1.8e308 that squares, sums over millions of runs and
# differences stay finite: 1e308 is finite, but its square or its difference with -1e308 is not.
MAX_MAGNITUDE = 1e100


def usable(value: Any) -> bool:
    """A figure the detector can work with: a finite number of magnitude <= MAX_MAGNITUDE."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(x) and abs(x) <= MAX_MAGNITUDE


@dataclass(frozen=True)
class Point:
    """One run of one metric: its headline ``value`` (the median for timings) at time ``ts``.

    ``spread`` is the IQR of that run's samples and ``n`` the number of samples; both optional.
    ``ts`` is anything sortable (an int position, an ISO time string, a datetime).
    """

    ts: Any
    value: float
    spread: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class DetectConfig:
    """Thresholds of the detector. Every default is documented in docs/detection.md.

    min_effect      smallest relative change worth reporting, |after/before - 1| (0.01 = 1%).
    max_pvalue      largest p-value of the two-sample test on either side of a change.
    min_snr         smallest shift in units of the series' per-run noise (sigma).
    min_segment     points a new level must last; shorter excursions are transients (3 means a
                    spike of one or two runs never alerts).
    penalty         cost of one change in the segmentation, in units of
                    sigma^2 * long-run-variance-factor * log(n). Higher = fewer changes.
    clip            residuals beyond clip*sigma from a 5-point running median are winsorized.
    persistence     fraction of the points next to a change (up to 10 each side) that must sit
                    on their own side of the midpoint between the two levels.
    window          points each side of a change used to estimate before/after and test it.
    max_ar          cap on the lag-1 autocorrelation used to widen the noise.
    integer_min_run for integer counters: a new value must be seen on this many consecutive
                    runs (2: a one-run blip is a transient, any persisting change is real).
    auto_integer    treat a series as an integer counter when every value is an integer and
                    at least half of successive runs are equal (when is_integer is None).
    confirm         online only: extra runs that must still show the change before alerting.
    online_window   online only: trailing runs the online test looks at; a change is raised
                    at most online_window // 4 runs after it started.
    min_history     online only: runs needed before the first alert can be raised.
    online_pvalue   online only: max p-value there (min with max_pvalue). The online test is
                    repeated at every run, so it needs a stricter threshold than a single
                    retrospective look to keep false alarms per run equally rare.
    max_transient   retrospective only: an excursion of at most this many runs that returns to
                    (within half the excursion of) the level before it is a transient, not two
                    changes; 0 disables. Suggested by the real SAP series (one slow build spans
                    3-4 rows there), see docs/detection.md.
    tail_pvalue     online only: a young change is raised only once its new runs are this
                    improbable under the empirical distribution of the runs before it (all m
                    new runs beyond the least extreme of them: q**m); 1 disables the gate.
                    With a heavy tail in the history (GPU step times) this waits for an
                    extra run instead of alerting on a few slow runs in a row.
    """

    min_effect: float = 0.01
    max_pvalue: float = 0.001
    min_snr: float = 1.5
    min_segment: int = 3
    penalty: float = 3.0
    clip: float = 3.0
    persistence: float = 2 / 3
    window: int = 50
    max_ar: float = 0.85
    integer_min_run: int = 2
    auto_integer: bool = True
    confirm: int = 0
    online_window: int = 100
    min_history: int = 30
    online_pvalue: float = 1e-4
    tail_pvalue: float = 1e-4
    max_transient: int = 5

    def __post_init__(self) -> None:
        if self.min_effect < 0:
            raise ValueError("min_effect must be >= 0")
        if not all(0 < p <= 1 for p in (self.max_pvalue, self.online_pvalue, self.tail_pvalue)):
            raise ValueError("max_pvalue, online_pvalue and tail_pvalue must be in (0, 1]")
        if self.min_segment < 1 or self.integer_min_run < 1:
            raise ValueError("min_segment and integer_min_run must be >= 1")
        if self.max_transient < 0:
            raise ValueError("max_transient must be >= 0")
        if self.confirm < 0:
            raise ValueError("confirm must be >= 0")
        if self.online_window < 2 * self.min_segment + 2:
            raise ValueError("online_window is too small for min_segment")
        if not 0 <= self.persistence <= 1:
            raise ValueError("persistence must be in [0, 1]")


@dataclass(frozen=True)
class ChangePoint:
    """A level change. ``index``/``ts`` name the first point at the new level.

    ``before``/``after`` are the levels either side (geometric mean of the winsorized runs for
    positive series), ``change`` = (after - before) / |before| (+0.12: 12% higher; +-inf when
    before is 0), ``pvalue`` of the two-sample test (0.0 for exact integer counters),
    ``direction`` "regression" or "improvement" given the metric's direction, ``raised_at`` the
    ts of the run at which the online detector raised it (None for retrospective results).
    """

    index: int
    ts: Any
    before: float
    after: float
    change: float
    pvalue: float
    direction: str
    raised_at: Any = None

    @property
    def confidence(self) -> float:
        return 1.0 - self.pvalue


def classify(before: float, after: float, metric_direction: str) -> str:
    """'regression' or 'improvement' for a move from ``before`` to ``after``."""
    if metric_direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {metric_direction!r}")
    worse = after > before if metric_direction == LOWER else after < before
    return REGRESSION if worse else IMPROVEMENT


def relative_change(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else float("inf") if after > before else float("-inf")
    return (after - before) / abs(before)
