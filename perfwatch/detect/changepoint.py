"""Retrospective detection: every level change in a series.

Continuous metrics (method in docs/detection.md):
  1. work in log(value) when all values are positive, so noise and effects are relative;
  2. estimate the per-run noise sigma robustly (and floor it by each run's own median error
     from its IQR and sample count, which also weights the runs);
  3. winsorize runs further than ``clip`` sigma from a 5-point running median (spikes of one or
     two runs lose their leverage);
  4. optimal partitioning with a penalty per change scaled by sigma^2, the AR(1) long-run
     variance factor and log(n), segments at least ``min_segment`` runs;
  5. test each change on the runs either side (AR(1)-corrected z-test, min effect, min
     signal-to-noise, persistence) and drop the weakest failing one until all pass;
  6. steps 3-5 run twice: first with a 4x penalty and no autocorrelation, only to estimate
     sigma and the lag-1 autocorrelation from its residuals, then for real.
Integer counters go through counters.py instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from perfwatch.detect.counters import counter_changes, looks_like_counter
from perfwatch.detect.model import (
    ChangePoint,
    DetectConfig,
    Point,
    classify,
    relative_change,
    usable,
)
from perfwatch.detect.segment import partition
from perfwatch.detect.robust import (
    lag1_autocorr,
    longrun_factor,
    loo_neighbour_residuals,
    mean_var_factor,
    normal_pvalue,
    robust_sigma,
    spread_se,
    spread_weights,
    winsorize,
)

_PERSIST_SPAN = 10  # runs either side checked for persistence
_COARSE = 4.0  # penalty multiplier of the estimation pass


def detect(
    points: Sequence[Point],
    direction: str,
    config: DetectConfig = DetectConfig(),
    is_integer: bool | None = None,
) -> list[ChangePoint]:
    """All level changes of ``points`` (in time order), oldest first. An excursion that returns
    to the level before it within ``config.max_transient`` runs is a transient: its two
    changes are dropped (retrospective only: it needs the runs after the excursion)."""
    return detect_with_noise(points, direction, config, is_integer, None,
                             max_transient=config.max_transient)


def drop_transients(cps: list[ChangePoint], max_len: int) -> list[ChangePoint]:
    """Drop pairs of changes that make an excursion of at most ``max_len`` runs: the second
    moves the other way and lands back within half the excursion of the level before the
    first. Continuous series only: counters' blips are handled by integer_min_run."""
    out = list(cps)
    i = 0
    while i + 1 < len(out):
        a, b = out[i], out[i + 1]
        jump = a.after - a.before
        if (b.index - a.index <= max_len
                and (b.after - b.before) * jump < 0
                and abs(b.after - a.before) <= 0.5 * abs(jump)):
            del out[i : i + 2]
            i = max(i - 1, 0)
        else:
            i += 1
    return out


def usable_positions(points: Sequence[Point]) -> list[int] | None:
    """Positions of the points whose value the detector can use (model.usable), or None when
    all can. Non-finite or overflowing figures (inf, 1e308) would turn every sum of the series
    into inf or nan, so they are left out and the changes keep their positions in ``points``."""
    ok = [i for i, p in enumerate(points) if usable(p.value)]
    return None if len(ok) == len(points) else ok


def estimate_noise(points: Sequence[Point], config: DetectConfig) -> tuple[float, float] | None:
    """(sigma, lag-1 autocorrelation) of a continuous series in the detector's working units,
    from the coarse estimation pass; None for counters and too-short series."""
    model = noise_model(points, config)
    return None if model is None else model[:2]


def noise_model(points: Sequence[Point], config: DetectConfig
                ) -> tuple[float, float, np.ndarray] | None:
    """estimate_noise() plus the residuals of the coarse pass (each run minus the median of
    its coarse segment, in working units): the empirical noise distribution, tails included,
    that the online detector holds a young change's new runs against."""
    keep = usable_positions(points)
    if keep is not None:
        points = [points[i] for i in keep]
    values = np.array([float(p.value) for p in points], dtype=float)
    if values.size < 4 * config.min_segment or looks_like_counter(values):
        return None
    fit = _Fit(points, values, config, estimate_only=True)
    return fit.sigma, fit.phi, fit.resid


def detect_with_noise(
    points: Sequence[Point],
    direction: str,
    config: DetectConfig,
    is_integer: bool | None,
    noise_floor: tuple[float, float] | None,
    max_transient: int = 0,
) -> list[ChangePoint]:
    """detect(), with sigma and the autocorrelation no lower than ``noise_floor`` (the online
    detector estimates them on a longer history than the window it tests) and excursions of
    at most ``max_transient`` runs dropped (0: none; the online detector cannot see the return
    of an excursion in time, so it passes 0)."""
    classify(0.0, 1.0, direction)  # validates direction
    keep = usable_positions(points)
    if keep is not None:  # e.g. an Infinity stored by an old import: skipped, never the series' end
        cps = detect_with_noise([points[i] for i in keep], direction, config, is_integer, noise_floor, max_transient)
        return [dataclasses.replace(cp, index=keep[cp.index]) for cp in cps]
    values = np.array([float(p.value) for p in points], dtype=float)
    if is_integer is None:
        is_integer = config.auto_integer and looks_like_counter(values)
    if is_integer:
        return [
            ChangePoint(i, points[i].ts, b, a, relative_change(b, a), 0.0, classify(b, a, direction))
            for i, b, a in counter_changes(values, config.integer_min_run)
        ]
    if values.size < 2 * config.min_segment:
        return []
    fit = _Fit(points, values, config, noise_floor=noise_floor)
    cps = [
        ChangePoint(c, points[c].ts, s.before, s.after, s.change, s.pvalue,
                    classify(s.before, s.after, direction))
        for c, s in zip(fit.cps, fit.stats)
    ]
    return drop_transients(cps, max_transient) if max_transient else cps


