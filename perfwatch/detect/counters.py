"""Exact change detection for integer counters (graph breaks, recompilations): any persisting
change of value is real, a value seen on fewer than ``min_run`` consecutive runs is a blip."""

from __future__ import annotations

import numpy as np


def looks_like_counter(values: np.ndarray) -> bool:
    """Every value an integer and at least half of successive runs equal."""
    if values.size < 2 or not np.all(np.isfinite(values)):
        return False
    if not np.all(values == np.round(values)):
        return False
    return float(np.median(np.abs(np.diff(values)))) == 0.0


def counter_changes(values: np.ndarray, min_run: int) -> list[tuple[int, float, float]]:
    """(index, before, after) for each change to a value that then holds >= min_run runs."""
    runs = []  # (start, length, value)
    start = 0
    for i in range(1, values.size + 1):
        if i == values.size or values[i] != values[start]:
            runs.append((start, i - start, float(values[start])))
            start = i
    level = None
    out = []
    for s, length, v in runs:
        if length < min_run:
            continue
        if level is None:
            level = v
        elif v != level:
            out.append((s, level, v))
            level = v
    return out
