"""Labelled synthetic metric histories for scoring change detectors.

Each series: runs of one metric with a few level changes (|change| >= 3x the noise CV, both
ways), transient spikes of one or two runs that are NOT changes, and per-run spread/n as
perfwatch stores them. Families (noise models):

  lognormal  i.i.d. log-normal noise, CV 0.5-5%
  spikes     log-normal noise + frequent one/two-run spikes of +20..+100% (and a few -)
  ar1        AR(1)-correlated log-normal noise, phi 0.3-0.7, marginal CV 0.5-5%
  twostate   clock noise: each run in a slow state (prob 0.2-0.5) or not, plus jitter
  gpu        resampled launch-bound GPU step times: log-normal body + 3-6% of runs 30-50% slow
  counter    integer counters (graph breaks, recompilations): exact levels, one-run blips

Half the change-free budget goes to change-free series (label: no changes). Deterministic for a
seed: tune with one seed, report with another (run.py defaults to the report seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FAMILIES = ("lognormal", "spikes", "ar1", "twostate", "gpu", "counter")
TUNE_SEED = 1
REPORT_SEED = 2


@dataclass
class Series:
    name: str
    family: str
    values: list[float]
    spreads: list[float | None]
    ns: list[int | None]
    changes: list[int]  # first index at each new level
    signs: list[int]  # +1 up, -1 down
    cv: float
    change_free: bool = False
    is_integer: bool = False
    direction: str = "lower_is_better"
    transients: list[int] = field(default_factory=list)


def _positions(rng, n, k, gap=25, edge=20):
    for _ in range(1000):
        pos = np.sort(rng.choice(np.arange(edge, n - edge), size=k, replace=False))
        if k == 0 or np.all(np.diff(pos) >= gap):
            return [int(p) for p in pos]
    return []


def _noise(rng, family, n, cv):
    """Multiplicative run-to-run noise factors (median ~1) with marginal CV ~= cv."""
    if family in ("lognormal", "spikes"):
        return np.exp(rng.normal(0, cv, n))
    if family == "ar1":
        phi = rng.uniform(0.3, 0.7)
        e = rng.normal(0, cv * math.sqrt(1 - phi**2), n)
        x = np.empty(n)
        x[0] = rng.normal(0, cv)
        for i in range(1, n):
            x[i] = phi * x[i - 1] + e[i]
        return np.exp(x)
    if family == "twostate":
        p = rng.uniform(0.2, 0.5)
        jitter = cv / 3
        d = math.sqrt(max(cv**2 - jitter**2, 0)) / math.sqrt(p * (1 - p))
        state = rng.random(n) < p
        return np.exp(rng.normal(0, jitter, n) + d * state - d * p)
    if family == "gpu":
        # synthesized launch-bound step-time distribution: resample a large pool
        pool_body = np.exp(rng.normal(0, cv, 20000))
        tail_p = rng.uniform(0.03, 0.06)
        slow = rng.random(20000) < tail_p
        pool = np.where(slow, pool_body * (1 + rng.uniform(0.3, 0.5, 20000)), pool_body)
        return rng.choice(pool, size=n) / np.median(pool)
    raise ValueError(family)


def _continuous(rng, name, family, n, n_changes, change_free):
    cv = float(np.exp(rng.uniform(math.log(0.005), math.log(0.05))))
    changes = [] if change_free else _positions(rng, n, n_changes)
    level = np.full(n, rng.uniform(1.0, 1000.0))
    signs = []
    for c in changes:
        s = int(rng.choice([-1, 1]))
        mag = rng.uniform(3, 6) * cv
        level[c:] *= (1 + mag) if s > 0 else 1 / (1 + mag)
        signs.append(s)
    noise = _noise(rng, family, n, cv)
    values = level * noise
    spread_scale = np.full(n, 2 * cv)
    transients = []
    n_spikes = int(rng.integers(4, 10)) if family == "spikes" else int(rng.integers(0, 3))
    for _ in range(n_spikes):
        # transients stay clear of changes, of each other and of the last runs (where a
        # transient cannot yet be told from a new level)
        i = int(rng.integers(2, n - 6))
        width = int(rng.integers(1, 3))
        if any(abs(i - c) <= 4 for c in changes) or any(abs(i - t) <= 5 for t in transients):
            continue
        f = rng.uniform(1.2, 2.0) if rng.random() < 0.8 else 1 / rng.uniform(1.2, 1.5)
        values[i : i + width] *= f
        spread_scale[i : i + width] *= 3
        transients.append(i)
    # per-run spread: IQR of 20 within-run samples around the run's value
    ns = [20] * n
    samples = np.exp(rng.normal(0, 1, (n, 20)) * spread_scale[:, None])
    q75, q25 = np.percentile(samples, [75, 25], axis=1)
    spreads = (values * (q75 - q25)).tolist()
    return Series(name, family, values.tolist(), spreads, ns, changes, signs, cv, change_free,
                  transients=transients)


def _counter(rng, name, n, n_changes, change_free):
    changes = [] if change_free else _positions(rng, n, n_changes)
    level = np.full(n, int(rng.integers(0, 4)), dtype=float)
    signs = []
    for c in changes:
        cur = level[c]
        step = int(rng.integers(1, 4))
        s = 1 if cur < 1 or rng.random() < 0.6 else -1
        step = step if s > 0 else -min(step, int(cur))
        if step == 0:
            step, s = 1, 1
        level[c:] += step
        signs.append(s)
    values = level.copy()
    transients = []
    for i in np.nonzero(rng.random(n) < 0.01)[0]:
        if 0 < i < n - 3 and not any(abs(i - c) <= 2 for c in changes):
            values[i] += int(rng.integers(1, 4))
            transients.append(int(i))
    return Series(name, "counter", values.tolist(), [None] * n, [None] * n, changes, signs, 0.0,
                  change_free, is_integer=True, transients=transients)


def generate(seed: int = REPORT_SEED, per_family: int = 24, free_per_family: int = 16,
             n: int = 300) -> list[Series]:
    """per_family series with 2-5 changes and free_per_family change-free series per family."""
    rng = np.random.default_rng(seed)
    out = []
    for fam in FAMILIES:
        for j in range(per_family + free_per_family):
            free = j >= per_family
            k = int(rng.integers(2, 6))
            name = f"{fam}_{'free' if free else 'chg'}_{j:03d}"
            if fam == "counter":
                s = _counter(rng, name, n, k, free)
            else:
                s = _continuous(rng, name, fam, n, k, free)
            if rng.random() < 0.3 and fam != "counter":
                # a throughput-like metric: higher is better (labels are about levels, not badness)
                s.direction = "higher_is_better"
            out.append(s)
    return out
