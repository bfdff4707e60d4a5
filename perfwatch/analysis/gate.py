"""The verdict on one run: did it regress, against each series' own noise? (docs/verdict.md)

For every series the run measured, the gate sets the run's value against the same series' last
earlier runs (``GateConfig.baseline``, at least ``min_history``):

- **Noise from the replication that varies.** A run's value scatters from run to run by more than
  its own samples say. The gate estimates that scatter three ways and takes the largest: the
  spread of the earlier runs' values (t with k-1 degrees of freedom), the spread between the
  fresh processes inside each run (``--processes``: pooled over the history), and the run's own
  confidence interval (samples). All on a log scale: changes are relative. The earlier runs'
  variance borrows from the run's other series of the same metric (pooled_variance.py): 4 df of
  one series' own become 4 + d0, which is what lets 5 runs see a 2% change.
- **A prediction test.** The new value's distance from the baseline mean, over the noise times
  sqrt(1 + 1/k), is Student-t under "nothing changed": its one-sided p-value says how surprising
  a slowdown this large is.
- **False alarms bounded per run, not per series.** A suite run judges hundreds of series; the
  p-values of a run's noisy series go through Holm's step-down procedure at ``alpha`` (default 1%),
  so a clean run raises any false alarm at all with probability at most ``alpha`` (if the noise
  model holds: docs/verdict.md gives the measured rate). A change must also exceed ``min_effect``.
- **What it could have seen.** Each series reports ``detectable``: the smallest change the gate
  would have flagged given its noise, history length and the run's family size. A series whose
  detectable change exceeds ``max_detectable`` is ``too_noisy`` — said, not silently passed.
- Exact counters (graph breaks, recompilations, accuracy pass) are judged exactly; measured
  counts (page faults) are measurements like any other. A case that missed its ``--precision``
  target is ``imprecise`` and cannot raise a timing regression. A series with no history whose
  sibling series (same case, other settings) has one is ``settings_changed``, never a regression.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from perfwatch.domain import metrics as catalogue
from perfwatch.domain.metrics import HIGHER
from perfwatch.domain import tdist
from perfwatch.analysis.pooled_variance import Prior, fit_prior, moderate
from perfwatch.store.baselines import GatePoint, GateSeries

REGRESSION, IMPROVEMENT, SAME = "regression", "improvement", "same"
TOO_NOISY, NO_BASELINE, IMPRECISE, SETTINGS_CHANGED = "too_noisy", "no_baseline", "imprecise", "settings_changed"
VERDICTS = (REGRESSION, IMPROVEMENT, SAME, TOO_NOISY, NO_BASELINE, IMPRECISE, SETTINGS_CHANGED)
# derived figures: they move with step_time, one cause, so they are not judged twice
DERIVED = ("throughput", "speedup_vs_eager", "step_time_mad")
# the figures --precision is about (graph_time has its own replays, unaffected by a noisy step)
PRECISION_BOUND = ("step_time", "throughput", "host_time")
_Z95 = 1.959964
POOL_MIN_HISTORY = 5  # earlier runs a series needs before it borrows noise from the others


def t_sf(t: float, df: float) -> float:
    """P(T >= t): Student t, or the normal where the noise is known (df infinite)."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    if math.isinf(df) or df > 1e6:
        return 0.5 * math.erfc(t / math.sqrt(2))
    half = 0.5 * tdist.t_two_sided(t, df)  # the tail itself, not 1 - cdf: p-values as small as 1e-12 stay exact
    return half if t >= 0 else 1.0 - half


def t_ppf(p: float, df: float) -> float:
    if math.isinf(df) or df > 1e6:
        lo, hi = -40.0, 40.0  # the normal quantile by bisection on erfc: no scipy here
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if 1 - 0.5 * math.erfc(mid / math.sqrt(2)) < p else (lo, mid)
        return (lo + hi) / 2
    return tdist.t_ppf(p, df)


