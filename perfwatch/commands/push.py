"""`perfwatch push`: write results spooled while the database was unreachable."""

from __future__ import annotations

import argparse

from perfwatch.commands.common import add_db, config, engine, push_spool
from perfwatch.commands.runs import close_stale_runs
from perfwatch.domain.errors import EXIT_CASES_FAILED, EXIT_OK


def register(sub) -> None:
    push = sub.add_parser("push", help="write results spooled while the database was unreachable")
    add_db(push)
    push.set_defaults(handler=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    cfg = config(args)
    eng = engine(cfg, write=True)  # stores results: creates or migrates the schema
    result = push_spool(eng, cfg, quiet=True)
    sent, left = result
    close_stale_runs(eng)  # after the push: a killed run's spooled cases count when it is closed
    why = f" ({result.reason})" if left and getattr(result, "reason", None) else ""
    print(f"pushed {sent} spooled result(s)" + (f"; {left} still pending{why}" if left else "; nothing pending"))
    return EXIT_OK if not left else EXIT_CASES_FAILED
