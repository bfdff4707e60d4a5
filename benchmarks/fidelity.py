"""How honest and how steady is perfwatch's step time? Compare it with triton's do_bench and torch's Timer.

For each case (SUITE:BENCHMARK:MODE:SIZE) this makes ``--runs`` independent measurements with
each tool, alternating between the tools from one run to the next:
  - perfwatch: the step time ``perfwatch run --processes K`` stores, made through the runner
    exactly as the CLI does (K fresh worker processes, the median of their medians);
  - do_bench:  ``triton.testing.do_bench(step, return_mode="median")`` in a fresh process
    (CUDA only; it clears the L2 cache before every call and times each call with its own events);
  - timer:     ``torch.utils.benchmark.Timer(...).adaptive_autorange()`` median, in the same fresh
    process as do_bench;
  - inproc:    perfwatch's own ``measure()`` (the worker's method) for the same time, in that same
    process, on the same steps; the three in rotating order;
  - graph:     eager and default mode on CUDA, where the step captures: perfwatch's ``graph_time`` (the first worker's)
    run to run, and in the reference process the captured step's replays timed as perfwatch
    times them and by do_bench (the ratio).
Each tool is used once per run, as a user would use it. Per case it prints each tool's median
over the runs, perfwatch's ratio to each reference and each tool's run-to-run coefficient of
variation (target: <= 0.5% for GPU-bound work; for launch-bound work at most half the best
reference's CV). The ratio (target 0.97-1.03) is taken in one process: ``inproc`` over each
reference, per run, averaged over the runs; the ratio of the separate perfwatch runs is printed
beside it. ``perfwatch-1p`` is the first worker process of each perfwatch run alone: what
``--processes 1`` would have stored, so the effect of the method is visible side by side.

    python benchmarks/fidelity.py llm:train:eager:small ops:matmul:eager:large --runs 5 --processes 5 \\
        --backend cuda --json out.json

``--interleave`` asks whether spreading a case's processes over a whole suite run helps: the cases
(benchmarks of one suite, one mode and size) are measured together, and every run has three arms
in rotating order: the suite run as ``perfwatch run --processes K`` (each case's processes back to
back: ``perfwatch``), the same with ``--interleave`` (``perfwatch-interleaved``), and one reference
process per case. Both perfwatch arms and the references share each run's drift, so their CVs
compare side by side.

    python benchmarks/fidelity.py llm:train:eager:small llm:inference:eager:small --interleave --runs 5
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


def references(case: str, backend: str, min_time: float, first: str) -> dict:
    """Runs in a fresh process: build the case like the worker (perfwatch.api), time it with do_bench,
    Timer and perfwatch's timing method, each for about ``min_time``."""
    sys.path.insert(0, str(ROOT))
    from perfwatch import api

    spec = api.case_spec(case, backend, min_time_s=min_time)
    call = api.build_case(spec)
    api.warm_up(call, spec)
    api.synchronize(backend)

    def db() -> float:
        import triton.testing

        return float(triton.testing.do_bench(call, warmup=25, rep=max(100, int(min_time * 1000)), return_mode="median"))

    def tm() -> float:
        from torch.utils import benchmark

        m = benchmark.Timer(stmt="call()", globals={"call": call}).adaptive_autorange(
            threshold=0.1, min_run_time=min(min_time, 1.0), max_run_time=max(2.0, 2 * min_time))
        return m.median * 1e3

    def pw() -> float:
        r = api.time_call(call, spec, min_time_s=min_time, max_time_s=min_time, max_samples=100_000)
        return statistics.median(r.samples_ms)

    timers = {"timer": tm, "inproc": pw}
    if backend == "cuda":
        timers["do_bench"] = db
    names = sorted(timers)
    k = names.index(first) if first in names else 0
    out = {n: timers[n]() for n in names[k:] + names[:k]}  # rotate who goes first
    if api.graph_pass(spec):  # eager and default mode on CUDA; last: a failed capture can spoil the stream
        out.update(graph_references(call, min_time))
    return out


def graph_references(call, min_time: float) -> dict:
    """The step captured as a CUDA graph: replays timed as perfwatch does and by do_bench."""
    import triton.testing

    from perfwatch import api

    try:
        graph, _ = api.capture_graph(call)
    except Exception as exc:  # noqa: BLE001 - not capturable: say so, no figure
        return {"graph_status": f"not capturable: {type(exc).__name__}"}
    pw = statistics.median(api.time_replays(graph, min_time_s=0.2))
    db = float(triton.testing.do_bench(graph.replay, warmup=25, rep=max(100, int(min_time * 1000)), return_mode="median"))
    return {"graph_inproc": pw, "graph_do_bench": db}


