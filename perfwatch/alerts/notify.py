"""Announcing stored regressions on every channel: what each channel has not announced yet,
grouped by run, rendered its way, sent, and marked announced for that channel once delivered.

Never lost: a regression is marked announced on a channel only after that channel accepted its
message, so a failed send leaves it pending there and the next ``perfwatch notify`` (or
``run --notify``) sends it; one channel failing never holds back another.
Sent once per channel: notifiers are serialized by the store's database lock (several runners
may finish at the same moment) and read what is pending only once they hold it. The one window
left is a crash, or a database failure, between the channel's 200 and the mark: that message is
sent again next time (at least once beats lost).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy.engine import Engine

from perfwatch.alerts import channels as registry
from perfwatch.alerts.announcement import Announcement, Backlog, build_announcements, utc
from perfwatch.alerts.channels import Channel
from perfwatch.domain.errors import AlertError
from perfwatch.store import history
from perfwatch.store.locks import db_lock


AUTO = "auto"  # since: a channel's first notify announces the last day, later ones everything pending
ALL = None  # since: everything pending, one message per run however old
RECENT = timedelta(days=1)


@dataclass(frozen=True)
class Outgoing:
    """One message waiting to go on one channel: the regressions it announces and its payload."""

    channel: str
    run_id: str
    ids: tuple[int, ...]
    resolved: bool
    payload: dict[str, Any]


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    label: str
    sent_messages: int
    announced_ids: tuple[int, ...]
    pending: tuple[int, ...]  # regression ids still to announce here (their send failed or never ran)
    errors: tuple[str, ...]


@dataclass(frozen=True)
class NotifyResult:
    channels: tuple[ChannelResult, ...]

    @property
    def sent_messages(self) -> int:
        return sum(c.sent_messages for c in self.channels)

    @property
    def announced_ids(self) -> tuple[int, ...]:
        """Regressions announced on at least one channel."""
        return _unique(i for c in self.channels for i in c.announced_ids)

    @property
    def pending(self) -> tuple[int, ...]:
        """Regressions still pending on at least one channel."""
        return _unique(i for c in self.channels for i in c.pending)

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(e for c in self.channels for e in c.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.sent_messages and not self.pending:
            return "no regressions to announce"
        parts = []
        for c in self.channels:
            if c.sent_messages or c.pending:
                text = f"sent {c.sent_messages} {c.label} message(s) announcing {len(c.announced_ids)} regression(s)"
                parts.append(text + (f"; {len(c.pending)} still pending (run `perfwatch notify` to retry)" if c.pending else ""))
        return "; ".join(parts)

    def raise_for_errors(self) -> None:
        """AlertError (exit 4) naming what failed, if anything did."""
        if self.errors:
            raise AlertError("; ".join(self.errors) + f". {len(self.pending)} regression(s) stay pending; "
                             "`perfwatch notify` sends them")


def pending_announcements(engine: Engine, channel: str, dashboard_url: str | None,
                          announce_resolved: bool = False, since: datetime | str | None = AUTO) -> list[Announcement]:
    """What ``channel`` has not announced: open regressions (one announcement per run), then,
    with announce_resolved, resolutions of regressions it announced.

    Regressions first seen before ``since`` are not announced one by one: the newest message
    says how many there are in one line, and they count as announced with it. ``AUTO``: a
    channel's first notify announces the day before the newest regression (so a new channel on
    an old store does not post weeks of history at once), later ones everything pending; ``ALL``
    (None): everything, one message per run."""
    rows = history.unannounced(engine, channel=channel)
    cutoff = _cutoff(engine, channel, rows, since)
    recent, older = [], []
    for r in rows:
        (recent if cutoff is None or (utc(r["ts"]) or cutoff) >= cutoff else older).append(r)
    out = build_announcements(recent, dashboard_url)
    if older and out:  # the summary rides on the newest run's message
        first = min((utc(r["ts"]) for r in older if r.get("ts")), default=None)
        out[-1] = replace(out[-1], backlog=Backlog(len(older), len({r["run_id"] for r in older}), first,
                                                   tuple(r["id"] for r in older)))
    if announce_resolved:
        out += build_announcements(history.unannounced(engine, resolved=True, channel=channel), dashboard_url, True)
    return out


def _cutoff(engine: Engine, channel: str, rows: list[dict[str, Any]], since: datetime | str | None) -> datetime | None:
    if since is None or not rows:
        return None
    if isinstance(since, datetime):
        return utc(since)
    if history.has_announced(engine, channel):
        return None
    newest = max((utc(r["ts"]) for r in rows if r.get("ts")), default=None)
    return newest - RECENT if newest else None


def pending_messages(engine: Engine, dashboard_url: str | None, announce_resolved: bool = False,
                     channels: Iterable[str] = ("slack",), since: datetime | str | None = AUTO) -> list[Outgoing]:
    """What a notify would send now on ``channels`` (names), rendered: a dry run needs no sender."""
    return [m for name in channels for m in _outgoing(engine, name, registry.module(name).render, dashboard_url,
                                                       announce_resolved, since)]


def notify_pending(engine: Engine, channels: Sequence[Channel], dashboard_url: str | None,
                   announce_resolved: bool = False, since: datetime | str | None = AUTO) -> NotifyResult:
    """Send every channel's pending messages; mark each one's regressions announced on that
    channel after it was delivered.

    A message a channel refuses as malformed (400) is skipped and the rest go on; any other
    failure (webhook revoked, service down after all retries) stops that channel, since its
    next message would fail too. The other channels carry on.
    """
    if not channels:
        raise AlertError("no alert channel configured: export PERFWATCH_SLACK_WEBHOOK or PERFWATCH_WEBHOOK_URL "
                         "(see docs/alerts.md)")
    with db_lock(engine, "notify"):
        return NotifyResult(tuple(_notify_channel(engine, ch, dashboard_url, announce_resolved, since)
                                  for ch in channels))


def _notify_channel(engine: Engine, ch: Channel, dashboard_url: str | None, announce_resolved: bool,
                    since: datetime | str | None) -> ChannelResult:
    sent, announced, pending, errors = 0, [], [], []
    stopped = False
    for msg in _outgoing(engine, ch.name, ch.render, dashboard_url, announce_resolved, since):
        if stopped:
            pending += msg.ids
            continue
        try:
            ch.sender.send(msg.payload)
        except AlertError as exc:
            pending += msg.ids
            errors.append(f"run {msg.run_id}: {exc}")
            stopped = not getattr(exc, "payload_at_fault", False)
            continue
        history.mark_announced(engine, list(msg.ids), resolved=msg.resolved, channel=ch.name)
        sent += 1
        announced += msg.ids
    return ChannelResult(ch.name, ch.label, sent, tuple(announced), tuple(pending), tuple(errors))


def _outgoing(engine: Engine, name: str, render: Callable[[Announcement], dict[str, Any]], dashboard_url: str | None,
              announce_resolved: bool, since: datetime | str | None = AUTO) -> list[Outgoing]:
    return [Outgoing(name, a.run_id, a.ids, a.resolved, render(a))
            for a in pending_announcements(engine, name, dashboard_url, announce_resolved, since)]


def _unique(ids: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))
