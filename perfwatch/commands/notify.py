"""`perfwatch notify`: announce open regressions not yet announced, on every configured alert
channel (Slack incoming webhook, generic JSON webhook) or the one --channel names."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from perfwatch.commands.common import add_db, config, engine, print_json
from perfwatch.domain.errors import EXIT_OK, UsageError

CHANNEL_CHOICES = ("slack", "webhook", "all")  # perfwatch.alerts.channels.REGISTRY, and "all"


def register(sub) -> None:
    p = sub.add_parser("notify", help="post open regressions not yet announced to the configured alert channels "
                       "(Slack: $PERFWATCH_SLACK_WEBHOOK, JSON webhook: $PERFWATCH_WEBHOOK_URL)")
    add_channel(p)
    p.add_argument("--announce-resolved", action="store_true",
                   help="also announce regressions resolved since they were announced")
    p.add_argument("--since", metavar="DATE|all", default=None,
                   help="announce regressions first seen on or after DATE (ISO); older ones are summarised in one "
                        "line and count as announced. 'all': everything pending, one message per run. Default: a "
                        "channel's first notify announces the last day before the newest regression, later ones "
                        "everything pending")
    p.add_argument("--dry-run", action="store_true", help="print the messages as JSON; send nothing, mark nothing")
    add_db(p)
    p.set_defaults(handler=cmd_notify)


def add_channel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", choices=CHANNEL_CHOICES, default=None,
                   help="post to this channel only (default: every configured channel)")


def parse_since(text: str | None):
    """--since: None -> AUTO, "all" -> everything, else an ISO date or time (UTC unless it says)."""
    from perfwatch.alerts.notify import ALL, AUTO

    if text is None:
        return AUTO
    if text.strip().lower() == "all":
        return ALL
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since {text!r}: expected an ISO date such as 2026-11-01, or 'all'") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def cmd_notify(args: argparse.Namespace) -> int:
    from perfwatch.alerts import channels
    from perfwatch.alerts.notify import notify_pending, pending_messages

    cfg = config(args)
    since = parse_since(args.since)
    if args.dry_run:  # what each selected channel would get, its own payloads, one list
        names = channels.selected(cfg, args.channel)
        print_json([m.payload for m in pending_messages(engine(cfg), cfg.dashboard_url, args.announce_resolved, names,
                                                        since)])
        return EXIT_OK
    targets = channels.from_config(cfg, args.channel)  # before touching the database: no channel, nothing to do
    result = notify_pending(engine(cfg), targets, cfg.dashboard_url, args.announce_resolved, since)
    print(result.summary(), file=sys.stderr if result.errors else sys.stdout)
    result.raise_for_errors()  # exit 4; the unsent regressions stay pending
    return EXIT_OK
