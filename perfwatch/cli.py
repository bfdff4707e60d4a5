"""The command line. The one place that catches PerfwatchError and maps it to an exit code.

Exit codes: 0 success; 1 a regression was found (--fail-on-regression); 2 bad usage or
configuration (nothing run, nothing written); 3 some cases failed (their status is stored);
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from perfwatch import __version__
from perfwatch.errors import EXIT_CASES_FAILED, EXIT_INTERRUPTED, EXIT_OK, PerfwatchError, UsageError


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="database URL (default: $PERFWATCH_DB_URL, then the SQLite file "
                   "under $PERFWATCH_HOME or ~/.local/share/perfwatch)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perfwatch", description="Catch performance regressions in PyTorch workloads.")
    parser.add_argument("--version", action="version", version=f"perfwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite and store every figure")
    run.add_argument("--suite", required=True, help="suite name (see `perfwatch suites`) or path/to/suite.py")
    run.add_argument("--backend", default="auto", help="cpu, cuda, mps or auto (default: auto)")
    run.add_argument("--modes", default="eager,default,reduce-overhead,max-autotune",
                     help="comma-separated: eager, default, reduce-overhead, max-autotune (default: all)")
    run.add_argument("--benchmarks", default="", help="comma-separated benchmark names (default: all in the suite)")
    run.add_argument("--size", default="auto", help="tiny, small, medium, large or auto (tiny on cpu, medium on cuda)")
    run.add_argument("--dtype", default="float32", help="parameter dtype (default float32; bf16 autocast on cuda)")
    run.add_argument("--timeout", type=float, default=None, help="seconds per case, compile included (default 900)")
    run.add_argument("--min-time", type=float, default=None, help="seconds of timed steps per case (default 1)")
    run.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="label the run (repeatable)")
    run.add_argument("--no-accuracy", action="store_true", help="skip the eager and float64 accuracy references")
    run.add_argument("--json", action="store_true", help="print the run as JSON on stdout instead of a table")
    _add_db(run)

    sub.add_parser("suites", help="list suites and their benchmarks")

    runs = sub.add_parser("runs", help="list recent runs")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--suite")
    runs.add_argument("--json", action="store_true")
    _add_db(runs)

    exp = sub.add_parser("export", help="write a run's metrics, one record per metric")
    exp.add_argument("--run", default="latest", help="run id (or unique prefix) or 'latest' (default)")
    exp.add_argument("--format", default="jsonl", choices=["jsonl", "csv"])
    exp.add_argument("--output", "-o", help="file to write (default: stdout)")
    _add_db(exp)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply the schema migrations")
    _add_db(up)
    cur = dbsub.add_parser("current", help="print the schema revision")
    _add_db(cur)

    env = sub.add_parser("env", help="print the environment a run would record, and what looks broken")
    env.add_argument("--json", action="store_true")

    push = sub.add_parser("push", help="write results spooled while the database was unreachable")
    _add_db(push)
    return parser


def _config(args: argparse.Namespace, **extra: Any):
    from perfwatch.config import load_config

    return load_config({"db_url": getattr(args, "db", None), **extra})


def _engine(config, migrate: bool = True):
    from perfwatch.store.engine import check_connection, make_engine
    from perfwatch.store.migrate import ensure_schema

    engine = make_engine(config.resolved_db_url())
    check_connection(engine)
    if migrate:
        ensure_schema(engine)
    return engine


def _push_spool(engine, config, quiet: bool = False) -> tuple[int, int]:
    from perfwatch.store import spool

    path = spool.spool_path(config.resolved_spool_dir(), config.resolved_db_url())
    sent, left = spool.push(engine, path)
    if sent and not quiet:
        print(f"pushed {sent} spooled result(s) to the database" + (f"; {left} still pending" if left else ""), file=sys.stderr)
    return sent, left


def cmd_run(args: argparse.Namespace) -> int:
    from perfwatch import runner
    from perfwatch.progress import Progress
    from perfwatch.store import spool
    from perfwatch.store.engine import redact
    from perfwatch.summary import summary_table

    config = _config(args, timeout_s=args.timeout, min_time_s=args.min_time)
    tags = {}
    for t in args.tag:
        if "=" not in t:
            raise UsageError(f"--tag {t!r}: expected KEY=VALUE")
        k, v = t.split("=", 1)
        tags[k] = v
    req = runner.RunRequest(
        suite=args.suite, backend=args.backend, modes=runner.parse_modes(args.modes),
        benchmarks=tuple(b.strip() for b in args.benchmarks.split(",") if b.strip()),
        size=args.size, dtype=args.dtype, tags=tags, accuracy=not args.no_accuracy,
    )
    # Everything checked before the first case: suite, benchmarks, modes, backend, database.
    plan = runner.plan(req, config)
    engine = _engine(config)
    _push_spool(engine, config)
    run = runner.new_run_info(plan, req)
    if plan.skipped:
        print(f"skipping (not for {plan.backend}): {', '.join(plan.skipped)}", file=sys.stderr)
    print(f"run {run.run_id}: suite {plan.suite.name}, backend {plan.backend}, size {plan.size}, "
          f"{len(plan.specs)} case(s) -> {redact(config.resolved_db_url())}", file=sys.stderr)
    progress = Progress(len(plan.specs))
    sink = runner.Sink(engine, spool.spool_path(config.resolved_spool_dir(), config.resolved_db_url()))
    outcome = runner.execute(plan, run, sink, config.timeout_s, on_start=progress.start, on_end=progress.end)

    if args.json:
        doc = {"run": {k: v for k, v in run.to_dict().items() if k != "environment"},
               "cases": [{**{k: v for k, v in c.to_dict().items() if k != "metrics"},
                          "metrics": [{k: v for k, v in m.to_dict().items() if k != "samples"} for m in c.metrics]}
                         for c in outcome.cases],
               "spooled": outcome.spooled, "interrupted": outcome.interrupted}
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(summary_table(outcome.cases))
        for c in outcome.failed:
            print(f"  {c.spec.benchmark} [{c.spec.mode}] {c.status}: {(c.error or '').splitlines()[0] if c.error else ''}")
        print(f"run {run.run_id}: {len(outcome.cases) - len(outcome.failed)}/{len(outcome.cases)} case(s) ok")
    if outcome.spooled:
        print(f"the database was unreachable: {outcome.spooled} result(s) kept in the spool; "
              f"`perfwatch push` (or the next run) writes them", file=sys.stderr)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_CASES_FAILED if outcome.failed else EXIT_OK


def cmd_suites(args: argparse.Namespace) -> int:
    from perfwatch.suites import available, load_suite

    for name in available():
        suite = load_suite(name)
        print(f"{suite.name}: {suite.description}")
        for b in suite.benchmarks:
            extra = f" {json.dumps(dict(b.params), sort_keys=True)}" if b.params else ""
            only = f" (only {', '.join(b.backends)})" if set(b.backends) != {"cpu", "cuda", "mps"} else ""
            print(f"  {b.name}{extra}{only} - {b.description}")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from perfwatch.store import queries
    from perfwatch.tables import render

    rows = queries.list_runs(_engine(_config(args)), limit=args.limit, suite=args.suite)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
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
    from perfwatch import export
    from perfwatch.store import queries

    engine = _engine(_config(args))
    run_id = queries.resolve_run(engine, args.run)
    records = queries.export_records(engine, [run_id])
    writer = export.write_jsonl if args.format == "jsonl" else export.write_csv
    if args.output:
        with open(args.output, "w", newline="") as f:
            writer(records, f)
        print(f"wrote {len(records)} record(s) of run {run_id} to {args.output}", file=sys.stderr)
    else:
        writer(records, sys.stdout)
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from perfwatch.store.engine import check_connection, make_engine, redact
    from perfwatch.store.migrate import current_revision, head_revision, upgrade

    config = _config(args)
    engine = make_engine(config.resolved_db_url())
    check_connection(engine)
    if args.db_command == "upgrade":
        before = current_revision(engine)
        after = upgrade(engine)
        print(f"{redact(config.resolved_db_url())}: schema {before or '(empty)'} -> {after}")
    elif args.db_command == "current":
        print(f"{current_revision(engine) or '(empty)'} (head: {head_revision()})")
    else:
        raise UsageError("perfwatch db: expected an action: upgrade or current")
    return EXIT_OK


def cmd_env(args: argparse.Namespace) -> int:
    from perfwatch.collectors.environment import collect_environment, doctor, format_environment

    env = collect_environment()
    findings = doctor(env)
    if args.json:
        json.dump({"environment": env, "findings": [f.__dict__ for f in findings]}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(format_environment(env, findings))
    return EXIT_OK


def cmd_push(args: argparse.Namespace) -> int:
    config = _config(args)
    engine = _engine(config)
    sent, left = _push_spool(engine, config, quiet=True)
    print(f"pushed {sent} spooled result(s)" + (f"; {left} still pending" if left else "; nothing pending"))
    return EXIT_OK if not left else EXIT_CASES_FAILED


COMMANDS = {"run": cmd_run, "suites": cmd_suites, "runs": cmd_runs, "export": cmd_export, "db": cmd_db, "env": cmd_env,
            "push": cmd_push}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except PerfwatchError as exc:
        print(f"perfwatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("perfwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
