"""`perfwatch runs`: list recent runs."""

from __future__ import annotations

import argparse
import sys

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_db, config, engine, print_json
from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    runs = sub.add_parser("runs", help="list recent runs")
    runs.add_argument("--limit", type=argtypes.nonnegative_int, default=20)
    runs.add_argument("--suite")
    runs.add_argument("--json", action="store_true")
    add_db(runs)
    runs.set_defaults(handler=cmd_runs)


def close_stale_runs(eng) -> list[str]:
    """Close the runs left ``running`` by a runner that is gone (kill -9, a crash, a reboot) as
    ``interrupted``, saying so on stderr; run, runs and push call this on every database they open."""
    from perfwatch.measure.runner import runner_gone
    from perfwatch.store import writes

    closed = writes.close_stale_runs(eng, runner_gone)
    for run_id, ident in closed:
        print(f"perfwatch: run {run_id} was left running by a process that is gone "
              f"(pid {ident.get('pid')} on {ident.get('host')}); marked interrupted", file=sys.stderr)
    return [run_id for run_id, _ in closed]


def cmd_runs(args: argparse.Namespace) -> int:
    from perfwatch.store import queries
    from perfwatch.cli.tables import render

    eng = engine(config(args))
    close_stale_runs(eng)
    rows = queries.list_runs(eng, limit=args.limit, suite=args.suite)
    if args.json:
        print_json([r.to_dict() for r in rows])
        return EXIT_OK
    if not rows:
        print("no runs yet; start one with: perfwatch run --suite llm --backend cpu")
        return EXIT_OK
    print(render(["run", "created", "suite", "backend", "size", "status", "cases", "failed", "git", "torch", "host"],
                 [[r.id, r.created_at[:19].replace("T", " "), r.suite, r.backend, r.size, r.status,
                   r.cases_total, r.cases_failed, (r.git_sha or "")[:10], r.torch_version, r.hostname]
                  for r in rows]))
    return EXIT_OK
