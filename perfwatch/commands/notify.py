"""`perfwatch notify`: announce open regressions not yet announced, on every configured alert
channel (Slack incoming webhook, generic JSON webhook) or the one --channel names."""

from __future__ import annotations

import argparse
import sys

from perfwatch.commands.common import add_db, config, engine, print_json
from perfwatch.domain.errors import EXIT_OK

CHANNEL_CHOICES = ("slack", "webhook", "all")  # perfwatch.alerts.channels.REGISTRY, and "all"


def register(sub) -> None:
    p = sub.add_parser("notify", help="post open regressions not yet announced to the configured alert channels "
                       "(Slack: $PERFWATCH_SLACK_WEBHOOK, JSON webhook: $PERFWATCH_WEBHOOK_URL)")
    add_channel(p)
    p.add_argument("--announce-resolved", action="store_true",
                   help="also announce regressions resolved since they were announced")
    p.add_argument("--dry-run", action="store_true", help="print the messages as JSON; send nothing, mark nothing")
    add_db(p)
    p.set_defaults(handler=cmd_notify)


def add_channel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", choices=CHANNEL_CHOICES, default=None,
                   help="post to this channel only (default: every configured channel)")


def cmd_notify(args: argparse.Namespace) -> int:
    from perfwatch.alerts import channels
    from perfwatch.alerts.notify import notify_pending, pending_messages

    cfg = config(args)
    if args.dry_run:  # what each selected channel would get, its own payloads, one list
        names = channels.selected(cfg, args.channel)
        print_json([m.payload for m in pending_messages(engine(cfg), cfg.dashboard_url, args.announce_resolved, names)])
        return EXIT_OK
    targets = channels.from_config(cfg, args.channel)  # before touching the database: no channel, nothing to do
    result = notify_pending(engine(cfg), targets, cfg.dashboard_url, args.announce_resolved)
    print(result.summary(), file=sys.stderr if result.errors else sys.stdout)
    result.raise_for_errors()  # exit 4; the unsent regressions stay pending
    return EXIT_OK
