"""Online use: as each run arrives, is there a new level that was not there a run ago?

The online test is the retrospective detector run on the trailing ``online_window`` runs, so
both modes agree on what a change is. A change is *fresh* when no change within
``min_segment`` runs of it was found before. With ``confirm = k`` a fresh change is raised only
if the detector still finds it k runs later (raised_at is then that later run).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from perfwatch.detect.changepoint import detect_with_noise, estimate_noise
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


def _found(points, end, direction, config, is_integer, noise):
    lo = max(0, end - config.online_window)
    config = dataclasses.replace(config, max_pvalue=min(config.max_pvalue, config.online_pvalue))
    return [
        dataclasses.replace(cp, index=cp.index + lo)
        for cp in detect_with_noise(points[lo:end], direction, config, is_integer, noise)
    ]


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
    base = _found(history, n - k, direction, config, is_integer, noise)
    if not base:
        return None
    before = _found(history, n - k - 1, direction, config, is_integer, noise)
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
        for cp in now:
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
