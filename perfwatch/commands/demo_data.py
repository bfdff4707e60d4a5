"""`perfwatch demo-data`: fill a database with DEMO history to try the dashboard and detection on."""

from __future__ import annotations

import argparse
import shlex
import sys

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_db, config, engine
from perfwatch.domain.errors import EXIT_OK, UsageError


def register(sub) -> None:
    demo = sub.add_parser("demo-data", help="fill a database with DEMO history (machines demo-*, runs tagged demo=true)")
    demo.add_argument("--rows", type=argtypes.positive_int, default=100_000, help="metric rows to write, about (default 100000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--force", action="store_true", help="add demo data to a database that already has runs")
    add_db(demo)
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from perfwatch.analysis import demo
    from perfwatch.store import queries
    from perfwatch.store.engine import redact

    if args.rows <= 0:
        raise UsageError("--rows must be > 0")
    cfg = config(args)
    eng = engine(cfg, write=True)  # stores results: creates or migrates the schema
    existing = queries.count_rows(eng)["runs"]
    if existing and not args.force:
        raise UsageError(f"the database already has {existing} run(s); demo data belongs in a database of its own "
                         "(pass --force to add it anyway)")
    url = redact(cfg.resolved_db_url())
    print(f"writing DEMO data (not real measurements: machines demo-*, runs tagged demo=true) to {url}", file=sys.stderr)
    summary = demo.generate(eng, args.rows, seed=args.seed,
                            progress=lambda n: print(f"  {n:,} metric rows", file=sys.stderr))
    print(f"demo data: {summary.rows:,} metric rows, {summary.runs} runs, {summary.cases} cases, {summary.series} series "
          f"over {summary.nights} nights on {', '.join(summary.machines)}")
    print(f"injected regressions ({len(summary.injected)}), for `perfwatch detect` to find:")
    for j in summary.injected:
        change = f"+{j.factor:g} events" if j.metric in demo.COUNTERS else f"x{j.factor:g}"
        print(f"  {j.machine} {j.suite}/{j.benchmark} [{j.mode}] {j.metric} {change} from run {j.run_id}")
    db = f" --db {shlex.quote(redact(cfg.db_url))}" if cfg.db_url else ""  # the password stays hidden here too
    print(f"next: perfwatch detect{db}  then  perfwatch dashboard{db}")
    return EXIT_OK
