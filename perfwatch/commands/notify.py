"""`perfwatch notify`: announce open regressions not yet announced (Slack incoming webhook)."""

from __future__ import annotations

import argparse
import sys

from perfwatch.commands.common import add_db, config, engine, print_json
from perfwatch.domain.errors import EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("notify", help="post open regressions not yet announced to Slack ($PERFWATCH_SLACK_WEBHOOK)")
    p.add_argument("--announce-resolved", action="store_true",
                   help="also announce regressions resolved since they were announced")
    p.add_argument("--dry-run", action="store_true", help="print the messages as JSON; send nothing, mark nothing")
    add_db(p)
    p.set_defaults(handler=cmd_notify)


def cmd_notify(args: argparse.Namespace) -> int:
    from perfwatch.alerts.notify import notify_pending, pending_messages
    from perfwatch.alerts.slack import webhook_from_config

    cfg = config(args)
    if args.dry_run:
        print_json([m.payload for m in pending_messages(engine(cfg), cfg.dashboard_url, args.announce_resolved)])
        return EXIT_OK
    sender = webhook_from_config(cfg)  # before touching the database: no webhook, nothing to do
    result = notify_pending(engine(cfg), sender, cfg.dashboard_url, args.announce_resolved)
    print(result.summary(), file=sys.stderr if result.errors else sys.stdout)
    result.raise_for_errors()  # exit 4; the unsent regressions stay pending
    return EXIT_OK
