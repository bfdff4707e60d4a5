"""`perfwatch regressions`: list stored regressions; acknowledge, resolve or reopen one."""

from __future__ import annotations

import argparse

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_db, config, engine, fmt_change, jsonable, print_json
from perfwatch.domain.errors import EXIT_OK, UsageError


def register(sub) -> None:
    g = sub.add_parser("regressions", help="list stored regressions; acknowledge or resolve one")
    g.add_argument("--state", default="open", choices=["open", "acknowledged", "resolved", "all"])
    g.add_argument("--ack", type=argtypes.positive_int, metavar="ID", help="mark regression ID acknowledged")
    g.add_argument("--resolve", type=argtypes.positive_int, metavar="ID", help="mark regression ID resolved")
    g.add_argument("--reopen", type=argtypes.positive_int, metavar="ID", help="mark regression ID open again")
    g.add_argument("--note", help="with --ack/--resolve/--reopen: why")
    g.add_argument("--limit", type=argtypes.positive_int, default=50)
    g.add_argument("--format", default="table", choices=["table", "json"])
    add_db(g)
    g.set_defaults(handler=cmd_regressions)


def cmd_regressions(args: argparse.Namespace) -> int:
    from perfwatch.store import history
    from perfwatch.cli.tables import render

    eng = engine(config(args))
    actions = [(i, st) for i, st in ((args.ack, "acknowledged"), (args.resolve, "resolved"), (args.reopen, "open")) if i is not None]
    if len(actions) > 1:
        raise UsageError("give one of --ack, --resolve, --reopen")
    if actions:
        rid, state = actions[0]
        history.set_state(eng, rid, state, args.note)
        print(f"regression {rid}: {state}" + (f" ({args.note})" if args.note else ""))
        return EXIT_OK
    rows = history.list_regressions(eng, state=None if args.state == "all" else args.state, limit=args.limit)
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
