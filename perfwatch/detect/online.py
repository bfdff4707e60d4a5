"""Online use: as each run arrives, is there a new level that was not there a run ago?

The online test is the retrospective detector run on the trailing ``online_window`` runs, so
both modes agree on what a change is. A change is *fresh* when no change within
``min_segment`` runs of it was found before. With ``confirm = k`` a fresh change is raised only
if the detector still finds it k runs later (raised_at is then that later run).

Tail gate: a young change is raised only once its new runs are also improbable under the
series' empirical noise distribution (tail_pvalue <= config.tail_pvalue); until then it waits
and is judged again at the next run, so a few runs from a known heavy tail (slow GPU steps) in
a row do not alert, while a persisting step does one or two runs later at most.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from perfwatch.detect.changepoint import detect_with_noise, noise_model, usable_positions
from perfwatch.detect.counters import looks_like_counter
from perfwatch.detect.model import ChangePoint, DetectConfig, Point, usable


def _near(cp: ChangePoint, others: Sequence[ChangePoint], tol: int, same_way: bool = False) -> bool:
    return any(
        abs(cp.index - o.index) <= tol and (not same_way or (o.change > 0) == (cp.change > 0))
        for o in others
    )


def _max_lag(config: DetectConfig) -> int:
    """Oldest change (in runs before the newest) the online test may still raise: older ones
    surfacing late are mostly artefacts of the window sliding over old runs."""
    return config.online_window // 4


_NOISE_SPAN = 4  # the noise model is estimated on online_window * _NOISE_SPAN trailing runs
_NOISE_EVERY = 20  # detect_online re-estimates it every this many runs


def _noise(points, end, config):
    return noise_model(points[max(0, end - _NOISE_SPAN * config.online_window) : end], config)


def tail_pvalue(history: Sequence[float], new: Sequence[float], up: bool) -> float:
    """How likely the history's own (empirical) distribution makes the new runs. With m new
    runs, k = m - m // 10 of them (all of up to 9; a tenth may be outliers, as in the noise
    estimate) and t the k-th furthest out of them (above for an up-move, below for a
    down-move): the chance that at least k of m runs drawn from the history lie at least as far
    out as t, a binomial tail with q = (count beyond t + 1) / (len(history) + 1). For up to 9
    runs that is q ** m. Rank-based: a heavy tail seen in the history (e.g. 4% of runs 30-50%
    slow) makes a few slow runs in a row unremarkable, whatever sigma says."""
    h = np.asarray(history, dtype=float)
    x = np.sort(np.asarray(new, dtype=float))
    if h.size == 0 or x.size == 0:
        return 0.0
    m = x.size
    k = m - m // 10
    if up:
        t = x[m - k]
        count = int(np.sum(h >= t))
    else:
        t = x[k - 1]
        count = int(np.sum(h <= t))
    q = (count + 1) / (h.size + 1)
    return float(sum(math.comb(m, j) * q**j * (1 - q) ** (m - j) for j in range(k, m + 1)))


def _tail_ok(points, end, lo, cp, view, config, noise) -> bool:
    """Online gate on a young change (at most _max_lag runs old): its new runs must be
    improbable (tail_pvalue <= config.tail_pvalue) under the empirical noise distribution,
    taken relative to the level before the change. The noise distribution is the residuals of
    the long-history noise estimate (up to _NOISE_SPAN * online_window runs, each run minus its
    coarse segment's median), or of this view's segments when there is none. If the segment
    before the change is itself not a credible level by the same test (an excursion into the
    tail, e.g. slow, slow, normal, normal, slow, slow), the change is judged against the level
    before that excursion, so the return from an excursion that never alerted does not alert.
    A change that fails is not raised yet and is judged again at the next run."""
    if end - cp.index > _max_lag(config):
        return True
    alpha = config.tail_pvalue
    v = np.array([float(p.value) for p in points[lo:end]])
    y = np.log(v) if np.all(v > 0) else v
    c = cp.index - lo
    bounds = sorted({0, c} | {o.index - lo for o in view if 0 < o.index - lo < c})
    if noise is not None:
        resid = noise[2]
    else:
        resid = np.concatenate([y[a:b] - np.median(y[a:b]) for a, b in zip(bounds, bounds[1:])])
    if resid.size == 0 or len(bounds) < 2:
        return True

    def improbable(new, ref):
        d = new - ref
        return tail_pvalue(resid, d, float(np.median(d)) > 0) <= alpha

    prev = bounds[-2]
    ref = float(np.median(y[prev:c]))
    if len(bounds) >= 3:  # the segment before the change starts at a change of this view
        before_prev = float(np.median(y[bounds[-3]:prev]))
        if not improbable(y[prev:c], before_prev):
            ref = before_prev
    return improbable(y[c:], ref)


def _found(points, end, direction, config, is_integer, noise, gate=False):
    lo = max(0, end - config.online_window)
    cfg = dataclasses.replace(config, max_pvalue=min(config.max_pvalue, config.online_pvalue))
    found = [
        dataclasses.replace(cp, index=cp.index + lo)
        for cp in detect_with_noise(points[lo:end], direction, cfg, is_integer,
                                    None if noise is None else noise[:2])
    ]
    return _gate(points, end, found, config, is_integer, noise) if gate else found


def _gate(points, end, found, config, is_integer, noise):
    """The changes of ``found`` (the view at run ``end``) that may be raised now."""
    lo = max(0, end - config.online_window)
    if not found or config.tail_pvalue >= 1:
        return found
    if is_integer or (is_integer is None and config.auto_integer and looks_like_counter(
            np.array([float(p.value) for p in points[lo:end]]))):
        return found  # counters: changes are exact, no tail to be consistent with
    return [cp for cp in found if _tail_ok(points, end, lo, cp, found, config, noise)]


def online_step(
    history: Sequence[Point],
    direction: str,
    config: DetectConfig = DetectConfig(),
    is_integer: bool | None = None,
) -> ChangePoint | None:
    """Judge the newest run(s) of ``history`` (oldest first, newest last): the change raised
    now, with raised_at = ts of the newest run, or None. Stateless: it compares what the
    detector sees now with what it saw one run earlier (``confirm`` runs earlier, then
    re-checked now)."""
    if history and not usable(history[-1].value):
        return None  # nothing new to judge: the newest run's figure is not a number to use
    keep = usable_positions(history)
    if keep is not None:  # unusable figures stored earlier are skipped, positions kept
        cp = online_step([history[i] for i in keep], direction, config, is_integer)
        return None if cp is None else dataclasses.replace(cp, index=keep[cp.index])
    n = len(history)
    k = config.confirm
    if n - k < max(config.min_history, 2):
        return None
    tol = config.min_segment
    noise = None if is_integer else _noise(history, n - k - 1, config)
    base = _found(history, n - k, direction, config, is_integer, noise, gate=True)
    if not base:
        return None
    before = _found(history, n - k - 1, direction, config, is_integer, noise, gate=True)
    fresh = [cp for cp in base if not _near(cp, before, tol)]
    if before:
        fresh = [cp for cp in fresh if cp.index > max(b.index for b in before)]
    fresh = [cp for cp in fresh if n - k - cp.index <= _max_lag(config)]
    if not fresh:
        return None
    cand = fresh[-1]
    if k:
        now = _found(history, n, direction, config, is_integer, noise)
        match = [cp for cp in now if _near(cand, [cp], tol, same_way=True)]
        if not match:
            return None
        cand = match[-1]
    return dataclasses.replace(cand, raised_at=history[-1].ts)


def detect_online(
    points: Sequence[Point],
    direction: str,
    config: DetectConfig = DetectConfig(),
    is_integer: bool | None = None,
) -> list[ChangePoint]:
    """Replay ``points`` run by run and return each alert as it would have been raised
    (raised_at filled). Same decisions as calling online_step after every run, computed once
    per run instead of two or three times."""
    keep = usable_positions(points)
    if keep is not None:  # unusable figures (inf, 1e308) are skipped, positions kept
        return [dataclasses.replace(cp, index=keep[cp.index])
                for cp in detect_online([points[i] for i in keep], direction, config, is_integer)]
    tol = config.min_segment
    known: list[ChangePoint] = []
    pending: list[tuple[ChangePoint, int]] = []
    alerts: list[ChangePoint] = []
    start = max(config.min_history, 2)
    noise = None
    for end in range(start, len(points) + 1):
        if not is_integer and (end - start) % _NOISE_EVERY == 0:
            noise = _noise(points, end - 1, config)
        now = _found(points, end, direction, config, is_integer, noise)
        ready = _gate(points, end, now, config, is_integer, noise)
        # confirmations due now
        still = []
        for cand, due in pending:
            if due > end:
                still.append((cand, due))
                continue
            match = [cp for cp in now if _near(cand, [cp], tol, same_way=True)]
            if match:
                alerts.append(dataclasses.replace(match[-1], raised_at=points[end - 1].ts))
            else:
                known = [k for k in known if k is not cand]
        pending = still
        newest = max((k.index for k in known), default=-1)
        for cp in ready:  # a young change not yet out of the history's tail waits (not known)
            if _near(cp, known, tol):
                continue
            known.append(cp)
            if cp.index <= newest or end - cp.index > _max_lag(config):
                continue
            if config.confirm:
                pending.append((cp, end + config.confirm))
            else:
                alerts.append(dataclasses.replace(cp, raised_at=points[end - 1].ts))
    return alerts
