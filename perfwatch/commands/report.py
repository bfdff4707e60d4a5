"""`perfwatch report`: a run summarized for a pull-request comment (markdown) or a machine (JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from perfwatch.commands.common import add_db, config, engine, jsonable, open_output
from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    r = sub.add_parser("report", help="summarize a run for a pull-request comment")
    r.add_argument("--run", default="latest")
    r.add_argument("--baseline", help="run to compare with (default: the previous run of the same suite and machine)")
    r.add_argument("--format", default="markdown", choices=["markdown", "json"])
    r.add_argument("--output", "-o", help="file to write (default stdout)")
    add_db(r)
    r.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from perfwatch.analysis.report import build_report, to_markdown
    from perfwatch.store import queries

    eng = engine(config(args))
    run_id = queries.resolve_run(eng, args.run)
    baseline = queries.resolve_run(eng, args.baseline) if args.baseline else None
    rep = build_report(eng, run_id, baseline)
    text = to_markdown(rep) if args.format == "markdown" else json.dumps(
        {**rep, "regressions": [jsonable(r) for r in rep["regressions"]]}, indent=2, default=str) + "\n"
    if args.output:
        with open_output(args.output) as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
