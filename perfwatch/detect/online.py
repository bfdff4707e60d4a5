"""Online use: as each run arrives, is there a new level that was not there a run ago?

The online test is the retrospective detector run on the trailing ``online_window`` runs, so
both modes agree on what a change is. A change is *fresh* when no change within
``min_segment`` runs of it was found before. With ``confirm = k`` a fresh change is raised only
if the detector still finds it k runs later (raised_at is then that later run).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from perfwatch.detect.changepoint import detect_with_noise, estimate_noise
from perfwatch.detect.counters import looks_like_counter
from perfwatch.detect.model import ChangePoint, DetectConfig, Point


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
    return estimate_noise(points[max(0, end - _NOISE_SPAN * config.online_window) : end], config)


def tail_pvalue(history: Sequence[float], new: Sequence[float], up: bool) -> float:
    """How likely the history's own distribution makes the new runs: the chance that
    len(new) runs drawn from it all lie at least as far out (above for an up-move, below for a
    down-move) as the least extreme of the new runs, q ** m with q the empirical tail fraction
    (count + 1) / (len(history) + 1). Rank-based, so a heavy tail seen in the history (e.g. 4%
    of runs 30-50% slow) makes a few slow runs in a row unremarkable, whatever sigma says."""
    h = np.asarray(history, dtype=float)
    x = np.asarray(new, dtype=float)
    if h.size == 0 or x.size == 0:
        return 0.0
    count = int(np.sum(h >= x.min())) if up else int(np.sum(h <= x.max()))
    return ((count + 1) / (h.size + 1)) ** x.size


def _tail_ok(points, end, lo, cp, view, config) -> bool:
    """Online gate on a young change (at most _max_lag runs old): its new runs must also be
    improbable (tail_pvalue <= config.tail_pvalue) under the empirical distribution of the
    history's residuals. The history is the view's runs before the change, each taken relative
    to the median of its own segment (the view's other changes split it), so the tail frequency
    is estimated on up to ``online_window`` runs; the new runs are taken relative to the median
    of the segment just before the change. If the gate fails the change is not raised yet and
    is judged again at the next run: an excursion into a known heavy tail needs extra runs."""
    if config.tail_pvalue >= 1 or end - cp.index > _max_lag(config):
        return True
    c = cp.index
    v = np.array([float(p.value) for p in points[lo:end]])
    y = np.log(v) if np.all(v > 0) else v
    bounds = sorted({lo, c} | {o.index for o in view if lo < o.index < c})
    resid = []
    for a, b in zip(bounds, bounds[1:]):
        seg = y[a - lo : b - lo]
        resid.append(seg - np.median(seg))
    if not resid:
        return True
    new = y[c - lo :] - np.median(y[bounds[-2] - lo : c - lo])
    return tail_pvalue(np.concatenate(resid), new, cp.after > cp.before) <= config.tail_pvalue


def _found(points, end, direction, config, is_integer, noise, gate=False):
    lo = max(0, end - config.online_window)
    cfg = dataclasses.replace(config, max_pvalue=min(config.max_pvalue, config.online_pvalue))
    found = [
        dataclasses.replace(cp, index=cp.index + lo)
        for cp in detect_with_noise(points[lo:end], direction, cfg, is_integer, noise)
    ]
    return _gate(points, end, found, config, is_integer) if gate else found


def _gate(points, end, found, config, is_integer):
    """The changes of ``found`` (the view at run ``end``) that may be raised now."""
    lo = max(0, end - config.online_window)
    if not found or config.tail_pvalue >= 1:
        return found
    if is_integer or (is_integer is None and config.auto_integer and looks_like_counter(
            np.array([float(p.value) for p in points[lo:end]]))):
        return found  # counters: changes are exact, no tail to be consistent with
    return [cp for cp in found if _tail_ok(points, end, lo, cp, found, config)]


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
        ready = _gate(points, end, now, config, is_integer)
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
