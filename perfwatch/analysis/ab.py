"""`perfwatch ab`'s decision: is the head build slower, faster or the same as the base, per case.

Pure: round results in, a verdict out; the rounds themselves are run by ``perfwatch.measure.ab_rounds``.

The replication that matters is the round: each round runs a fresh base process and a fresh head
process back to back, so host drift over minutes hits both. The figure judged is the paired log
ratio of each round, d_r = log(head_r) - log(base_r), of the timing figure (``graph_time`` where
both arms have it, the CUDA-graph replay that launch noise does not blur; ``step_time``
otherwise). Its mean over the rounds is the log of the head/base ratio; a Student t interval of
that mean says how sure we are.

Sequential looks, honestly counted: after every round from ``min_rounds`` on, the interval is
looked at and the case may stop. Looking up to ``max_rounds`` times at a 1 - alpha interval would
raise the false-alarm rate with every look, so each interval is taken at level
1 - alpha / max_rounds (Bonferroni over the looks; conservative, since fewer looks happen).
The chance that an A/A comparison is ever called ``slower`` is then at most alpha (default 0.01).

Verdicts, with margin m = log(1 + min_effect) (default 1%) on the log ratio:
  slower   CI low > 0 and CI high > m (surely slower, and possibly by more than the margin)
  faster   CI high < 0 and CI low < -m
  same     the CI inside (-m, +m): any change is smaller than the margin
  unknown  the budget ran out first; ``missed`` is the largest slowdown it could not rule out
  failed   a round of either arm did not end ok (its status says why)
An exact counter from round 1 (graph breaks, recompilations, accuracy pass) that is worse in the
head is a regression in itself: the case is ``slower`` with a check naming it, whatever the times.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from perfwatch.domain.errors import UsageError
from perfwatch.domain.metrics import HIGHER, spec as metric_spec
from perfwatch.domain.results import STATUS_OK, CaseResult
from perfwatch.domain.tdist import t_ppf, t_two_sided

SLOWER, FASTER, SAME, UNKNOWN, FAILED, RUNNING = "slower", "faster", "same", "unknown", "failed", "running"
EXACT_CHECKS = ("graph_breaks", "recompilations", "accuracy_pass")


@dataclass(frozen=True)
class Settings:
    min_rounds: int = 3
    max_rounds: int = 20
    alpha: float = 0.01
    min_effect: float = 0.01

    def __post_init__(self) -> None:
        # Checked here so the command and any script get the same messages (exit 2).
        if self.min_rounds < 2:
            raise UsageError(f"--min-rounds must be >= 2 (an interval needs two rounds), got {self.min_rounds}")
        if not self.min_rounds <= self.max_rounds <= 10_000:
            raise UsageError(f"--max-rounds must lie in [--min-rounds, 10000], got {self.max_rounds} "
                             f"(min rounds {self.min_rounds})")
        if not (math.isfinite(self.alpha) and 0 < self.alpha < 1):
            raise UsageError(f"--alpha must be a number in (0, 1), got {self.alpha}")
        if not (math.isfinite(self.min_effect) and 0 < self.min_effect < 1):
            raise UsageError(f"--min-effect must be a fraction in (0, 1) (0.01 = 1%), got {self.min_effect}")

    @property
    def level(self) -> float:
        """Confidence level of each look's interval (Bonferroni over max_rounds looks)."""
        return 1.0 - self.alpha / self.max_rounds

    @property
    def margin(self) -> float:
        return math.log1p(self.min_effect)


@dataclass(frozen=True)
class Interval:
    """The t interval of the mean paired log ratio, and the t-test of mean = 0."""

    n: int
    mean: float
    low: float
    high: float
    pvalue: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def interval(ds: Sequence[float], level: float) -> Interval:
    n = len(ds)
    if n < 2:
        raise ValueError("an interval needs two rounds")
    mean = statistics.fmean(ds)
    sd = statistics.stdev(ds)
    se = sd / math.sqrt(n)
    if se == 0:  # identical rounds: the mean is exact
        return Interval(n, mean, mean, mean, 1.0 if mean == 0 else 0.0)
    half = t_ppf(1 - (1 - level) / 2, n - 1) * se
    return Interval(n, mean, mean - half, mean + half, t_two_sided(mean / se, n - 1))


def timing_metric(base: Sequence[CaseResult], head: Sequence[CaseResult]) -> str:
    """``graph_time`` when every round of both arms has it (CUDA), else ``step_time``."""
    rounds = [*base, *head]
    return "graph_time" if rounds and all(c.metric("graph_time") is not None for c in rounds) else "step_time"


