"""Time perfwatch.detect on one long series: 10k, 100k and 1M runs (issue 20, item 13).

    .venv/bin/python benchmarks/detect_scale.py            # 10k 100k 1M, three shapes each
    .venv/bin/python benchmarks/detect_scale.py 10000 50000

Shapes: `flat` (no change, log-normal 1% noise), `steps` (a +-5% step every 1000 runs) and
`dense` (a +-5% step every 100 runs). Prints seconds of detect() (retrospective; the series is
built before timing), the changes found against those made, and the peak RSS of the process.
Figures are written by hand into docs/detection.md ("Long histories").
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perfwatch.detect import Point, detect  # noqa: E402


def series(n: int, every: int | None, rng) -> tuple[list[Point], int]:
    level = np.ones(n)
    made = 0
    if every:
        for c in range(every // 2, n, every):
            level[c:] *= 1.05 if rng.random() < 0.5 else 1 / 1.05
            made += 1
    v = level * np.exp(rng.normal(0, 0.01, n))
    return [Point(i, float(x)) for i, x in enumerate(v)], made


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    print(f"| runs | shape | changes made | found | detect s | peak RSS MB |\n|---:|---|---:|---:|---:|---:|")
    for n in sizes:
        for shape, every in (("flat", None), ("steps", 1000), ("dense", 100)):
            pts, made = series(n, every, np.random.default_rng(n))
            t = time.perf_counter()
            found = detect(pts, "lower_is_better")
            secs = time.perf_counter() - t
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"| {n} | {shape} | {made} | {len(found)} | {secs:.2f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
