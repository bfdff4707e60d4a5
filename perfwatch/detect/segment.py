"""Penalized optimal partitioning: the piecewise-constant fit of a series with the least
weighted squared error plus ``penalty`` per change, every segment at least ``min_size`` long.

Up to ``EXACT_MAX`` runs: exact dynamic programming over every start, O(n^2) vector operations
(5000 runs in about half a second). Every series of the detection corpora is shorter, so their
results are those of the exact method.

Longer histories (up to millions of runs) would take hours that way, so there the same
objective is minimised over a candidate set of starts (``_candidates``): the best split of every
interval of a seeded binary segmentation (lengths n, n/2, n/4, ... down to 4*min_size, each
scale's intervals overlapping by half, every scale one vectorised pass) whose gain is worth at
least half a change's penalty, widened by ``_WIDEN`` runs either side. The dynamic program over
those candidates is exact for them and prunes (PELT) starts that can no longer win, so its cost
follows the number of candidates, not n. A level change that the exact method keeps has a
seeded interval of about its own scale around it, so it becomes a candidate; what the
restriction can lose is a change worth barely more than its penalty.
"""

from __future__ import annotations

import numpy as np

EXACT_MAX = 5000  # longest series segmented exactly over every start
_WIDEN = 3  # runs either side of a seeded split also offered to the dynamic program
_SEED_GAIN = 0.5  # a seeded split is a candidate when its gain >= this share of the penalty


