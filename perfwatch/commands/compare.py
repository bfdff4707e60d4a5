"""`perfwatch compare RUN_A RUN_B`: per-case deltas between two runs, with significance from the samples."""

from __future__ import annotations

import argparse

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_db, config, engine, fmt_change, jsonable, print_json
from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    c = sub.add_parser("compare", help="per-case deltas between two runs, with significance from the samples")
    c.add_argument("run_a", metavar="RUN_A", help="baseline run id, prefix or 'latest'")
    c.add_argument("run_b", metavar="RUN_B", help="new run id, prefix or 'latest'")
    c.add_argument("--metrics", default=None, help="comma-separated metrics (default: the headline ones); 'all' for every one")
    c.add_argument("--regressions-only", action="store_true")
    c.add_argument("--alpha", type=argtypes.probability, default=0.01, help="significance level of the sample test (default 0.01)")
    c.add_argument("--format", default="table", choices=["table", "json"])
    add_db(c)
    c.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from perfwatch.analysis.compare import DEFAULT_METRICS, compare_runs
    from perfwatch.store import queries
    from perfwatch.cli.tables import render

    eng = engine(config(args))
    a, b = queries.resolve_run(eng, args.run_a), queries.resolve_run(eng, args.run_b)
    metrics = None if args.metrics == "all" else tuple(args.metrics.split(",")) if args.metrics else DEFAULT_METRICS
    rows = compare_runs(eng, a, b, metrics, alpha=args.alpha)
    if args.regressions_only:
        rows = [r for r in rows if r["verdict"] == "regression"]
    if args.format == "json":
        print_json({"run_a": a, "run_b": b, "rows": [jsonable(r) for r in rows]})
        return EXIT_OK
    print(f"{a} -> {b}")
    if not rows:
        print("no comparable cases")
        return EXIT_OK
    print(render(["benchmark", "mode", "metric", "A", "B", "change", "p-value", "verdict"],
                 [[r["benchmark"], r["mode"], r["metric"], f"{r['a']:.4g}", f"{r['b']:.4g}", fmt_change(r["change"]),
                   f"{r['pvalue']:.2g}" if r["pvalue"] is not None else r["test"], r["verdict"]] for r in rows],
                 right=(3, 4, 5, 6)))
    if any(r["test"] == "untested" for r in rows):
        print("untested: one process per run is too thin a replication for a p-value (the samples of one process "
              "share its offset); time with --processes N, or decide in one job with `perfwatch ab`")
    return EXIT_OK
