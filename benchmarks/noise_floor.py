"""How far can more worker processes take a launch-bound case's run-to-run CV?

Reads the per-run process medians of ``benchmarks/fidelity.py`` runs (its ``--json`` file, or its
console log: the ``run N: perfwatch X (processes a, b, ...)`` lines) and splits their log-scale
variance into
  - within run: one process against the others of the same run (the host's phases over seconds,
    which more processes per case average out), and
  - run effect: what moves a whole run at once (the machine's drift over a minute or more, which
    every timer measured in the same run shares and no number of processes removes),
then predicts by simulation the CV of the median of N process medians for N = 1, 5, 10, 20.
The run effect is the floor: the references measured in the same runs carry it too, so a ratio
of perfwatch's CV to a reference's cannot go below run effect / reference CV.

    python benchmarks/noise_floor.py benchmarks/results/2026-11-22-h200/fidelity.json \\
        benchmarks/results/2026-11-30-h200/fidelity-probe-console.txt
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import sys
from pathlib import Path

LINE = re.compile(r"run \d+: perfwatch [\d.]+ \(processes ([\d., ]+)\)")


def load(path: Path) -> dict[str, list[list[float]]]:
    """{case: [process medians of each run]}"""
    text = path.read_text()
    if path.suffix == ".json":
        doc = json.loads(text)
        return {case: [r["perfwatch"]["process_medians_ms"] for r in v["runs"]] for case, v in doc["cases"].items()}
    runs = [[float(x) for x in m.group(1).split(",")] for m in LINE.finditer(text)]
    return {path.stem: runs} if runs else {}


def split(runs: list[list[float]]) -> tuple[float, float]:
    """(within-run sd, run-effect sd), log scale, from a one-way random-effects ANOVA."""
    logs = [[math.log(x) for x in r] for r in runs if len(r) > 1]
    k = statistics.mean(len(r) for r in logs)
    within = statistics.mean(statistics.variance(r) for r in logs)
    between = statistics.variance([statistics.mean(r) for r in logs]) - within / k
    return math.sqrt(within), math.sqrt(max(between, 0.0))


def predicted_cv(sw: float, sb: float, n: int, trials: int = 4000, seed: int = 0) -> float:
    rng = random.Random(seed)
    xs = [math.exp(rng.gauss(0, sb) + statistics.median(rng.gauss(0, sw) for _ in range(n))) for _ in range(trials)]
    return statistics.stdev(xs) / statistics.mean(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    print(f"{'source':34} {'case':34} {'runs':>4} {'within':>7} {'run eff.':>8}   predicted CV, N processes = 1 / 5 / 10 / 20")
    for f in args.files:
        for case, runs in load(f).items():
            if len(runs) < 3:
                continue
            sw, sb = split(runs)
            preds = " / ".join(f"{100 * predicted_cv(sw, sb, n):.1f}%" for n in (1, 5, 10, 20))
            print(f"{f.parent.name + '/' + f.name:34.34} {case:34.34} {len(runs):4} {100 * sw:6.1f}% {100 * sb:7.1f}%   {preds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
