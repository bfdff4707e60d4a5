"""`perfwatch export`: a run's metrics, one record per metric, as JSON lines or CSV
(perfwatch.analysis.records), or as an asv results directory (perfwatch.asvio.to_asv, docs/asv.md)."""

from __future__ import annotations

import argparse
import sys

from perfwatch.commands.common import add_db, config, engine, open_output
from perfwatch.domain.errors import EXIT_OK, UsageError


def register(sub) -> None:
    exp = sub.add_parser("export", help="write a run's metrics, one record per metric")
    exp.add_argument("--run", default="latest",
                     help="run id (or unique prefix), 'latest' (default) or 'all' (every run, oldest first)")
    exp.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "asv"])
    exp.add_argument("--output", "-o", help="file to write (default: stdout)")
    exp.add_argument("--output-dir", help="--format asv: the (empty) asv results directory to write")
    add_db(exp)
    exp.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from perfwatch.analysis import records
    from perfwatch.store import queries

    eng = engine(config(args))
    if args.format == "asv":  # a results directory for asv publish
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
            rows = queries.export_records(eng, [run_id])
            if args.format == "jsonl":
                records.write_jsonl(rows, out)
            else:
                records.write_csv(rows, out, header=i == 0)
            n += len(rows)
        return n

    if args.output:
        with open_output(args.output, newline="") as f:  # a bad path: exit 2, not a traceback
            n = write(f)
        what = f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"
        print(f"wrote {n} record(s) of {what} to {args.output}", file=sys.stderr)
    else:
        write(sys.stdout)
    return EXIT_OK


def export_asv(eng, args: argparse.Namespace) -> int:
    from perfwatch.asvio.to_asv import export_asv as write

    if not args.output_dir:
        raise UsageError("--format asv writes a directory: give --output-dir DIR")
    s = write(eng, args.run, args.output_dir)
    print(f"wrote {s.runs} run(s) as {s.files} asv result file(s), {s.benchmarks} benchmark(s) to {args.output_dir}"
          + (f"; left out {s.skipped_no_commit} run(s) without a git commit" if s.skipped_no_commit else ""), file=sys.stderr)
    return EXIT_OK