def partition(y: np.ndarray, w: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Indices where a new segment starts: exact up to EXACT_MAX runs, over seeded candidates
    beyond (the module docstring says why and what that costs)."""
    if y.size <= EXACT_MAX:
        return optimal_partition(y, w, penalty, min_size)
    return seeded_partition(y, w, penalty, min_size)


def optimal_partition(y: np.ndarray, w: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Indices where a new segment starts (each the first point at a new level)."""
    n = y.size
    m = max(1, min_size)
    if n < 2 * m:
        return []
    c1 = np.concatenate([[0.0], np.cumsum(w * y)])
    c2 = np.concatenate([[0.0], np.cumsum(w * y * y)])
    cw = np.concatenate([[0.0], np.cumsum(w)])
    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    last = np.zeros(n + 1, dtype=int)
    for t in range(m, n + 1):
        # admissible starts of the last segment: 0, or m..t-m
        hi = t - m
        if hi >= m:
            s = np.concatenate([[0], np.arange(m, hi + 1)])
        else:
            s = np.array([0])
        sw = cw[t] - cw[s]
        s1 = c1[t] - c1[s]
        cost = (c2[t] - c2[s]) - s1 * s1 / sw
        tot = best[s] + cost
        j = int(np.argmin(tot))
        best[t] = tot[j] + penalty
        last[t] = s[j]
    return _backtrack(last, n)


def _backtrack(last, n: int) -> list[int]:
    cps = []
    t = n
    while t > 0:
        s = int(last[t])
        if s > 0:
            cps.append(s)
        t = s
    return sorted(cps)


def _sums(y: np.ndarray, w: np.ndarray):
    # Centred first: over a million runs, raw squares would swamp the differences of cumsums.
    yc = y - float(np.median(y))
    return (np.concatenate([[0.0], np.cumsum(w * yc)]), np.concatenate([[0.0], np.cumsum(w * yc * yc)]),
            np.concatenate([[0.0], np.cumsum(w)]))


def _sse(c1, c2, cw, a, b):
    s1 = c1[b] - c1[a]
    return (c2[b] - c2[a]) - s1 * s1 / (cw[b] - cw[a])


def _grid_splits(c1, c2, cw, a0: int, rows: int, step: int, length: int, m: int):
    """Best split (start, gain) of each interval [a0 + i*step, a0 + i*step + length), i < rows;
    the splits' cumulative sums are strided views, not copies (a million runs, every scale)."""
    width = length - 2 * m + 1

    def view(c):
        base = c[a0 + m:]
        return np.lib.stride_tricks.as_strided(base, (rows, width), (step * base.strides[0], base.strides[0]),
                                               writeable=False)

    a = a0 + step * np.arange(rows)
    b = a + length
    s1, s2, sw = view(c1), view(c2), view(cw)
    l1, l2, lw = s1 - c1[a, None], s2 - c2[a, None], sw - cw[a, None]
    r1, r2, rw = c1[b, None] - s1, c2[b, None] - s2, cw[b, None] - sw
    t1 = c1[b] - c1[a]
    total = (c2[b] - c2[a]) - t1 * t1 / (cw[b] - cw[a])
    gain = total[:, None] - (l2 - l1 * l1 / lw) - (r2 - r1 * r1 / rw)
    j = np.argmax(gain, axis=1)
    return a + m + j, gain[np.arange(rows), j]


def _candidates(c1, c2, cw, n: int, m: int, threshold: float) -> np.ndarray:
    """Seeded binary segmentation: the best split of each interval (all scales) with gain >=
    threshold, widened by _WIDEN runs; admissible starts only (m..n-m)."""
    found = []
    length = n
    while length >= 4 * m:
        step = max(1, length // 2)
        rows = (n - length) // step + 1
        grids = [(0, rows)] + ([(n - length, 1)] if (rows - 1) * step != n - length else [])
        for a0, k in grids:
            split, gain = _grid_splits(c1, c2, cw, a0, k, step, length, m)
            found.append(split[gain >= threshold])
        length //= 2
    if not found:
        return np.zeros(0, dtype=int)
    seeds = np.unique(np.concatenate(found))
    wide = (seeds[:, None] + np.arange(-_WIDEN, _WIDEN + 1)[None, :]).ravel()
    wide = np.unique(wide)
    return wide[(wide >= m) & (wide <= n - m)]


def seeded_partition(y: np.ndarray, w: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """optimal_partition's objective over the seeded candidate starts only, with PELT pruning:
    a start s is dropped once some later candidate t has best[s] + cost(s, t) > best[t], since
    from t + m on (when t may start the last segment) t beats s for every end. Linear in n plus
    the candidates' own (pruned) quadratic term."""
    n = y.size
    m = max(1, min_size)
    if n < 2 * m:
        return []
    c1, c2, cw = _sums(y, w)
    ends = np.append(_candidates(c1, c2, cw, n, m, _SEED_GAIN * penalty), n)
    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    last = np.zeros(n + 1, dtype=np.int64)
    never = np.iinfo(np.int64).max
    # starts still able to win (ascending) and the end from which each is beaten for good
    active = np.empty(ends.size + 1, dtype=np.int64)
    expires = np.empty(ends.size + 1, dtype=np.int64)
    active[0], expires[0], k = 0, never, 1
    soonest = never  # the earliest expiry among the active starts
    for t in ends.tolist():
        if soonest <= t:
            live = expires[:k] > t
            k = int(live.sum())
            active[:k], expires[:k] = active[: live.size][live], expires[: live.size][live]
            soonest = int(expires[:k].min()) if k else never
        r = int(np.searchsorted(active[:k], t - m, side="right"))  # starts at most t - m
        if r == 0:
            continue
        s = active[:r]
        s1 = c1[t] - c1[s]
        tot = best[s] + (c2[t] - c2[s]) - s1 * s1 / (cw[t] - cw[s])
        j = int(np.argmin(tot))
        best[t] = tot[j] + penalty
        last[t] = s[j]
        beaten = np.flatnonzero(tot > best[t])  # best[s] + cost(s, t) > best[t]: t beats s from t + m on
        if beaten.size:
            expires[beaten] = np.minimum(expires[beaten], t + m)
            soonest = min(soonest, t + m)
        if t < n:
            active[k], expires[k] = t, never
            k += 1
    return _backtrack(last, n)
