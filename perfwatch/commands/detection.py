"""Commands that judge results: `detect`, `compare`, `report`."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from typing import Any

from perfwatch.commands.common import add_db, config, engine, print_json
from perfwatch.domain.errors import EXIT_OK, UsageError


def add_thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-effect", type=float, default=None, help="smallest relative change reported (default 0.01)")
    p.add_argument("--max-pvalue", type=float, default=None, help="largest p-value of a change (default 0.001)")
    p.add_argument("--confirm", type=int, default=None, help="online: runs that must confirm a change before it alerts")


def detect_config(args: argparse.Namespace):
    from perfwatch.detect import DetectConfig

    values = {k: getattr(args, k) for k in ("min_effect", "max_pvalue", "confirm") if getattr(args, k, None) is not None}
    try:
        return DetectConfig(**values)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def register(sub) -> None:
    d = sub.add_parser("detect", help="find change points and regressions in stored histories or a CSV")
    d.add_argument("--input", metavar="FILE.csv", help="series,ts,value[,direction] CSV instead of the database")
    d.add_argument("--direction", default="lower_is_better", choices=["lower_is_better", "higher_is_better"],
                   help="for CSV series without a direction column (default lower_is_better)")
    d.add_argument("--online", action="store_true", help="replay each series run by run; report when each alert is raised")
    for f in ("suite", "benchmark", "mode", "backend", "metric", "machine"):
        d.add_argument(f"--{f}", help=f"only series with this {f}")
    d.add_argument("--since", help="only runs on or after this date (ISO, e.g. 2026-11-01)")
    d.add_argument("--regressions-only", action="store_true", help="omit improvements from the output")
    d.add_argument("--no-store", action="store_true", help="do not record regressions in the database")
    d.add_argument("--format", default="table", choices=["table", "json"])
    add_thresholds(d)
    add_db(d)
    d.set_defaults(handler=cmd_detect)

    c = sub.add_parser("compare", help="per-case deltas between two runs, with significance from the samples")
    c.add_argument("run_a", metavar="RUN_A", help="baseline run id, prefix or 'latest'")
    c.add_argument("run_b", metavar="RUN_B", help="new run id, prefix or 'latest'")
    c.add_argument("--metrics", default=None, help="comma-separated metrics (default: the headline ones); 'all' for every one")
    c.add_argument("--regressions-only", action="store_true")
    c.add_argument("--alpha", type=float, default=0.01, help="significance level of the sample test (default 0.01)")
    c.add_argument("--format", default="table", choices=["table", "json"])
    add_db(c)
    c.set_defaults(handler=cmd_compare)

    g = sub.add_parser("regressions", help="list stored regressions; acknowledge or resolve one")
    g.add_argument("--state", default="open", choices=["open", "acknowledged", "resolved", "all"])
    g.add_argument("--ack", type=int, metavar="ID", help="mark regression ID acknowledged")
    g.add_argument("--resolve", type=int, metavar="ID", help="mark regression ID resolved")
    g.add_argument("--reopen", type=int, metavar="ID", help="mark regression ID open again")
    g.add_argument("--note", help="with --ack/--resolve/--reopen: why")
    g.add_argument("--limit", type=int, default=50)
    g.add_argument("--format", default="table", choices=["table", "json"])
    add_db(g)
    g.set_defaults(handler=cmd_regressions)

    r = sub.add_parser("report", help="summarize a run for a pull-request comment")
    r.add_argument("--run", default="latest")
    r.add_argument("--baseline", help="run to compare with (default: the previous run of the same suite and machine)")
    r.add_argument("--format", default="markdown", choices=["markdown", "json"])
    r.add_argument("--output", "-o", help="file to write (default stdout)")
    add_db(r)
    r.set_defaults(handler=cmd_report)


def _jsonable(rec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in rec.items():
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, float) and not math.isfinite(v):
            v = "inf" if v > 0 else "-inf"
        out[k] = v
    return out


def _fmt_change(x: float) -> str:
    return ("+inf" if x > 0 else "-inf") if not math.isfinite(x) else f"{x * 100:+.1f}%"


def _print(records: list[dict[str, Any]], fmt: str, online: bool) -> None:
    from perfwatch.cli.tables import render

    if fmt == "json":
        print_json([_jsonable(r) for r in records])
        return
    if not records:
        print("no change points found")
        return
    headers = ["series", "ts", *(["raised_at"] if online else []), "direction", "change", "before", "after", "confidence"]
    rows = []
    for r in records:
        ts = r["ts"].isoformat() if isinstance(r["ts"], datetime) else str(r["ts"])
        raised = r.get("raised_at")
        raised = raised.isoformat() if isinstance(raised, datetime) else str(raised)
        rows.append([r["series"], ts, *([raised] if online else []), r["direction"], _fmt_change(r["change"]),
                     f"{r['before']:.4g}", f"{r['after']:.4g}", f"{r['confidence'] * 100:.2f}%"])
    print(render(headers, rows))


def _detect_csv(args, cfg) -> list[dict[str, Any]]:
    from perfwatch.detect import detect, detect_online
    from perfwatch.detect.csvinput import read_series_csv

    out = []
    for name, (direction, points) in read_series_csv(args.input).items():
        fn = detect_online if args.online else detect
        for cp in fn(points, direction or args.direction, cfg):
            out.append({"series": name, "ts": cp.ts, "raised_at": cp.raised_at, "index": cp.index,
                        "direction": cp.direction, "change": cp.change, "pvalue": cp.pvalue,
                        "confidence": cp.confidence, "before": cp.before, "after": cp.after})
    return out


def cmd_detect(args: argparse.Namespace) -> int:
    from perfwatch.analysis.scan import Filters, scan

    cfg = detect_config(args)
    if args.input:
        records = _detect_csv(args, cfg)
    else:
        since = None
        if args.since:
            try:
                since = datetime.fromisoformat(args.since)
            except ValueError:
                raise UsageError(f"--since {args.since!r}: expected an ISO date such as 2026-11-01") from None
            since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        filters = Filters(args.suite, args.benchmark, args.mode, args.backend, args.metric, args.machine, since)
        records = scan(engine(config(args)), filters, cfg, online=args.online, store=not args.no_store)
    if args.regressions_only:
        records = [r for r in records if r["direction"] == "regression"]
    _print(records, args.format, args.online)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from perfwatch.analysis.compare import DEFAULT_METRICS, compare_runs
    from perfwatch.store import queries
    from perfwatch.cli.tables import render

    eng = engine(config(args))
    a, b = queries.resolve_run(eng, args.run_a), queries.resolve_run(eng, args.run_b)
    metrics = None if args.metrics == "all" else tuple(args.metrics.split(",")) if args.metrics else DEFAULT_METRICS
    rows = compare_runs(eng, a, b, metrics, alpha=args.alpha)
    if args.regressions_only:
        rows = [r for r in rows if r["verdict"] == "regression"]
    if args.format == "json":
        print_json({"run_a": a, "run_b": b, "rows": [_jsonable(r) for r in rows]})
        return EXIT_OK
    print(f"{a} -> {b}")
    if not rows:
        print("no comparable cases")
        return EXIT_OK
    print(render(["benchmark", "mode", "metric", "A", "B", "change", "p-value", "verdict"],
                 [[r["benchmark"], r["mode"], r["metric"], f"{r['a']:.4g}", f"{r['b']:.4g}", _fmt_change(r["change"]),
                   "-" if r["pvalue"] is None else f"{r['pvalue']:.2g}", r["verdict"]] for r in rows],
                 right=(3, 4, 5, 6)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from perfwatch.analysis.report import build_report, to_markdown
    from perfwatch.store import queries

    eng = engine(config(args))
    run_id = queries.resolve_run(eng, args.run)
    baseline = queries.resolve_run(eng, args.baseline) if args.baseline else None
    rep = build_report(eng, run_id, baseline)
    text = to_markdown(rep) if args.format == "markdown" else json.dumps(
        {**rep, "regressions": [_jsonable(r) for r in rep["regressions"]]}, indent=2, default=str) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_regressions(args: argparse.Namespace) -> int:
    from perfwatch.store import history
    from perfwatch.cli.tables import render

    eng = engine(config(args))
    actions = [(i, st) for i, st in ((args.ack, "acknowledged"), (args.resolve, "resolved"), (args.reopen, "open")) if i]
    if len(actions) > 1:
        raise UsageError("give one of --ack, --resolve, --reopen")
    if actions:
        rid, state = actions[0]
        history.set_state(eng, rid, state, args.note)
        print(f"regression {rid}: {state}" + (f" ({args.note})" if args.note else ""))
        return EXIT_OK
    rows = history.list_regressions(eng, state=None if args.state == "all" else args.state, limit=args.limit)
    if args.format == "json":
        print_json([_jsonable(r) for r in rows])
        return EXIT_OK
    if not rows:
        print(f"no {args.state if args.state != 'all' else ''} regressions".replace("  ", " "))
        return EXIT_OK
    print(render(["id", "state", "since", "run", "suite", "benchmark", "mode", "backend", "metric", "before", "after",
                  "change", "host"],
                 [[r["id"], r["state"], (r["ts"] or "")[:16].replace("T", " "), r["run_id"], r["suite"], r["benchmark"],
                   r["mode"], r["backend"], r["metric"], f"{r['before']:.4g}", f"{r['after']:.4g}", _fmt_change(r["change"]),
                   r["hostname"]] for r in rows]))
    return EXIT_OK
