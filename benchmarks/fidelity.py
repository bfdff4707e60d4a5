"""How honest is perfwatch's step time? Compare it with triton's do_bench and torch's Timer.

For each case (SUITE:BENCHMARK:MODE:SIZE) this starts ``--processes`` fresh Python processes.
Each builds the case exactly as perfwatch's worker does (same build, same step wrapper, same
warm-up) and times the same step three ways, in rotating order, ``--rounds`` times:
  - perfwatch: ``perfwatch.collectors.timing.measure`` (the worker's method, --min-time);
  - do_bench:  ``triton.testing.do_bench(step, return_mode="median")`` (CUDA only; it clears
               the L2 cache before every call and times each call with its own events);
  - timer:     ``torch.utils.benchmark.Timer(...).adaptive_autorange()`` median.
It prints, per case, each timer's median over processes, perfwatch's ratio to each reference
(the target is 0.97-1.03) and each timer's coefficient of variation across the fresh processes
(the run-to-run noise: the target is <= 0.5% for GPU-bound work and, for launch-bound work, at
most half the best reference timer's CV).

    python benchmarks/fidelity.py llm:train:eager:small ops:matmul:eager:large --processes 5 \
        --backend cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(case: str, backend: str, min_time: float, rounds: int) -> dict:
    """Runs in a fresh process: build the case like the worker and time it three ways."""
    sys.path.insert(0, str(ROOT))
    import torch

    from perfwatch import worker
    from perfwatch.backends import synchronize
    from perfwatch.collectors import torch_compat
    from perfwatch.collectors.timing import measure
    from perfwatch.results import CaseSpec
    from perfwatch.suites import load_suite

    suite_name, bench_name, mode, size = case.split(":")
    bench = load_suite(suite_name).get(bench_name)
    spec = CaseSpec(suite=suite_name, benchmark=bench_name, mode=mode, backend=backend, size=size,
                    params=dict(bench.params), min_time_s=min_time)
    t0 = time.perf_counter()
    workload = bench.build(worker._context(spec, bench, mode))
    call = worker._caller(workload.step, spec)
    for _ in range(3):
        call()
    synchronize(backend)
    compiles = torch_compat.compile_count if mode != "eager" else (lambda: 0)
    build_s = time.perf_counter() - t0

    def pw() -> float:
        r = measure(call, backend, compiles, min_time_s=min_time, min_samples=spec.min_samples,
                    max_samples=spec.max_samples)
        return statistics.median(r.samples_ms), r.inner, r.method

    def db() -> float:
        import triton.testing

        return float(triton.testing.do_bench(call, warmup=25, rep=max(100, int(min_time * 1000)), return_mode="median"))

    def tm() -> float:
        from torch.utils import benchmark

        m = benchmark.Timer(stmt="call()", globals={"call": call}).adaptive_autorange(
            threshold=0.1, min_run_time=min(min_time, 1.0), max_run_time=max(2.0, 2 * min_time))
        return m.median * 1e3

    timers = {"perfwatch": pw, "timer": tm}
    if backend == "cuda":
        timers["do_bench"] = db
    names = list(timers)
    got: dict[str, list[float]] = {n: [] for n in names}
    info = {}
    for r in range(rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
            v = timers[n]()
            if n == "perfwatch":
                v, info["inner"], info["method"] = v
            got[n].append(v)
    return {"case": case, "build_s": round(build_s, 2), **info,
            "ms": {n: statistics.median(v) for n, v in got.items()}, "rounds": got,
            "device": torch.cuda.get_device_name() if backend == "cuda" else "cpu", "torch": torch.__version__}


def cv(xs: list[float]) -> float | None:
    return statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 and statistics.mean(xs) > 0 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+", help="SUITE:BENCHMARK:MODE:SIZE")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--processes", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="write per-process results and the summary here")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("FIDELITY " + json.dumps(one(args.cases[0], args.backend, args.min_time, args.rounds)))
        return 0
    report = {"cases": {}}
    print(f"{'case':38} {'timer':10} {'median ms':>10} {'CV %':>7} {'pw/ref':>7}")
    for case in args.cases:
        runs = []
        for _ in range(args.processes):
            env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
            try:
                p = subprocess.run([sys.executable, __file__, "--one", case, "--backend", args.backend,
                                    "--min-time", str(args.min_time), "--rounds", str(args.rounds)],
                                   capture_output=True, text=True, timeout=args.timeout, env=env)
            except subprocess.TimeoutExpired:
                print(f"{case}: a process timed out", file=sys.stderr)
                continue
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("FIDELITY ")]
            if p.returncode or not line:
                print(f"{case}: process failed (rc {p.returncode}): {p.stderr[-1500:]}", file=sys.stderr)
                continue
            runs.append(json.loads(line[0][len("FIDELITY "):]))
        if not runs:
            continue
        summary = {}
        pw = [r["ms"]["perfwatch"] for r in runs]
        for name in runs[0]["ms"]:
            vals = [r["ms"][name] for r in runs]
            ratio = statistics.mean(p_ / v for p_, v in zip(pw, vals)) if name != "perfwatch" else None
            c = cv(vals)
            summary[name] = {"median_ms": statistics.median(vals), "cv": c, "perfwatch_ratio": ratio, "per_process_ms": vals}
            print(f"{case:38} {name:10} {statistics.median(vals):10.4f} {100 * c if c is not None else float('nan'):7.2f} "
                  f"{ratio if ratio is not None else float('nan'):7.3f}")
        report["cases"][case] = {"summary": summary, "processes": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
