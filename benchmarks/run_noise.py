"""Run-to-run noise of every suite and mode: the same cases in N fresh `perfwatch run`s.

For each round 1..N, every SUITE:BENCHMARK in ``--cases`` is run once in every mode of ``--modes``
with a plain ``perfwatch run`` (fresh worker processes, as on a CI runner), into one SQLite
database; rounds go one after another, so the N runs of a case are spread over the whole session
rather than taken back to back. Then, per suite, benchmark and mode, the coefficient of
variation (stdev / mean) of the reported medians across the rounds: ``step_time``, and where
stored ``graph_time`` (CUDA-graph replay of an eager step) and ``host_time``, with the median
``host_fraction`` (host time / step time: near 1 means launch-bound).

    python benchmarks/run_noise.py OUTDIR --backend cuda --size small --runs 5 \\
        --cases llm:train,vision:train,ops:matmul,dynamic:varlen_dynamic,uvm:caching \\
        --modes eager,default,reduce-overhead
    python benchmarks/run_noise.py OUTDIR --analyse-only     # the table again from OUTDIR/noise.db

Writes OUTDIR/noise.db, OUTDIR/noise.json (every value and the table) and prints the table in
markdown. A case that fails in a round is left out of that round and counted in ``failed``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def analyse(db_url: str) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from perfwatch.store import queries
    from perfwatch.store.engine import make_engine

    eng = make_engine(db_url)
    runs = queries.all_run_ids(eng)
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed: dict[tuple, int] = defaultdict(int)
    for run_id in runs:
        for rec in queries.export_records(eng, [run_id]):
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--cases", default="llm:train,vision:train,ops:matmul,dynamic:varlen_dynamic,uvm:caching",
                    help="comma-separated SUITE:BENCHMARK")
    ap.add_argument("--modes", default="eager,default,reduce-overhead")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--size", default=None, help="perfwatch's --size (default: the backend's)")
    ap.add_argument("--runs", type=int, default=5, help="fresh runs per case (default 5)")
    ap.add_argument("--processes", type=int, default=1, help="perfwatch's --processes (default 1)")
    ap.add_argument("--interleave", action="store_true", help="perfwatch's --interleave (needs --processes >= 2)")
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=600, help="per-case timeout (s)")
    ap.add_argument("--analyse-only", action="store_true", help="only print the table of OUTDIR/noise.db")
    args = ap.parse_args()
    if args.runs < 2 and not args.analyse_only:
        raise SystemExit("--runs: at least 2 runs are needed for a spread")
    args.outdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{(args.outdir / 'noise.db').resolve()}"
    if not args.analyse_only:
        with open(args.outdir / "noise.log", "a") as log:
            run_rounds(args, db_url, log)
    rows = analyse(db_url)
    (args.outdir / "noise.json").write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                                         "rows": rows}, indent=2))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
