"""Run-to-run noise of perfwatch's step time: three probes, one script.

    python benchmarks/noise.py runs OUTDIR ...     # every case and mode in N fresh `perfwatch run`s
    python benchmarks/noise.py probe CASE ...      # process x round split of one case's noise
    python benchmarks/noise.py floor FILES ...     # within-run vs run-level drift of fidelity.py runs

``runs``: the same cases in N fresh `perfwatch run`s.
For each round 1..N, every SUITE:BENCHMARK in ``--cases`` is run once in every mode of ``--modes``
with a plain ``perfwatch run`` (fresh worker processes, as on a CI runner), into one SQLite
database; rounds go one after another, so the N runs of a case are spread over the whole session
rather than taken back to back. Then, per suite, benchmark and mode, the coefficient of
variation (stdev / mean) of the reported medians across the rounds: ``step_time``, and where
stored ``graph_time`` (CUDA-graph replay of an eager step) and ``host_time``, with the median
``host_fraction`` (host time / step time: near 1 means launch-bound).

    python benchmarks/noise.py runs OUTDIR --backend cuda --size small --runs 5 \\
        --cases llm:train,vision:train,ops:matmul,dynamic:varlen_dynamic,uvm:caching \\
        --modes eager,default,reduce-overhead
    python benchmarks/noise.py runs OUTDIR --analyse-only     # the table again from OUTDIR/noise.db

Writes OUTDIR/noise.db, OUTDIR/noise.json (every value and the table) and prints the table in
markdown (the stored figures read back with ``perfwatch export``). A case that fails in a round is left out of that round and counted in ``failed``.

``probe``: where does a launch-bound step's run-to-run noise come from? Processes, time, or the CPU core?

Starts ``--procs`` worker processes of one case at once; each builds the case as perfwatch's
worker does, warms up and parks. Then, for ``--rounds`` rounds, each process in turn (order
rotating) takes one short block with each timer: perfwatch's timing method (``perfwatch.api.time_call``), ``do_bench`` and
``Timer.blocked_autorange`` (order rotating too). The result is a process x round table per timer,
from which it prints a two-way split of the variance:
  - process effect: how far one process's level sits from the others over the whole probe;
  - round (time) effect: how far the whole machine moves from one round to the next;
  - residual: block-to-block scatter;
and, since every timer ran in the same processes on the same steps, the in-process ratio of
perfwatch to each reference. ``--pin distinct`` pins each process to its own CPU core first
(before CUDA starts, so the driver's threads inherit it).

    python benchmarks/noise.py probe llm:train:eager:small --procs 8 --rounds 10 --pin none --json a.json

``floor``: how far can more worker processes take a launch-bound case's run-to-run CV?

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

    python benchmarks/noise.py floor benchmarks/results/2026-11-22-h200/fidelity.json \\
        benchmarks/results/2026-11-30-h200/fidelity-probe-console.txt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# -- runs: N fresh `perfwatch run`s -------------------------------------------------------------

METRICS = ("step_time", "graph_time", "host_time")

def parse_cases(text: str) -> dict[str, list[str]]:
    """'llm:train,llm:inference,ops:matmul' -> {'llm': ['train', 'inference'], 'ops': ['matmul']}"""
    out: dict[str, list[str]] = defaultdict(list)
    for item in filter(None, (t.strip() for t in text.split(","))):
        suite, sep, bench = item.partition(":")
        if not sep or not suite or not bench:
            raise SystemExit(f"--cases: expected SUITE:BENCHMARK, got {item!r}")
        out[suite].append(bench)
    return dict(out)


def run_rounds(args: argparse.Namespace, db_url: str, log) -> None:
    cases = parse_cases(args.cases)
    for r in range(args.runs):
        for suite, benches in cases.items():
            cmd = [sys.executable, "-m", "perfwatch", "run", "--suite", suite, "--benchmarks", ",".join(benches),
                   "--backend", args.backend, "--modes", args.modes, "--min-time", str(args.min_time),
                   "--processes", str(args.processes), "--timeout", str(args.timeout), "--no-accuracy",
                   "--db", db_url, "--tag", f"noise_round={r}"]
            if args.size:
                cmd += ["--size", args.size]
            if args.interleave:
                cmd.append("--interleave")
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            log.write(f"== round {r} {suite} rc {p.returncode} ({time.perf_counter() - t0:.0f} s)\n{p.stdout}{p.stderr[-3000:]}\n")
            log.flush()
            print(f"round {r + 1}/{args.runs} {suite}: exit {p.returncode} ({time.perf_counter() - t0:.0f} s)", flush=True)


def stored_records(db_url: str) -> list[dict]:
    """Every stored record of every run, as `perfwatch export --run all` writes them."""
    p = subprocess.run([sys.executable, "-m", "perfwatch", "export", "--run", "all", "--format", "jsonl", "--db", db_url],
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"perfwatch export failed (exit {p.returncode}): {p.stderr[-2000:]}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def analyse(db_url: str) -> list[dict]:
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed: dict[tuple, int] = defaultdict(int)
    for rec in stored_records(db_url):
        key = (rec["suite"], rec["benchmark"], rec["mode"])
        if rec["status"] != "ok":
            if rec["metric"] in (None, "step_time"):
                failed[key] += 1
            continue
        if rec["metric"] in METRICS and rec["value"] is not None:
            values[key][rec["metric"]].append(rec["value"])
    rows = []
    for key in sorted(set(values) | set(failed)):
        v = values.get(key, {})
        row = {"suite": key[0], "benchmark": key[1], "mode": key[2], "runs": len(v.get("step_time", [])),
               "failed": failed.get(key, 0), "values": dict(v)}
        for m in METRICS:
            xs = v.get(m, [])
            row[f"{m}_median"] = statistics.median(xs) if xs else None
            row[f"{m}_cv"] = statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 and statistics.mean(xs) > 0 else None
        steps, hosts = v.get("step_time", []), v.get("host_time", [])
        row["host_fraction"] = (statistics.median(hosts) / statistics.median(steps)) if hosts and steps else None
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    def pct(x):
        return "-" if x is None else f"{100 * x:.2f}%"

    def num(x):
        return "-" if x is None else f"{x:.4g}"

    out = ["| suite | benchmark | mode | runs | step ms | CV step | graph ms | CV graph | host / step | failed |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['suite']} | {r['benchmark']} | {r['mode']} | {r['runs']} | {num(r['step_time_median'])} | "
                   f"{pct(r['step_time_cv'])} | {num(r['graph_time_median'])} | {pct(r['graph_time_cv'])} | "
                   f"{num(r['host_fraction'])} | {r['failed']} |")
    return "\n".join(out)


def cmd_runs(args: argparse.Namespace) -> int:
    if args.runs < 2 and not args.analyse_only:
        raise SystemExit("--runs: at least 2 runs are needed for a spread")
    args.outdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{(args.outdir / 'noise.db').resolve()}"
    if not args.analyse_only:
        with open(args.outdir / "noise.log", "a") as log:
            run_rounds(args, db_url, log)
    rows = analyse(db_url)
    (args.outdir / "noise.json").write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items() if k != "handler"},
                                                         "rows": rows}, indent=2))
    print(markdown(rows))
    return 0


# -- probe: processes x rounds of one case ------------------------------------------------------

TOOLS = ("perfwatch", "do_bench", "timer")


def getcpu() -> int:
    import ctypes

    return ctypes.CDLL(None).sched_getcpu()


def child(case: str, backend: str, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sys.path.insert(0, str(ROOT))
    from perfwatch import api

    spec = api.case_spec(case, backend)
    call = api.build_case(spec)
    api.warm_up(call, spec)
    print("READY", json.dumps({"cpu": getcpu(), "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd, block = line.split()
        block_s = float(block)
        cpu0 = getcpu()
        if cmd == "perfwatch":
            r = api.time_call(call, spec, min_time_s=block_s, min_samples=10)
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
    api.synchronize(backend)


def two_way_split(table: list[list[float]]) -> dict:
    """Two-way (process x round) decomposition, on the log scale so effects read as relative."""
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




# -- floor: within-run scatter vs run-level drift ------------------------------------------------

LINE = re.compile(r"run \d+: perfwatch [\d.]+ \(processes ([\d., ]+)\)")


def load_process_medians(path: Path) -> dict[str, list[list[float]]]:
    """{case: [process medians of each run]}"""
    text = path.read_text()
    if path.suffix == ".json":
        doc = json.loads(text)
        return {case: [r["perfwatch"]["process_medians_ms"] for r in v["runs"]] for case, v in doc["cases"].items()}
    runs = [[float(x) for x in m.group(1).split(",")] for m in LINE.finditer(text)]
    return {path.stem: runs} if runs else {}


def run_split(runs: list[list[float]]) -> tuple[float, float]:
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




def cmd_probe(args: argparse.Namespace) -> int:
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
        cmd = [sys.executable, __file__, "probe", args.case, "--backend", args.backend, "--child"]
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
    report = {"settings": {k: v for k, v in vars(args).items() if k != "handler"}, "ready": ready, "cpus": cpus, "tables": table,
              "split": {t: two_way_split(table[t]) for t in tools}}
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



def cmd_floor(args: argparse.Namespace) -> int:
    print(f"{'source':34} {'case':34} {'runs':>4} {'within':>7} {'run eff.':>8}   predicted CV, N processes = 1 / 5 / 10 / 20")
    for f in args.files:
        for case, runs in load_process_medians(f).items():
            if len(runs) < 3:
                continue
            sw, sb = run_split(runs)
            preds = " / ".join(f"{100 * predicted_cv(sw, sb, n):.1f}%" for n in (1, 5, 10, 20))
            print(f"{f.parent.name + '/' + f.name:34.34} {case:34.34} {len(runs):4} {100 * sw:6.1f}% {100 * sb:7.1f}%   {preds}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{runs,probe,floor}")
    runs = sub.add_parser("runs", help="every case and mode in N fresh `perfwatch run`s: CV across the runs")
    runs.add_argument("outdir", type=Path)
    runs.add_argument("--cases", default="llm:train,vision:train,ops:matmul,dynamic:varlen_dynamic,uvm:caching",
                      help="comma-separated SUITE:BENCHMARK")
    runs.add_argument("--modes", default="eager,default,reduce-overhead")
    runs.add_argument("--backend", default="cuda")
    runs.add_argument("--size", default=None, help="perfwatch's --size (default: the backend's)")
    runs.add_argument("--runs", type=int, default=5, help="fresh runs per case (default 5)")
    runs.add_argument("--processes", type=int, default=1, help="perfwatch's --processes (default 1)")
    runs.add_argument("--interleave", action="store_true", help="perfwatch's --interleave (needs --processes >= 2)")
    runs.add_argument("--min-time", type=float, default=0.5)
    runs.add_argument("--timeout", type=float, default=600, help="per-case timeout (s)")
    runs.add_argument("--analyse-only", action="store_true", help="only print the table of OUTDIR/noise.db")
    runs.set_defaults(handler=cmd_runs)
    probe = sub.add_parser("probe", help="processes x rounds of one case: process, time and residual noise")
    probe.add_argument("case", help="SUITE:BENCHMARK:MODE:SIZE")
    probe.add_argument("--backend", default="cuda")
    probe.add_argument("--procs", type=int, default=8)
    probe.add_argument("--rounds", type=int, default=10)
    probe.add_argument("--block", type=float, default=0.15, help="seconds per timer block")
    probe.add_argument("--pin", choices=("none", "distinct"), default="none")
    probe.add_argument("--tools", default=",".join(TOOLS))
    probe.add_argument("--json")
    probe.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    probe.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    probe.set_defaults(handler=cmd_probe)
    floor = sub.add_parser("floor", help="within-run vs run-level noise of fidelity.py runs")
    floor.add_argument("files", nargs="+", type=Path)
    floor.set_defaults(handler=cmd_floor)
    args = ap.parse_args()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
