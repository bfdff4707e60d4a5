"""`perfwatch env`: the environment a run would record, and what looks broken."""

from __future__ import annotations

import argparse

from perfwatch.commands.common import print_json
from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    env = sub.add_parser("env", help="print the environment a run would record, and what looks broken")
    env.add_argument("--json", action="store_true")
    env.set_defaults(handler=cmd_env)


def cmd_env(args: argparse.Namespace) -> int:
    from perfwatch.collectors.environment import collect_environment, doctor, format_environment

    env = collect_environment()
    findings = doctor(env)
    if args.json:
        print_json({"environment": env, "findings": [f.__dict__ for f in findings]})
    else:
        print(format_environment(env, findings))
    return EXIT_OK
