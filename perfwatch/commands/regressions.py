"""`perfwatch regressions`: the stored regressions as findings (one per cause, most severe first);
acknowledge, resolve or reopen one finding (all its regressions) or, with --each, one regression."""

from __future__ import annotations

import argparse

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_db, config, engine, fmt_change, jsonable, print_json
from perfwatch.domain.errors import EXIT_OK, UsageError


def register(sub) -> None:
    g = sub.add_parser("regressions", help="list stored regressions as findings (one per cause, most severe "
                       "first); acknowledge or resolve one")
    g.add_argument("--state", default="open", choices=["open", "acknowledged", "resolved", "all"])
    g.add_argument("--ack", type=argtypes.positive_int, metavar="ID", help="mark the finding of regression ID acknowledged")
    g.add_argument("--resolve", type=argtypes.positive_int, metavar="ID", help="mark the finding of regression ID resolved")
    g.add_argument("--reopen", type=argtypes.positive_int, metavar="ID", help="mark the finding of regression ID open again")
    g.add_argument("--note", help="with --ack/--resolve/--reopen: why")
    g.add_argument("--each", action="store_true",
                   help="one line per stored regression, newest first (and --ack/--resolve/--reopen act on that one alone)")
    g.add_argument("--limit", type=argtypes.positive_int, default=50, help="lines shown (default 50)")
    g.add_argument("--format", default="table", choices=["table", "json"])
    add_db(g)
    g.set_defaults(handler=cmd_regressions)


def cmd_regressions(args: argparse.Namespace) -> int:
    from perfwatch.analysis.findings import finding_of, group_findings
    from perfwatch.store import history

    eng = engine(config(args))
    actions = [(i, st) for i, st in ((args.ack, "acknowledged"), (args.resolve, "resolved"), (args.reopen, "open")) if i is not None]
    if len(actions) > 1:
        raise UsageError("give one of --ack, --resolve, --reopen")
    if actions:
        rid, state = actions[0]
        found = None if args.each else finding_of(history.list_regressions(eng), rid)
        ids = [rid] + [i for i in (found.ids if found else ()) if i != rid]
        for i in ids:  # the named one first: an unknown id fails before anything changes
            history.set_state(eng, i, state, args.note)
        more = f" and {len(ids) - 1} more of its finding ({', '.join(map(str, ids[1:]))})" if len(ids) > 1 else ""
        print(f"regression {rid}{more}: {state}" + (f" ({args.note})" if args.note else ""))
        return EXIT_OK
    state = None if args.state == "all" else args.state
    if args.each:
        rows = history.list_regressions(eng, state=state, limit=args.limit)
        return _print_each(rows, args)
    findings = group_findings(history.list_regressions(eng, state=state))
    if args.format == "json":
        print_json([jsonable({**f.lead, "severity": round(f.severity, 4), "group": f.group, "ids": list(f.ids),
                              "evidence": list(f.evidence)}) for f in findings[:args.limit]])
        return EXIT_OK
    if not findings:
        print(f"no {args.state if args.state != 'all' else ''} regressions".replace("  ", " "))
        return EXIT_OK
    _print_findings(findings, args.limit)
    return EXIT_OK


def _print_findings(findings, limit: int) -> None:
    from perfwatch.domain.units import figure
    from perfwatch.cli.tables import render

    rows = []
    for f in findings[:limit]:
        r = f.lead
        also = ", ".join(f"{e['metric']} {fmt_change(e['change'])}" for e in f.evidence)
        rows.append([r["id"], f.state, (r["ts"] or "")[:16].replace("T", " "), r["run_id"], r["suite"], r["benchmark"],
                     r["mode"], r["backend"], r["metric"], f"{figure(r['before'], r['unit'] or '')} -> "
                     f"{figure(r['after'], r['unit'] or '')}", fmt_change(r["change"]), also or "-", r["hostname"]])
    print(render(["id", "state", "since", "run", "suite", "benchmark", "mode", "backend", "metric", "before -> after",
                  "change", "also moved", "host"], rows))
    total = sum(len(f.ids) for f in findings)
    shown = f"; the first {limit} shown (--limit)" if len(findings) > limit else ""
    print(f"{len(findings)} finding(s) from {total} stored regression(s), most severe first{shown}; "
          "--each lists every regression")


def _print_each(rows, args) -> int:
    from perfwatch.cli.tables import render

    if args.format == "json":
        print_json([jsonable(r) for r in rows])
        return EXIT_OK
    if not rows:
        print(f"no {args.state if args.state != 'all' else ''} regressions".replace("  ", " "))
        return EXIT_OK
    print(render(["id", "state", "since", "run", "suite", "benchmark", "mode", "backend", "metric", "before", "after",
                  "change", "host"],
                 [[r["id"], r["state"], (r["ts"] or "")[:16].replace("T", " "), r["run_id"], r["suite"], r["benchmark"],
                   r["mode"], r["backend"], r["metric"], f"{r['before']:.4g}", f"{r['after']:.4g}", fmt_change(r["change"]),
                   r["hostname"]] for r in rows]))
    return EXIT_OK