def log_ratios(base: Sequence[CaseResult], head: Sequence[CaseResult], metric: str) -> list[float]:
    """d_r = log(head_r) - log(base_r) for each round both arms finished."""
    out = []
    for b, h in zip(base, head):
        mb, mh = b.metric(metric), h.metric(metric)
        if mb is None or mh is None or mb.value <= 0 or mh.value <= 0:
            raise ValueError(f"round without a positive {metric}")
        out.append(math.log(mh.value) - math.log(mb.value))
    return out


def exact_regressions(base: CaseResult, head: CaseResult) -> list[str]:
    """Exact counters of round 1 that are worse in the head: each is a regression by itself."""
    found = []
    for name in EXACT_CHECKS:
        mb, mh = base.metric(name), head.metric(name)
        if mb is None or mh is None or mb.value == mh.value:
            continue
        worse = mh.value < mb.value if metric_spec(name).direction == HIGHER else mh.value > mb.value
        if worse:
            found.append(f"{metric_spec(name).display}: {mb.value:g} -> {mh.value:g}")
    return found


@dataclass(frozen=True)
class Decision:
    verdict: str
    rounds: int
    metric: str | None = None
    base: float | None = None  # median over the rounds of each arm's figure
    head: float | None = None
    ratio: float | None = None  # head / base: exp(mean log ratio)
    ci_low: float | None = None  # the ratio's interval, at the look's level
    ci_high: float | None = None
    pvalue: float | None = None
    detectable: float | None = None  # the interval's half-width as a ratio: the smallest change it can see
    missed: float | None = None  # unknown: the largest slowdown not ruled out (ci_high - 1)
    checks: tuple[str, ...] = ()
    reason: str = ""

    @property
    def decided(self) -> bool:
        return self.verdict != RUNNING

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("verdict", "rounds", "metric", "base", "head", "ratio", "ci_low",
                                             "ci_high", "pvalue", "detectable", "missed", "reason")} | {
            "checks": list(self.checks)}


def _exp(x: float) -> float:
    """exp, saturating: an interval from two noisy rounds may reach ratios beyond a float."""
    return math.exp(x) if x < 700 else math.inf


def _first_line(text: str | None) -> str:
    return text.splitlines()[0] if text else ""


def decide(base: Sequence[CaseResult], head: Sequence[CaseResult], settings: Settings, exhausted: bool) -> Decision:
    """The verdict on one case after the rounds so far (paired by index).

    ``exhausted``: no further round will run (budget spent or interrupted): a case still open
    is ``unknown`` rather than ``running``."""
    n = min(len(base), len(head))
    base, head = list(base[:n]), list(head[:n])
    for arm, rounds in (("base", base), ("head", head)):
        bad = next((c for c in rounds if c.status != STATUS_OK), None)
        if bad is not None:
            return Decision(FAILED, n, reason=f"{arm}: {bad.status}: {_first_line(bad.error)}")
    if n == 0:
        return Decision(UNKNOWN if exhausted else RUNNING, 0, reason="no round ran")
    metric = timing_metric(base, head)
    try:
        ds = log_ratios(base, head, metric)
    except ValueError as exc:
        return Decision(FAILED, n, metric, reason=str(exc))
    checks = tuple(exact_regressions(base[0], head[0]))
    figures = dict(metric=metric, base=statistics.median(c.metric(metric).value for c in base),
                   head=statistics.median(c.metric(metric).value for c in head),
                   ratio=math.exp(statistics.fmean(ds)), checks=checks)
    if n < 2:
        if checks:
            return Decision(SLOWER, n, **figures, reason="exact counters regressed")
        return Decision(UNKNOWN if exhausted else RUNNING, n, **figures, reason="fewer than two rounds")
    iv = interval(ds, settings.level)
    figures.update(ci_low=_exp(iv.low), ci_high=_exp(iv.high), pvalue=iv.pvalue, detectable=_exp(iv.half_width) - 1)
    m = settings.margin
    if checks:
        return Decision(SLOWER, n, **figures, reason="exact counters regressed")
    if n >= settings.min_rounds:
        if iv.low > 0 and iv.high > m:
            return Decision(SLOWER, n, **figures, reason="slower beyond the noise")
        if iv.high < 0 and iv.low < -m:
            return Decision(FASTER, n, **figures, reason="faster beyond the noise")
        if -m < iv.low and iv.high < m:
            return Decision(SAME, n, **figures, reason=f"any change within ±{settings.min_effect * 100:g}%")
    if exhausted:
        missed = _exp(iv.high) - 1
        return Decision(UNKNOWN, n, **figures, missed=missed,
                        reason=f"budget spent; a slowdown up to {missed * 100:.2f}% not ruled out")
    return Decision(RUNNING, n, **figures)
