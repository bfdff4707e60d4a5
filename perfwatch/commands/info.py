"""Commands that describe rather than measure: `suites`, `env`."""

from __future__ import annotations

import argparse
import json

from perfwatch.commands.common import print_json
from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    sub.add_parser("suites", help="list suites and their benchmarks").set_defaults(handler=cmd_suites)
    env = sub.add_parser("env", help="print the environment a run would record, and what looks broken")
    env.add_argument("--json", action="store_true")
    env.set_defaults(handler=cmd_env)


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


def cmd_env(args: argparse.Namespace) -> int:
    from perfwatch.collectors.environment import collect_environment, doctor, format_environment

    env = collect_environment()
    findings = doctor(env)
    if args.json:
        print_json({"environment": env, "findings": [f.__dict__ for f in findings]})
    else:
        print(format_environment(env, findings))
    return EXIT_OK
