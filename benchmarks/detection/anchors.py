"""The detectors perfwatch is compared with, each returning score.Detection lists.

  otava     Apache Otava (PyPI apache-otava) compute_change_points, window 50, p <= 0.001 —
            the e-divisive detector behind Hunter/Otava. It pins numpy 2.2, so it runs in its
            own venv (OTAVA_VENV, default /tmp/otava-venv, created here if missing) through a
            subprocess; this file is also that subprocess's script (--otava-worker).
  asv       asv.step_detect.detect_steps (L1 Potts segmentation with automatic gamma), every
            step boundary is a detection.
  zscore    conbench-style lookback z-score: a run is an alert when |z| > 5 against the mean
            and std of the trailing 30 runs (at least 5); consecutive alerts of the same sign
            form one detection. Naturally online (raised at the run itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

OTAVA_VENV = os.environ.get("OTAVA_VENV", "/tmp/otava-venv")


def _sign(a: float, b: float) -> int:
    return 1 if b > a else -1 if b < a else 0


def asv_detect(values: list[float]):
    from asv.step_detect import detect_steps

    from score import Detection

    steps = detect_steps(list(values))
    return [Detection(r[0], _sign(l[2], r[2])) for l, r in zip(steps, steps[1:])]


def zscore_detect(values: list[float], window: int = 30, z: float = 5.0, min_hist: int = 5):
    import numpy as np

    from score import Detection

    v = np.asarray(values, dtype=float)
    out, prev = [], 0
    for i in range(min_hist, v.size):
        w = v[max(0, i - window) : i]
        sd = w.std(ddof=1)
        m = w.mean()
        zi = (v[i] - m) / sd if sd > 0 else (0.0 if v[i] == m else np.inf * np.sign(v[i] - m))
        s = int(np.sign(zi)) if abs(zi) > z else 0
        if s and s != prev:
            out.append(Detection(i, s, raised_index=i))
        prev = s
    return out


def ensure_otava_venv() -> str | None:
    """Path of the venv's python with apache-otava, creating it if missing; None if impossible."""
    py = os.path.join(OTAVA_VENV, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import otava.analysis"], capture_output=True).returncode == 0
    if not ok:
        try:
            subprocess.run([sys.executable, "-m", "venv", OTAVA_VENV], check=True)
            subprocess.run([py, "-m", "pip", "install", "-q", "apache-otava"], check=True)
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"otava unavailable: {e}", file=sys.stderr)
            return None
    return py


def otava_detect_many(series: list[list[float]]):
    """Otava's change points for many series in one subprocess call."""
    from score import Detection

    py = ensure_otava_venv()
    if py is None:
        return None
    res = subprocess.run([py, os.path.abspath(__file__), "--otava-worker"],
                         input=json.dumps(series), capture_output=True, text=True, check=True)
    return [[Detection(i, s) for i, s in one] for one in json.loads(res.stdout)]


def _otava_worker() -> None:
    from otava.analysis import compute_change_points

    out = []
    for values in json.load(sys.stdin):
        cps, _ = compute_change_points([float(x) for x in values], window_len=50,
                                       max_pvalue=0.001)
        out.append([[int(c.index), 1 if c.stats.forward_rel_change() > 0 else -1] for c in cps])
    json.dump(out, sys.stdout)


if __name__ == "__main__" and "--otava-worker" in sys.argv:
    _otava_worker()