def shared_suite(cases: list[str]) -> tuple[str, str, str]:
    """The suite, mode and size every case shares (cases measured together run as one suite run)."""
    keys = {tuple(c.split(":")[i] for i in (0, 2, 3)) for c in cases}
    if len(keys) != 1 or any(len(c.split(":")) != 4 for c in cases):
        raise SystemExit("--interleave: the cases must be benchmarks of one suite with one mode and size, "
                         f"SUITE:BENCHMARK:MODE:SIZE; got {', '.join(cases)}")
    return keys.pop()


def perfwatch_suite_run(cases: list[str], backend: str, min_time: float, processes: int, timeout: float,
                        interleave: bool, max_time: float | None = None) -> dict[str, dict]:
    """One `perfwatch run --processes K [--interleave]` of several benchmarks of one suite, through the
    runner's own execute() (no database): {case: figures} for the cases that ended ok."""
    sys.path.insert(0, str(ROOT))
    from perfwatch import api

    suite_name, mode, size = shared_suite(cases)
    benches = tuple(c.split(":")[1] for c in cases)
    req = api.RunRequest(suite=suite_name, backend=backend, modes=(mode,), benchmarks=benches, size=size,
                         accuracy=False)
    outcome = api.run_suite(req, api.Config(min_time_s=min_time, max_time_s=max_time), timeout, processes=processes,
                            interleave=interleave)
    out = {}
    for res in outcome.cases:
        case = f"{suite_name}:{res.spec.benchmark}:{mode}:{size}"
        if res.status == "ok":
            out[case] = _figures(res)
        else:
            print(f"{case}: perfwatch case {res.status}: {res.error}", file=sys.stderr)
    return out


def _figures(res) -> dict:
    timing = res.details.get("timing", {})
    medians = timing.get("process_medians_ms") or [res.metric("step_time").value]
    host = res.metric("host_time")
    graph = res.metric("graph_time")
    return {"ms": res.metric("step_time").value, "first_process_ms": medians[0], "process_medians_ms": medians,
            "graph_ms": graph.value if graph else None,
            "host_ms": host.value if host else None, "inner": timing.get("inner_loops"), "method": timing.get("method"),
            "timed_s": timing.get("timed_s"), "precision": timing.get("precision"),
            "process_span_s": timing.get("process_span_s")}


