"""`perfwatch suites`: list suites and their benchmarks."""

from __future__ import annotations

import argparse
import json

from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    sub.add_parser("suites", help="list suites and their benchmarks").set_defaults(handler=cmd_suites)


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
