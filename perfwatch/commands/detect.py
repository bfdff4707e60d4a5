"""`perfwatch detect`: change points and regressions in stored histories or a CSV."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from perfwatch.cli import argtypes  # finite, in range: NaN would silence detection
from perfwatch.commands.common import add_db, config, engine, fmt_change, jsonable, print_json
from perfwatch.domain.errors import EXIT_OK, UsageError


def add_thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-effect", type=argtypes.nonnegative, default=None, help="smallest relative change reported (default 0.01)")
    p.add_argument("--max-pvalue", type=argtypes.pvalue, default=None, help="largest p-value of a change (default 0.001)")
    p.add_argument("--confirm", type=argtypes.nonnegative_int, default=None, help="online: runs that must confirm a change before it alerts")


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


def _scope(tally, open_regressions: int | None) -> str:
    """What the scan covered: how many series it judged, how many were too short, what is open."""
    if tally is None:
        return ""
    if not tally.judged and not tally.too_short:
        text = "no stored series match"
    else:
        text = f"{tally.judged} series judged"
        if tally.too_short:
            text += f", {tally.too_short} too short to judge (fewer than {tally.min_runs} runs)"
    if open_regressions:
        text += f"; {open_regressions} regression(s) open: see `perfwatch regressions`"
    return text


def _print(records: list[dict[str, Any]], fmt: str, online: bool, scope: str = "") -> None:
    from perfwatch.cli.tables import render

    if fmt == "json":
        print_json([jsonable(r) for r in records])
        return
    if not records:
        print("no change points found" + (f": {scope}" if scope else ""))
        return
    headers = ["series", "ts", *(["raised_at"] if online else []), "direction", "change", "before", "after", "confidence"]
    rows = []
    for r in records:
        ts = r["ts"].isoformat() if isinstance(r["ts"], datetime) else str(r["ts"])
        raised = r.get("raised_at")
        raised = raised.isoformat() if isinstance(raised, datetime) else str(raised)
        rows.append([r["series"], ts, *([raised] if online else []), r["direction"], fmt_change(r["change"]),
                     f"{r['before']:.4g}", f"{r['after']:.4g}", f"{r['confidence'] * 100:.2f}%"])
    print(render(headers, rows))
    if scope:
        print(scope)


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
    from perfwatch.analysis.scan import Filters, Tally, scan

    cfg = detect_config(args)
    tally, open_now = None, None
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
        from perfwatch.store import history

        eng = engine(config(args))
        tally = Tally()
        records = scan(eng, filters, cfg, online=args.online, store=not args.no_store, tally=tally)
        open_now = len(history.list_regressions(eng, state="open"))
    if args.regressions_only:
        records = [r for r in records if r["direction"] == "regression"]
    _print(records, args.format, args.online, _scope(tally, open_now))
    return EXIT_OK
