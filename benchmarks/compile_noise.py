"""Run-to-run noise of the compile figures (issue 16): which one is quiet enough to gate on?

    python benchmarks/compile_noise.py run --suite tests/data/compile_suite.py --benchmarks train \\
        --modes default --size tiny -n 5 [--instructions 2] [--backend cpu] [--out OUT.json]
    python benchmarks/compile_noise.py table --db perfwatch.db [--out OUT.md]

``run``: N rounds; each round runs every case once in fresh worker processes through the runner,
as ``perfwatch run`` does (cold compile over the case's own empty caches, then the warm build over
them), nothing stored. ``--instructions K`` adds the callgrind count in the first K rounds (slow:
valgrind runs the whole worker, torch's import included, at tens of times its speed). Prints, per
case and metric, the mean, the CV (sd / mean) and min..max over the rounds.

``table``: the same from a perfwatch SQLite database of several runs (benchmarks/compile_gpu.sh),
read with the standard library (no SQLAlchemy needed), plus the check that each case's
compile_time equals the sum of its compilation records (``compile_records.sum_s``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIGURES = ("compile_time", "compile_cpu_time", "compile_time_warm", "compile_cpu_time_warm", "first_call_time",
           "first_call_time_warm", "compile_instructions", "compile_cache_hits_warm", "compile_cache_misses_warm",
           "compilations")


def cv(values: list[float]) -> float | None:
    if len(values) < 2 or statistics.fmean(values) == 0:
        return None
    return statistics.stdev(values) / statistics.fmean(values)


def noise_table(rows: list[dict]) -> str:
    """rows: {"case", "round", metric: value, ...} -> markdown: per case and metric, mean, CV, range."""
    out = ["| case | metric | n | mean | CV | min .. max |", "|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == case]
        for m in FIGURES:
            vals = [float(r[m]) for r in mine if r.get(m) is not None]
            if not vals:
                continue
            c = cv(vals)
            out.append(f"| {case} | {m} | {len(vals)} | {statistics.fmean(vals):.4g} | "
                       f"{'-' if c is None else f'{c * 100:.2f}%'} | {min(vals):.4g} .. {max(vals):.4g} |")
    return "\n".join(out)


def cmd_run(a: argparse.Namespace) -> int:
    from perfwatch.domain.config import load_config
    from perfwatch.measure import runner

    req = runner.RunRequest(suite=a.suite, backend=a.backend, modes=runner.parse_modes(a.modes),
                            benchmarks=tuple(b for b in a.benchmarks.split(",") if b), size=a.size, accuracy=False)
    plan = runner.plan(req, load_config({}))
    specs = [replace(s, min_time_s=a.min_time, min_samples=3) for s in plan.specs if s.mode != "eager"]
    rows = []
    t0 = time.time()
    for rnd in range(a.n):
        for s in specs:
            s = replace(s, compile_instructions=rnd < a.instructions)
            t = time.time()
            case = runner.run_case(plan, s, f"noise-{rnd}", a.timeout)
            row = {"case": s.label(), "round": rnd, "status": case.status, "wall_s": round(time.time() - t, 1)}
            row.update({m.name: m.value for m in case.metrics if m.name in FIGURES})
            row["records_sum_s"] = (case.details.get("compile_records") or {}).get("sum_s")
            row["by_graph"] = case.details.get("compile_by_graph")
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "by_graph"}), flush=True)
    table = noise_table([r for r in rows if r["status"] == "ok"])
    print(f"\n{a.n} rounds in {time.time() - t0:.0f} s\n\n{table}")
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": rows, "table": table}, indent=1, default=str))
    return 0


def db_rows(db: str) -> list[dict]:
    """One row per compiled ok case of every run in a perfwatch SQLite database."""
    con = sqlite3.connect(db)
    cases = con.execute("select id, run_id, benchmark, mode, status, details from cases where mode != 'eager'").fetchall()
    figs: dict[str, dict[str, float]] = {}
    for case_id, metric, value in con.execute(
            "select m.case_id, s.metric, m.value from measurements m join series s on s.id = m.series_id"):
        figs.setdefault(case_id, {})[metric] = value
    rows = []
    for case_id, run_id, bench, mode, status, details in cases:
        d = json.loads(details) if isinstance(details, str) else (details or {})
        rows.append({"case": f"{bench}[{mode}]", "round": run_id, "status": status, **figs.get(case_id, {}),
                     "records_sum_s": (d.get("compile_records") or {}).get("sum_s"),
                     "records": (d.get("compile_records") or {}).get("count"),
                     "by_graph": {k: v.get("compile_time") for k, v in (d.get("compile_by_graph") or {}).items()},
                     "warm_status": d.get("compile_warm_status")})
    return rows


def truth_table(rows: list[dict]) -> str:
    out = ["| case | run | status | compile s | Σ records s | equal | records | fwd / bwd / runtime s | warm s | "
           "cpu s | warm cpu s | first call s | warm first s | warm hits / misses |",
           "|" + "---|" * 14]
    f = lambda v, fmt="{:.2f}": "-" if v is None else fmt.format(v)  # noqa: E731
    for r in rows:
        ct, rs = r.get("compile_time"), r.get("records_sum_s")
        eq = "-" if ct is None or rs is None else ("yes" if abs(ct - rs) <= 1e-3 + 1e-6 * rs else "NO")
        g = r.get("by_graph") or {}
        out.append(f"| {r['case']} | {r['round']} | {r['status']} | {f(ct)} | {f(rs)} | {eq} | {r.get('records') or '-'} | "
                   f"{f(g.get('forward'))} / {f(g.get('backward'))} / {f(g.get('runtime'))} | "
                   f"{f(r.get('compile_time_warm'))} | {f(r.get('compile_cpu_time'))} | {f(r.get('compile_cpu_time_warm'))} | "
                   f"{f(r.get('first_call_time'))} | {f(r.get('first_call_time_warm'))} | "
                   f"{f(r.get('compile_cache_hits_warm'), '{:.0f}')} / {f(r.get('compile_cache_misses_warm'), '{:.0f}')} |")
    return "\n".join(out)


def cmd_table(a: argparse.Namespace) -> int:
    rows = db_rows(a.db)
    text = ("## compile_time vs the sum of all compile records, cold vs warm\n\n" + truth_table(rows)
            + "\n\n## run-to-run noise (CV over the runs)\n\n" + noise_table([r for r in rows if r["status"] == "ok"]) + "\n")
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--suite", default=str(Path(__file__).resolve().parents[1] / "tests" / "data" / "compile_suite.py"))
    r.add_argument("--benchmarks", default="")
    r.add_argument("--modes", default="default")
    r.add_argument("--size", default="tiny")
    r.add_argument("--backend", default="cpu")
    r.add_argument("-n", type=int, default=5)
    r.add_argument("--instructions", type=int, default=0, help="count instructions in the first K rounds")
    r.add_argument("--min-time", type=float, default=0.1)
    r.add_argument("--timeout", type=float, default=900)
    r.add_argument("--out")
    t = sub.add_parser("table")
    t.add_argument("--db", required=True)
    t.add_argument("--out")
    a = ap.parse_args()
    return cmd_run(a) if a.cmd == "run" else cmd_table(a)


if __name__ == "__main__":
    sys.exit(main())
