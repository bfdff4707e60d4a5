"""Commands over the store: `runs`, `export`, `db upgrade|current`, `push`."""

from __future__ import annotations

import argparse
import sys

from perfwatch.commands.common import add_db, config, engine, print_json, push_spool
from perfwatch.domain.errors import EXIT_CASES_FAILED, EXIT_OK, UsageError


def register(sub) -> None:
    runs = sub.add_parser("runs", help="list recent runs")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--suite")
    runs.add_argument("--json", action="store_true")
    add_db(runs)
    runs.set_defaults(handler=cmd_runs)

    exp = sub.add_parser("export", help="write a run's metrics, one record per metric")
    exp.add_argument("--run", default="latest",
                     help="run id (or unique prefix), 'latest' (default) or 'all' (every run, oldest first)")
    exp.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "asv"])
    exp.add_argument("--output", "-o", help="file to write (default: stdout)")
    exp.add_argument("--output-dir", help="--format asv: the (empty) asv results directory to write")
    add_db(exp)
    exp.set_defaults(handler=cmd_export)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    for name, text in (("upgrade", "apply the schema migrations"), ("current", "print the schema revision")):
        p = dbsub.add_parser(name, help=text)
        add_db(p)
    db.set_defaults(handler=cmd_db)

    push = sub.add_parser("push", help="write results spooled while the database was unreachable")
    add_db(push)
    push.set_defaults(handler=cmd_push)


def cmd_runs(args: argparse.Namespace) -> int:
    from perfwatch.store import queries
    from perfwatch.cli.tables import render

    rows = queries.list_runs(engine(config(args)), limit=args.limit, suite=args.suite)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("no runs yet; start one with: perfwatch run --suite llm --backend cpu")
        return EXIT_OK
    print(render(["run", "created", "suite", "backend", "size", "status", "cases", "failed", "git", "torch", "host"],
                 [[r["id"], (r["created_at"] or "")[:19].replace("T", " "), r["suite"], r["backend"], r["size"], r["status"],
                   r["cases_total"], r["cases_failed"], (r["git_sha"] or "")[:10], r["torch_version"], r["hostname"]]
                  for r in rows]))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from perfwatch.analysis import records as export
    from perfwatch.store import queries

    eng = engine(config(args))
    if args.format == "asv":  # a results directory for asv publish: perfwatch/commands/asvcmd.py
        from perfwatch.commands.asvcmd import export_asv

        return export_asv(eng, args)
    if args.run == "all":
        run_ids = queries.all_run_ids(eng)
        if not run_ids:
            raise UsageError("the database has no runs yet; start one with `perfwatch run --suite llm`")
    else:
        run_ids = [queries.resolve_run(eng, args.run)]

    def write(out) -> int:
        n = 0
        for i, run_id in enumerate(run_ids):  # run by run: a whole history never sits in memory at once
            records = queries.export_records(eng, [run_id])
            if args.format == "jsonl":
                export.write_jsonl(records, out)
            else:
                export.write_csv(records, out, header=i == 0)
            n += len(records)
        return n

    if args.output:
        with open(args.output, "w", newline="") as f:
            n = write(f)
        what = f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"
        print(f"wrote {n} record(s) of {what} to {args.output}", file=sys.stderr)
    else:
        write(sys.stdout)
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from perfwatch.store.engine import check_connection, make_engine, redact
    from perfwatch.store.migrate import current_revision, head_revision, upgrade

    cfg = config(args)
    eng = make_engine(cfg.resolved_db_url())
    check_connection(eng)
    if args.db_command == "upgrade":
        before = current_revision(eng)
        after = upgrade(eng)
        print(f"{redact(cfg.resolved_db_url())}: schema {before or '(empty)'} -> {after}")
    elif args.db_command == "current":
        print(f"{current_revision(eng) or '(empty)'} (head: {head_revision()})")
    else:
        raise UsageError("perfwatch db: expected an action: upgrade or current")
    return EXIT_OK


def cmd_push(args: argparse.Namespace) -> int:
    cfg = config(args)
    eng = engine(cfg)
    sent, left = push_spool(eng, cfg, quiet=True)
    print(f"pushed {sent} spooled result(s)" + (f"; {left} still pending" if left else "; nothing pending"))
    return EXIT_OK if not left else EXIT_CASES_FAILED