@dataclass(frozen=True)
class GateConfig:
    alpha: float = 0.01  # family-wise false-alarm rate of one whole clean run
    min_effect: float = 0.01  # floor: smaller changes are never flagged (relative)
    baseline: int = 20  # earlier runs the baseline is made of (the most recent ones)
    min_history: int = 3  # fewer earlier runs: no baseline to judge against
    max_detectable: float = 0.25  # a series that could not see a change this large is too noisy
    pool: bool = True  # borrow noise across the run's series of one metric (pooled_variance.py)

    def __post_init__(self) -> None:
        checks = (("alpha", 0 < self.alpha < 1, "a probability in (0, 1)"),
                  ("min_effect", 0 <= self.min_effect < 1, "a fraction in [0, 1)"),
                  ("baseline", isinstance(self.baseline, int) and self.baseline >= self.min_history,
                   f"a whole number of runs >= {self.min_history}"),
                  ("max_detectable", 0 < self.max_detectable, "a positive fraction"))
        for name, ok, what in checks:
            # NaN fails every comparison, so it lands here too
            if not ok:
                raise ValueError(f"gate {name} must be {what}, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Verdict:
    series_id: int
    metric: str
    unit: str
    direction: str
    suite: str
    benchmark: str
    mode: str
    backend: str
    params_key: str
    hostname: str
    verdict: str
    after: float
    before: float | None = None  # the baseline (mean of the earlier runs, on the log scale)
    change: float | None = None  # relative change from the baseline
    pvalue: float | None = None  # one-sided, before the family-wise correction
    detectable: float | None = None  # smallest relative worsening the gate would have flagged here
    noise: float | None = None  # relative run-to-run noise used (one run's sigma)
    noise_source: str | None = None  # runs | processes | samples | exact
    baseline_runs: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def flagged(self) -> bool:
        return self.verdict == REGRESSION


def judged(metric: str) -> bool:
    """Metrics the gate judges: all but the figures derived from another judged one."""
    return metric not in DERIVED


# --- noise -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Noise:
    sigma: float  # one run's relative (log-scale) standard deviation
    df: float  # degrees of freedom of its estimate (inf: known)
    source: str


def _rel_se(p: GatePoint) -> float | None:
    """The relative standard error of a point's value, from its 95% confidence interval."""
    if p.ci_low is None or p.ci_high is None or p.value <= 0:
        return None
    return max(0.0, (p.ci_high - p.ci_low) / 2 / _Z95 / p.value)


def runs_variance(base: Sequence[GatePoint]) -> float:
    """The sample variance of the earlier runs' values, log scale (``len(base) - 1`` df)."""
    return statistics.variance([math.log(p.value) for p in base])


def run_noise(base: Sequence[GatePoint], new: GatePoint, prior: Prior | None = None) -> Noise:
    """The largest of the three noise estimates (see the module docstring), with its df; the
    runs' variance moderated by ``prior``, the common noise of the run's series of this metric."""
    k = len(base)
    s2, df = moderate(runs_variance(base), k - 1, prior)
    candidates = [Noise(math.sqrt(s2), df, "runs+pooled" if prior else "runs")]
    # between fresh processes inside runs, pooled over the history and this run
    ss, df = 0.0, 0
    for p in (*base, new):
        if len(p.replicates) >= 2 and all(x > 0 for x in p.replicates):
            r = [math.log(x) for x in p.replicates]
            m = statistics.fmean(r)
            ss += sum((x - m) ** 2 for x in r)
            df += len(r) - 1
    if df:
        n_new = max(len(new.replicates), 1)
        candidates.append(Noise(math.sqrt(ss / df / n_new), df, "processes"))
    ses = [s for s in (_rel_se(p) for p in (*base, new)) if s is not None]
    if ses:
        candidates.append(Noise(max(statistics.median(ses), _rel_se(new) or 0.0), math.inf, "samples"))
    return max(candidates, key=lambda c: c.sigma)


# --- judging ---------------------------------------------------------------------------------

def _meta(s: GateSeries) -> dict[str, Any]:
    m = s.meta
    return dict(series_id=s.series_id, metric=m["metric"], unit=m["unit"], direction=m["direction"], suite=m["suite"],
                benchmark=m["benchmark"], mode=m["mode"], backend=m["backend"], params_key=m["params_key"],
                hostname=m["hostname"])


def _worse_sign(direction: str) -> int:
    return -1 if direction == HIGHER else 1


def _exact(s: GateSeries, base: Sequence[GatePoint]) -> Verdict:
    before = statistics.median(p.value for p in base)
    new = s.point.value
    sign = _worse_sign(s.meta["direction"])
    change = (new - before) / abs(before) if before else (0.0 if new == before else math.copysign(math.inf, new - before))
    verdict = SAME if new == before else REGRESSION if sign * (new - before) > 0 else IMPROVEMENT
    return Verdict(**_meta(s), verdict=verdict, after=new, before=before, change=change, pvalue=0.0 if verdict != SAME else None,
                   detectable=0.0, noise=0.0, noise_source="exact", baseline_runs=len(base))


@dataclass(frozen=True)
class _Test:
    series: GateSeries
    base: tuple[GatePoint, ...]
    before: float
    change: float
    stat: float  # t statistic, positive = worse
    noise: Noise
    scale: float  # noise * sqrt(1 + 1/k)
    pvalue: float


def _loggable(s: GateSeries, base: Sequence[GatePoint]) -> bool:
    # zero or negative figures (an unchanged RSS increase of 0): no log scale
    return s.point.value > 0 and all(p.value > 0 for p in base)


def _test(s: GateSeries, base: Sequence[GatePoint], prior: Prior | None = None) -> _Test | None:
    if not _loggable(s, base):
        return None
    logs = [math.log(p.value) for p in base]
    k = len(logs)
    centre = statistics.fmean(logs)
    noise = run_noise(base, s.point, prior)
    scale = noise.sigma * math.sqrt(1 + 1 / k)
    diff = math.log(s.point.value) - centre
    stat = _worse_sign(s.meta["direction"]) * diff / scale if scale > 0 else (math.inf if diff else 0.0)
    if scale > 0:
        p = t_sf(stat, noise.df)
    else:
        p = 0.0 if _worse_sign(s.meta["direction"]) * diff > 0 else 1.0
    return _Test(s, tuple(base), math.exp(centre), math.expm1(diff), stat, noise, scale, p)


def _detectable(t: _Test, level: float, floor: float, direction: str) -> float:
    if t.scale <= 0:
        return floor
    crit = t_ppf(1 - level, t.noise.df) * t.scale
    worse = math.expm1(crit) if direction != HIGHER else -math.expm1(-crit)
    return max(floor, worse)


def holm(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down rejections: family-wise error at most ``alpha`` under any dependence."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    reject = [False] * len(pvalues)
    m = len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (m - rank):
            break
        reject[i] = True
    return reject


def judge(series: Sequence[GateSeries], config: GateConfig = GateConfig(),
          siblings: dict[int, list[str]] | None = None) -> list[Verdict]:
    """A verdict for every judged series of one run (pure: the store's rows in, verdicts out).

    ``siblings``: for series without history, the params_key of their sibling series (another
    setting of the same case and metric) — a reason to say ``settings_changed``."""
    verdicts: list[Verdict] = []
    tests: list[_Test] = []
    noisy: list[tuple[GateSeries, list[GatePoint]]] = []
    for s in series:
        if not judged(s.meta["metric"]) or s.point.status != "ok":
            continue
        base = [p for p in s.earlier if p.status == "ok"][-config.baseline:]
        exact = catalogue.is_exact(s.meta["metric"], s.meta["unit"])
        if len(base) < (1 if exact else config.min_history):
            sib = (siblings or {}).get(s.series_id) or []
            why = SETTINGS_CHANGED if sib else NO_BASELINE
            note = (f"settings differ from the history ({s.meta['params_key']} vs {', '.join(sib)}): a new baseline starts"
                    if sib else f"{len(base)} earlier run(s); {config.min_history} needed")
            verdicts.append(Verdict(**_meta(s), verdict=why, after=s.point.value, baseline_runs=len(base), note=note))
            continue
        if exact:
            verdicts.append(_exact(s, base))
            continue
        if s.meta["metric"] in PRECISION_BOUND and s.point.precision_met is False:
            t = _test(s, base)
            verdicts.append(Verdict(**_meta(s), verdict=IMPRECISE, after=s.point.value,
                                    before=t.before if t else None, change=t.change if t else None,
                                    baseline_runs=len(base), note="missed its --precision target within --max-time"))
            continue
        if not _loggable(s, base):
            verdicts.append(Verdict(**_meta(s), verdict=SAME if s.point.value == base[-1].value else TOO_NOISY,
                                    after=s.point.value, before=base[-1].value, baseline_runs=len(base),
                                    note="not positive: no relative scale"))
            continue
        noisy.append((s, base))
    priors = _priors(noisy) if config.pool else {}
    tests = [_test(s, base, priors.get(_pool_key(s)) if _poolable(s, base) else None) for s, base in noisy]
    m = max(len(tests), 1)
    rejected = holm([t.pvalue for t in tests], config.alpha)
    for t, rej in zip(tests, rejected):
        direction = t.series.meta["direction"]
        # the floor: min_effect, and the metric's smallest meaningful absolute change (host jitter)
        floor = max(config.min_effect, catalogue.spec(t.series.meta["metric"], t.series.meta["unit"]).min_abs / t.before)
        noise_only = _detectable(t, config.alpha / m, config.min_effect, direction)  # what the noise allows
        detectable = max(noise_only, floor)
        worse = math.copysign(1, t.change) == _worse_sign(direction) and t.change != 0
        if rej and worse and abs(t.change) >= floor:
            verdict = REGRESSION
        elif noise_only > config.max_detectable:
            verdict = TOO_NOISY
        elif not worse and abs(t.change) >= floor and t_sf(-t.stat, t.noise.df) <= config.alpha / m:
            verdict = IMPROVEMENT
        else:
            verdict = SAME
        verdicts.append(Verdict(**_meta(t.series), verdict=verdict, after=t.series.point.value, before=t.before,
                                change=t.change, pvalue=t.pvalue, detectable=detectable, noise=t.noise.sigma,
                                noise_source=t.noise.source, baseline_runs=len(t.base)))
    return verdicts


def _pool_key(s: GateSeries) -> tuple[str, str, str]:
    # series pooled together: one metric on one backend (step times of different cases are alike
    # in their noise far more than a step time and a page-fault count are)
    return s.meta["metric"], s.meta["unit"], s.meta["backend"]


def _poolable(s: GateSeries, base: Sequence[GatePoint]) -> bool:
    """Series that borrow noise: figures that are medians of many samples, with ``POOL_MIN_HISTORY``
    earlier runs. A single wall-clock interval (first call, compile phases: the metrics with a
    jitter floor) is heavy-tailed (the first run on a cold machine read 1026 ms against ~170 ms
    after, on the H200), and from fewer runs a series too noisy for the group cannot be told
    apart: borrowing a quiet prior would turn such a tail into an alarm (docs/verdict.md)."""
    return len(base) >= POOL_MIN_HISTORY and catalogue.spec(s.meta["metric"], s.meta["unit"]).min_abs == 0


def _priors(noisy: Sequence[tuple[GateSeries, Sequence[GatePoint]]]) -> dict[tuple[str, str, str], Prior]:
    groups: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
    for s, base in noisy:
        if not _poolable(s, base):
            continue
        v, d = groups.setdefault(_pool_key(s), ([], []))
        v.append(runs_variance(base))
        d.append(len(base) - 1)
    fitted = {key: fit_prior(v, d) for key, (v, d) in groups.items()}
    return {key: p for key, p in fitted.items() if p is not None}


def summary(verdicts: Sequence[Verdict]) -> dict[str, int]:
    out = {v: 0 for v in VERDICTS}
    for v in verdicts:
        out[v.verdict] += 1
    return out


# --- over the store --------------------------------------------------------------------------

def run_gate(engine, run_id: str, config: GateConfig = GateConfig(), store: bool = True) -> list[Verdict]:
    """Judge run ``run_id`` against each series' history; store its regressions (and, with
    ``store``, every verdict, for report and dashboard). The regressions it raises are the same
    stored rows the change-point detector confirms later (one per series and run)."""
    from perfwatch.store import baselines
    from perfwatch.store import verdicts as stored

    series = baselines.run_series(engine, run_id, last=config.baseline)
    young = [{**s.meta, "id": s.series_id} for s in series
             if len([p for p in s.earlier if p.status == "ok"]) < config.min_history]
    siblings = baselines.siblings(engine, young) if young else {}
    out = judge(series, config, siblings)
    if store:
        points = {s.series_id: s.point for s in series}
        _record(engine, run_id, out, points)
        stored.save(engine, run_id, [v.to_dict() for v in out])
    return out


def _record(engine, run_id: str, out: Sequence[Verdict], points: dict[int, GatePoint]) -> None:
    from perfwatch.store import history

    rows = [{"series_id": v.series_id, "run_id": run_id, "ts": points[v.series_id].created_at, "raised_run_id": run_id,
             "before": v.before, "after": v.after, "change": v.change, "pvalue": v.pvalue}
            for v in out if v.flagged]
    if rows:
        history.record(engine, rows)
