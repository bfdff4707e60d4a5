"""Where does a launch-bound step's run-to-run noise come from? Processes, time, or the CPU core?

Starts ``--procs`` worker processes of one case at once; each builds the case as perfwatch's
worker does, warms up and parks. Then, for ``--rounds`` rounds, each process in turn (order
rotating) takes one short block with each timer: perfwatch's ``measure()``, ``do_bench`` and
``Timer.blocked_autorange`` (order rotating too). The result is a process x round table per timer,
from which it prints a two-way split of the variance:
  - process effect: how far one process's level sits from the others over the whole probe;
  - round (time) effect: how far the whole machine moves from one round to the next;
  - residual: block-to-block scatter;
and, since every timer ran in the same processes on the same steps, the in-process ratio of
perfwatch to each reference. ``--pin distinct`` pins each process to its own CPU core first
(before CUDA starts, so the driver's threads inherit it).

    python benchmarks/noise_probe.py llm:train:eager:small --procs 8 --rounds 10 --pin none --json a.json
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
TOOLS = ("perfwatch", "do_bench", "timer")


def getcpu() -> int:
    import ctypes

    return ctypes.CDLL(None).sched_getcpu()


def child(case: str, backend: str, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sys.path.insert(0, str(ROOT))
    import torch

    from perfwatch.measure import worker
    from perfwatch.collectors.timing import measure, warm_up
    from perfwatch.domain.results import CaseSpec
    from perfwatch.suites import load_suite
    from perfwatch.collectors import torch_compat

    suite_name, bench_name, mode, size = case.split(":")
    bench = load_suite(suite_name).get(bench_name)
    spec = CaseSpec(suite=suite_name, benchmark=bench_name, mode=mode, backend=backend, size=size,
                    params=dict(bench.params))
    call = worker._caller(bench.build(worker._context(spec, bench, mode)).step, spec)
    compiles = torch_compat.compile_count if mode != "eager" else (lambda: 0)
    warm_up(call, backend, compiles)
    print("READY", json.dumps({"cpu": getcpu(), "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd, block = line.split()
        block_s = float(block)
        cpu0 = getcpu()
        if cmd == "perfwatch":
            r = measure(call, backend, compiles, min_time_s=block_s, min_samples=10)
            ms = statistics.median(r.samples_ms)
            extra = {"n": len(r.samples_ms), "host_ms": r.host_ms}
        elif cmd == "do_bench":
            import triton.testing

            ms = float(triton.testing.do_bench(call, warmup=10, rep=max(1, int(block_s * 1000)), return_mode="median"))
            extra = {}
        elif cmd == "timer":
            from torch.utils import benchmark

            m = benchmark.Timer(stmt="call()", globals={"call": call}).blocked_autorange(min_run_time=block_s)
            ms = m.median * 1e3
            extra = {"n": len(m.times)}
        else:
            break
        print("RESULT", json.dumps({"ms": ms, "cpu": [cpu0, getcpu()], **extra}), flush=True)
    torch.cuda.synchronize() if backend == "cuda" else None


def split(table: list[list[float]]) -> dict:
    """Two-way (process x round) decomposition, on the log scale so effects read as relative."""
    import math

    logs = [[math.log(v) for v in row] for row in table]
    P, R = len(logs), len(logs[0])
    grand = sum(map(sum, logs)) / (P * R)
    proc = [sum(row) / R - grand for row in logs]
    rnd = [sum(logs[p][r] for p in range(P)) / P - grand for r in range(R)]
    resid = [logs[p][r] - grand - proc[p] - rnd[r] for p in range(P) for r in range(R)]
    sd = lambda xs, dof: math.sqrt(sum(x * x for x in xs) / max(1, dof))  # noqa: E731
    return {"median_ms": statistics.median(v for row in table for v in row),
            "process_sd": sd(proc, P - 1), "round_sd": sd(rnd, R - 1), "residual_sd": sd(resid, (P - 1) * (R - 1)),
            "process_medians_ms": [statistics.median(row) for row in table],
            "round_medians_ms": [statistics.median(table[p][r] for p in range(P)) for r in range(R)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", help="SUITE:BENCHMARK:MODE:SIZE")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--block", type=float, default=0.15, help="seconds per timer block")
    ap.add_argument("--pin", choices=("none", "distinct"), default="none")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.case, args.backend, args.cpu)
        return 0
    tools = [t for t in args.tools.split(",") if t]
    if args.backend != "cuda":
        tools = [t for t in tools if t != "do_bench"]
    ncpu = os.cpu_count() or 1
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = []
    for i in range(args.procs):
        cmd = [sys.executable, __file__, args.case, "--backend", args.backend, "--child"]
        if args.pin == "distinct":
            cmd += ["--cpu", str((2 + i) % ncpu)]  # leave cores 0-1 to this parent and the system
        procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
    t0 = time.perf_counter()
    ready = []
    for p in procs:
        line = ""
        while not line.startswith("READY"):
            line = p.stdout.readline()
            if not line:
                raise SystemExit(f"a worker died before it was ready (rc {p.wait()})")
        ready.append(json.loads(line.split(" ", 1)[1]))
    print(f"{len(procs)} workers ready in {time.perf_counter() - t0:.1f} s; cpus {[r['cpu'] for r in ready]}", flush=True)
    table = {t: [[0.0] * args.rounds for _ in procs] for t in tools}
    cpus = [[None] * args.rounds for _ in procs]
    for r in range(args.rounds):
        order = list(range(len(procs)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            rot = tools[r % len(tools):] + tools[:r % len(tools)]
            for t in rot:
                procs[i].stdin.write(f"{t} {args.block}\n")
                procs[i].stdin.flush()
                line = procs[i].stdout.readline()
                while line and not line.startswith("RESULT"):
                    line = procs[i].stdout.readline()
                res = json.loads(line.split(" ", 1)[1])
                table[t][i][r] = res["ms"]
                cpus[i][r] = res["cpu"]
        print(f"round {r}: " + "  ".join(f"{t} {statistics.median(table[t][i][r] for i in range(len(procs))):.4f}"
                                         for t in tools), flush=True)
    for p in procs:
        p.stdin.close()
        p.wait(timeout=60)
    report = {"settings": vars(args), "ready": ready, "cpus": cpus, "tables": table,
              "split": {t: split(table[t]) for t in tools}}
    if "perfwatch" in table:
        for ref in (t for t in tools if t != "perfwatch"):
            ratios = [table["perfwatch"][i][r] / table[ref][i][r] for i in range(len(procs)) for r in range(args.rounds)]
            report["split"][f"ratio_to_{ref}"] = {"median": statistics.median(ratios), "mean": statistics.fmean(ratios),
                                                  "sd": statistics.stdev(ratios)}
    for t in tools:
        s = report["split"][t]
        print(f"{t:10} median {s['median_ms']:.4f} ms  process sd {100 * s['process_sd']:.2f}%  round sd "
              f"{100 * s['round_sd']:.2f}%  residual sd {100 * s['residual_sd']:.2f}%")
    for k, v in report["split"].items():
        if k.startswith("ratio"):
            print(f"{k}: median {v['median']:.4f} mean {v['mean']:.4f} sd {v['sd']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
