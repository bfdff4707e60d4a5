"""Robust statistics used by the detector: noise scale, running median, winsorizing,
autocorrelation, the weights drawn from each run's own spread, and normal p-values."""

from __future__ import annotations

import math

import numpy as np

# Gaussian consistency factors.
_MAD_K = 1.4826  # sigma = 1.4826 * MAD
_TRIM80_K = 1.511  # sigma = 1.511 * std of the central 80%
_IQR_TO_SIGMA = 1 / 1.349
_SE_MEDIAN = 1.2533  # sd of a sample median = 1.2533 * sigma / sqrt(n)


def robust_sigma(r: np.ndarray) -> float:
    """Noise scale of residuals ``r``: the larger of the MAD estimate and the scaled std of the
    central 80%. MAD alone collapses on two-state (clock) noise, where most residuals are 0;
    the trimmed std does not, and both ignore up to 10% of outliers on either side."""
    r = np.asarray(r, dtype=float)
    if r.size < 2:
        return 0.0
    med = np.median(r)
    mad = _MAD_K * float(np.median(np.abs(r - med)))
    s = np.sort(r)
    k = int(0.1 * s.size)
    core = s[k : s.size - k] if s.size - 2 * k >= 2 else s
    trim = _TRIM80_K * float(np.std(core)) if core.size >= 5 else float(np.std(s))
    return max(mad, trim)


def running_median(y: np.ndarray, half: int = 2) -> np.ndarray:
    """Centered running median over 2*half+1 points, windows truncated at the ends."""
    n = y.size
    if n == 0:
        return y.copy()
    pad = np.concatenate([np.full(half, np.nan), y, np.full(half, np.nan)])
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1)
    return np.nanmedian(win, axis=1)


def loo_neighbour_residuals(y: np.ndarray, half: int = 4) -> np.ndarray:
    """y_i minus the median of its 2*half neighbours (itself left out): a first, change-robust
    look at the per-run noise before any segmentation exists."""
    n = y.size
    pad = np.concatenate([np.full(half, np.nan), y, np.full(half, np.nan)])
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1).copy()
    win[:, half] = np.nan
    # the median of 2*half neighbours has variance ~ (pi/2) sigma^2 / (2*half); undo it
    return (y - np.nanmedian(win, axis=1)) / math.sqrt(1 + math.pi / (4 * half)) if n else y


def winsorize(y: np.ndarray, sigma: float, clip: float) -> np.ndarray:
    """Pull every run further than clip*sigma from its 5-point running median back to that
    bound: one- and two-run spikes lose their leverage, steps (>= 3 runs) keep theirs."""
    if y.size < 3 or sigma <= 0:
        return y.copy()
    m = running_median(y, 2)
    return np.clip(y, m - clip * sigma, m + clip * sigma)


def lag1_autocorr(resid: np.ndarray, bounds: list[tuple[int, int]], sigma: float) -> float:
    """Lag-1 autocorrelation of residuals, within segments only, residuals clipped at 2.5 sigma."""
    if sigma <= 0:
        return 0.0
    r = np.clip(resid, -2.5 * sigma, 2.5 * sigma)
    num = den = 0.0
    for a, b in bounds:
        seg = r[a:b]
        if seg.size >= 3:
            num += float(np.dot(seg[:-1], seg[1:]))
            den += float(np.dot(seg, seg))
    return num / den if den > 0 else 0.0


def mean_var_factor(phi: float, n: int) -> float:
    """Var(mean of n AR(1) points) * n / sigma^2 = 1 + 2 sum_k (1 - k/n) phi^k."""
    if phi <= 0 or n <= 1:
        return 1.0
    k = np.arange(1, n)
    return float(1 + 2 * np.sum((1 - k / n) * phi**k))


def longrun_factor(phi: float) -> float:
    return (1 + phi) / (1 - phi) if phi > 0 else 1.0


def spread_se(values: np.ndarray, spreads: list, ns: list, log_scale: bool) -> np.ndarray:
    """Standard error of each run's median from its IQR and sample count (NaN where unknown),
    in the detector's working units (relative when working in logs)."""
    se = np.full(values.size, np.nan)
    for i, (s, k) in enumerate(zip(spreads, ns)):
        if s is None or k is None or k < 1 or not math.isfinite(s) or s < 0:
            continue
        e = _SE_MEDIAN * s * _IQR_TO_SIGMA / math.sqrt(k)
        if log_scale:
            e = e / values[i] if values[i] > 0 else np.nan
        se[i] = e
    return se


def spread_weights(se: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
    """Weights 1/(tau^2 + se_i^2), normalised to median 1 and clipped to [0.25, 2], where tau^2 is
    the between-run variance not explained by the within-run error. Also returns the floor the
    within-run error puts on the per-run noise (runs cannot agree better than their own error)."""
    ok = np.isfinite(se)
    if not ok.any():
        return np.ones(se.size), 0.0
    se2 = np.where(ok, se**2, np.nanmedian(se[ok] ** 2))
    floor = float(math.sqrt(np.median(se2)))
    tau2 = max(sigma**2 - float(np.median(se2)), 0.0)
    v = tau2 + se2
    if not np.all(v > 0):
        return np.ones(se.size), floor
    w = np.median(v) / v
    return np.clip(w, 0.25, 2.0), floor


def normal_pvalue(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))