class _Stat:
    __slots__ = ("z", "pvalue", "before", "after", "change", "ok")

    def __init__(self, z, pvalue, before, after, change, ok):
        self.z, self.pvalue, self.before, self.after, self.change, self.ok = (
            z, pvalue, before, after, change, ok)


class _Fit:
    """The segmentation of one continuous series and the test of each of its changes."""

    def __init__(self, points: Sequence[Point], values: np.ndarray, cfg: DetectConfig,
                 noise_floor: tuple[float, float] | None = None, estimate_only: bool = False):
        self.cfg = cfg
        self.log = bool(np.all(values > 0))
        y = np.log(values) if self.log else values.copy()
        self.y = y
        n = y.size
        tiny = 1e-9 * max(1.0, float(np.median(np.abs(y)))) if not self.log else 1e-9
        se = spread_se(values, [p.spread for p in points], [p.n for p in points], self.log)
        sigma = robust_sigma(loo_neighbour_residuals(y))
        w, floor = spread_weights(se, sigma)
        self.w = w
        phi = 0.0
        cps: list[int] = []
        stats: list[_Stat] = []
        # pass 1: coarse (penalty x _COARSE, no autocorrelation) only to estimate sigma and the
        # AR(1) coefficient from residuals that over-segmentation has not whitened;
        # pass 2: the real segmentation with those estimates.
        for mult in (_COARSE, 1.0):
            self.sigma = max(sigma, floor, tiny)
            self.phi = min(max(phi, 0.0), cfg.max_ar)
            self.yw = winsorize(y, self.sigma, cfg.clip)
            pen = mult * cfg.penalty * self.sigma**2 * longrun_factor(self.phi) * math.log(max(n, 3))
            cps = partition(self.yw, w, pen, cfg.min_segment)
            cps, stats = self._prune(cps)
            if mult == 1.0:
                break
            bounds = list(zip([0] + cps, cps + [n]))
            resid = np.empty(n)
            for a, b in bounds:
                resid[a:b] = y[a:b] - np.median(self.yw[a:b])
            sigma = robust_sigma(resid)
            w, floor = spread_weights(se, sigma)
            self.w = w
            phi = lag1_autocorr(resid, bounds, max(sigma, floor, tiny))
            if estimate_only:
                self.resid = resid
                self.sigma, self.phi = max(sigma, floor, tiny), min(max(phi, 0.0), cfg.max_ar)
                return
            if noise_floor is not None:
                sigma, phi = max(sigma, noise_floor[0]), max(phi, noise_floor[1])
        self.cps, self.stats = cps, stats

    def _prune(self, cps: list[int]) -> tuple[list[int], list[_Stat]]:
        cps = list(cps)
        stats = [self._test(cps, i) for i in range(len(cps))]
        while True:
            bad = [i for i, s in enumerate(stats) if not s.ok]
            if not bad:
                return cps, stats
            worst = min(bad, key=lambda i: abs(stats[i].z))
            del cps[worst], stats[worst]
            # A change's test reads only its neighbours: re-test the two that now border the gap
            # (re-testing all would be quadratic in the changes of a long history).
            for i in (worst - 1, worst):
                if 0 <= i < len(cps):
                    stats[i] = self._test(cps, i)

    def _test(self, cps: list[int], i: int) -> _Stat:
        cfg, y, yw, w = self.cfg, self.y, self.yw, self.w
        n = y.size
        c = cps[i]
        a = cps[i - 1] if i > 0 else 0
        b = cps[i + 1] if i + 1 < len(cps) else n
        lo, hi = max(a, c - cfg.window), min(b, c + cfg.window)
        wl, wr = w[lo:c], w[c:hi]
        m1 = float(np.dot(wl, yw[lo:c]) / wl.sum())
        m2 = float(np.dot(wr, yw[c:hi]) / wr.sum())
        n1, n2 = c - lo, hi - c
        var = self.sigma**2 * (
            mean_var_factor(self.phi, n1) / wl.sum() + mean_var_factor(self.phi, n2) / wr.sum()
        )
        z = (m2 - m1) / math.sqrt(var)
        p = normal_pvalue(z)
        if self.log:
            before, after = math.exp(m1), math.exp(m2)
            change = after / before - 1
        else:
            before, after = m1, m2
            change = relative_change(before, after)
        ok = (
            p <= cfg.max_pvalue
            and abs(change) >= cfg.min_effect
            and abs(m2 - m1) >= cfg.min_snr * self.sigma
            and self._persists(c, lo, hi, m1, m2)
        )
        return _Stat(z, p, before, after, change, ok)

    def _persists(self, c: int, lo: int, hi: int, m1: float, m2: float) -> bool:
        """Enough runs next to the change sit on their own side of the midpoint between the
        medians of the (up to 10) runs either side: a two-run spike plus one noisy run does not
        make a level, whose median would be the spike."""
        right = self.y[c : min(hi, c + _PERSIST_SPAN)]
        left = self.y[max(lo, c - _PERSIST_SPAN) : c]
        med_l, med_r = float(np.median(left)), float(np.median(right))
        sgn = 1.0 if m2 > m1 else -1.0
        if sgn * (med_r - med_l) <= 0:
            return False
        mid = (med_l + med_r) / 2
        for side, expect in ((right, 1.0), (left, -1.0)):
            k = int(np.sum(expect * sgn * (side - mid) > 0))
            need = max(min(self.cfg.min_segment, side.size), self.cfg.persistence * side.size)
            if k < need:
                return False
        return True
