"""`perfwatch import asv RESULTS_DIR`: bring results recorded by another tool (asv) into the store
(docs/asv.md). The module's name has a trailing underscore because ``import`` is a keyword; the
other way, `perfwatch export --format asv`, is the export command's."""

from __future__ import annotations

import argparse
import sys

from perfwatch.commands.common import add_db, config, engine
from perfwatch.domain.errors import EXIT_OK, UsageError


def register(sub) -> None:
    imp = sub.add_parser("import", help="bring results recorded by another tool into the store")
    sources = imp.add_subparsers(dest="import_source", metavar="SOURCE")
    asv = sources.add_parser("asv", help="an asv (airspeed velocity) results directory")
    asv.add_argument("results_dir", metavar="RESULTS_DIR", help="asv's results_dir: benchmarks.json and <machine>/ folders")
    asv.add_argument("--suite", default="asv", help="suite for benchmarks that are not perfwatch's own (default: asv)")
    add_db(asv)
    imp.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    if args.import_source != "asv":
        raise UsageError("perfwatch import: expected a source: asv")
    from perfwatch.asvio.from_asv import read_results_dir, write_imported
    from perfwatch.store.engine import redact

    # The whole directory is read and checked before the database is even opened: bad input
    # exits 2 with nothing written.
    read = read_results_dir(args.results_dir, default_suite=args.suite)
    cfg = config(args)
    s = write_imported(engine(cfg, write=True), read)
    print(f"imported {s.files} asv result file(s) as {s.runs} run(s), {s.cases} case(s) "
          f"({s.new_cases} new, {s.cases - s.new_cases} already stored) into {redact(cfg.resolved_db_url())}")
    if read.rejected:
        shown = read.rejected[:20]
        print(f"warning: {len(read.rejected)} value(s) not stored, not a finite number within ±1e100; "
              f"their cases are stored as failed (status error):\n  " + "\n  ".join(shown)
              + (f"\n  ... and {len(read.rejected) - len(shown)} more" if len(read.rejected) > len(shown) else ""),
              file=sys.stderr)
    if s.stale:
        print(f"skipped {s.stale} result(s) of benchmark versions that benchmarks.json no longer describes "
              f"(asv does not show them either)", file=sys.stderr)
    return EXIT_OK