def reference_process(case: str, backend: str, min_time: float, first: str, timeout: float) -> dict | None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        p = subprocess.run([sys.executable, __file__, "--one", case, "--backend", backend, "--min-time", str(min_time),
                            "--first", first], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"{case}: a reference process timed out", file=sys.stderr)
        return None
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("FIDELITY ")]
    if p.returncode or not line:
        print(f"{case}: reference process failed (rc {p.returncode}): {p.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(line[0][len("FIDELITY "):])


def cv(xs: list[float]) -> float | None:
    return statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 and statistics.mean(xs) > 0 else None


def summarize_case(runs: list[dict]) -> dict:
    summary = {}
    refs = [n for n in ("do_bench", "timer") if all(n in r["refs"] for r in runs)]
    interleaved = ["perfwatch-interleaved"] if all(r.get("interleaved") for r in runs) else []
    names = (["perfwatch", "perfwatch-1p"] + interleaved
             + (["inproc"] if all("inproc" in r["refs"] for r in runs) else []) + refs)
    pw = [r["perfwatch"]["ms"] for r in runs]
    for name in names:
        if name == "perfwatch":
            vals = pw
        elif name == "perfwatch-1p":
            vals = [r["perfwatch"]["first_process_ms"] for r in runs]
        elif name == "perfwatch-interleaved":
            vals = [r["interleaved"]["ms"] for r in runs]
        else:
            vals = [r["refs"][name] for r in runs]
        summary[name] = {"median_ms": statistics.median(vals), "cv": cv(vals), "per_run_ms": vals}
        if name in refs:
            # in one process (the ratio), and across the separate perfwatch runs
            if "inproc" in names:
                rs = [r["refs"]["inproc"] / r["refs"][name] for r in runs]
                summary[name]["inproc_ratio"] = statistics.mean(rs)
                summary[name]["inproc_ratio_se"] = statistics.stdev(rs) / len(rs) ** 0.5 if len(rs) > 1 else None
            summary[name]["perfwatch_ratio"] = statistics.mean(p / v for p, v in zip(pw, vals))
    ref_cvs = [summary[n]["cv"] for n in refs if summary[n]["cv"] is not None]
    if ref_cvs and summary["perfwatch"]["cv"] is not None:
        summary["perfwatch_cv_over_best_reference"] = summary["perfwatch"]["cv"] / min(ref_cvs)
    if ref_cvs and interleaved and summary["perfwatch-interleaved"]["cv"] is not None:
        summary["interleaved_cv_over_best_reference"] = summary["perfwatch-interleaved"]["cv"] / min(ref_cvs)
        spans = [r["interleaved"].get("process_span_s") for r in runs]
        if all(spans):
            summary["perfwatch-interleaved"]["median_process_span_s"] = statistics.median(spans)
    graphs = [r["perfwatch"].get("graph_ms") for r in runs]
    if all(graphs) and all("graph_do_bench" in r["refs"] for r in runs):
        refs_g = [r["refs"]["graph_do_bench"] for r in runs]
        rs = [r["refs"]["graph_inproc"] / r["refs"]["graph_do_bench"] for r in runs]
        summary["graph"] = {"median_ms": statistics.median(graphs), "cv": cv(graphs), "per_run_ms": graphs,
                            "do_bench_median_ms": statistics.median(refs_g), "do_bench_cv": cv(refs_g),
                            "inproc_ratio": statistics.mean(rs),
                            "inproc_ratio_se": statistics.stdev(rs) / len(rs) ** 0.5 if len(rs) > 1 else None}
    hosts = [r["perfwatch"]["host_ms"] for r in runs if r["perfwatch"]["host_ms"]]
    if hosts:
        summary["host_fraction"] = statistics.median(hosts) / statistics.median(pw)
    return summary


def print_summary(case: str, summary: dict) -> None:
    for name, s in summary.items():
        if not isinstance(s, dict):
            continue
        if name == "graph":
            print(f"{case:38} graph replay: perfwatch {s['median_ms']:.4f} ms CV {100 * (s['cv'] or 0):.2f}%, do_bench "
                  f"{s['do_bench_median_ms']:.4f} ms CV {100 * (s['do_bench_cv'] or 0):.2f}%, ratio in one process "
                  f"{s['inproc_ratio']:.3f}", flush=True)
            continue
        c, ratio, inproc = s["cv"], s.get("perfwatch_ratio"), s.get("inproc_ratio")
        ip = f"{inproc:.3f} +- {s['inproc_ratio_se'] or 0:.3f}" if inproc is not None else ""
        print(f"{case:38} {name:21} {s['median_ms']:10.4f} {100 * c if c is not None else float('nan'):7.2f} "
              f"{ip:>21} {ratio if ratio is not None else float('nan'):11.3f}", flush=True)
    if "perfwatch_cv_over_best_reference" in summary:
        print(f"{case:38} perfwatch CV / best reference CV = {summary['perfwatch_cv_over_best_reference']:.2f}"
              f"; host time / step time = {summary.get('host_fraction', float('nan')):.2f}", flush=True)
    if "interleaved_cv_over_best_reference" in summary:
        span = summary["perfwatch-interleaved"].get("median_process_span_s")
        print(f"{case:38} interleaved CV / best reference CV = {summary['interleaved_cv_over_best_reference']:.2f}"
              + (f"; its processes spread over {span:.0f} s" if span else ""), flush=True)


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{m:.4f}" for m in xs)


def measure_cases(args, report: dict) -> None:
    """Each case on its own: per run, perfwatch and the reference process, alternating who goes first."""
    for case in args.cases:
        runs = []
        for r in range(args.runs):
            t0 = time.perf_counter()
            one: dict = {}
            for what in (("pw", "ref") if r % 2 == 0 else ("ref", "pw")):  # alternate who goes first
                if what == "pw":
                    try:  # the case alone as a suite run: `perfwatch run --benchmarks B --processes K`
                        one["perfwatch"] = perfwatch_suite_run([case], args.backend, args.min_time, args.processes,
                                                               args.timeout, interleave=False,
                                                               max_time=args.max_time).get(case)
                    except Exception as exc:  # noqa: BLE001 - report and go on with the next run
                        print(f"{case}: {exc}", file=sys.stderr)
                else:
                    one["refs"] = reference_process(case, args.backend, args.ref_min_time,
                                                    ("do_bench", "inproc", "timer")[r % 3], args.timeout)
            if one.get("perfwatch") and one.get("refs"):
                one["seconds"] = round(time.perf_counter() - t0, 1)
                runs.append(one)
                print_run(r, one)
        if len(runs) < 2:
            continue
        summary = summarize_case(runs)
        print_summary(case, summary)
        report["cases"][case] = {"summary": summary, "runs": runs}
        if args.json:  # after every case: a run cut short keeps what it measured
            Path(args.json).write_text(json.dumps(report, indent=2))


def print_run(r: int, one: dict, case: str = "") -> None:
    extra = ""
    if one.get("interleaved"):
        il = one["interleaved"]
        extra = f" interleaved {il['ms']:.4f} ({_fmt(il['process_medians_ms'])})"
    print(f"  run {r}: {case + ' ' if case else ''}perfwatch {one['perfwatch']['ms']:.4f} (processes "
          f"{_fmt(one['perfwatch']['process_medians_ms'])}){extra} refs "
          f"{', '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}' for k, v in one['refs'].items())}"
          f" [{one['seconds']} s]", flush=True)


def measure_interleaved(args, report: dict) -> None:
    """The cases as one suite run, per run three arms in rotating order: in turn, interleaved, references."""
    shared_suite(args.cases)  # a usage error before anything runs
    arms = ("perfwatch", "interleaved", "refs")
    runs: dict[str, list[dict]] = {c: [] for c in args.cases}
    for r in range(args.runs):
        t0 = time.perf_counter()
        got: dict[str, dict] = {a: {} for a in arms}
        order = arms[r % 3:] + arms[:r % 3]  # each arm first, middle and last in turn
        for arm in order:
            if arm == "refs":
                for i, case in enumerate(args.cases):
                    got["refs"][case] = reference_process(case, args.backend, args.ref_min_time,
                                                          ("do_bench", "inproc", "timer")[(r + i) % 3], args.timeout)
            else:
                got[arm] = perfwatch_suite_run(args.cases, args.backend, args.min_time, args.processes, args.timeout,
                                               interleave=arm == "interleaved", max_time=args.max_time)
        seconds = round(time.perf_counter() - t0, 1)
        print(f"run {r} ({' -> '.join(order)}, {seconds} s):", flush=True)
        for case in args.cases:
            if all(got[a].get(case) for a in arms):
                one = {"perfwatch": got["perfwatch"][case], "interleaved": got["interleaved"][case],
                       "refs": got["refs"][case], "seconds": seconds, "order": list(order)}
                runs[case].append(one)
                print_run(r, one, case)
        for case, rs in runs.items():  # after every run: a lease cut short keeps what it measured
            report["cases"][case] = {"summary": summarize_case(rs) if len(rs) > 1 else {}, "runs": rs}
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    for case, rs in runs.items():
        if len(rs) > 1:
            print_summary(case, report["cases"][case]["summary"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+", help="SUITE:BENCHMARK:MODE:SIZE")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--runs", type=int, default=5, help="independent measurements per tool (default 5)")
    ap.add_argument("--processes", type=int, default=5, help="perfwatch worker processes per run (default 5)")
    ap.add_argument("--interleave", action="store_true",
                    help="the cases as one suite run, in turn and interleaved, against the references (see above)")
    ap.add_argument("--min-time", type=float, default=0.5, help="perfwatch's --min-time per process (default 0.5)")
    ap.add_argument("--max-time", type=float, default=None,
                    help="perfwatch's --max-time per process (default: perfwatch's, 5 x --min-time)")
    ap.add_argument("--ref-min-time", type=float, default=1.0, help="the references' measuring time (default 1)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="write every run and the summary here")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--first", default="do_bench", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("FIDELITY " + json.dumps(references(args.cases[0], args.backend, args.min_time, args.first)))
        return 0
    if args.interleave and args.processes < 2:
        raise SystemExit("--interleave needs --processes 2 or more")
    report: dict = {"settings": vars(args), "cases": {}}
    print(f"{'case':38} {'timer':21} {'median ms':>10} {'CV %':>7} {'ratio in one process':>21} {'pw runs/ref':>11}")
    (measure_interleaved if args.interleave else measure_cases)(args, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
