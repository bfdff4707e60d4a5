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

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy.engine import Engine

from perfwatch.alerts import channels as registry
from perfwatch.alerts.announcement import Announcement, build_announcements
from perfwatch.alerts.channels import Channel
from perfwatch.domain.errors import AlertError
from perfwatch.store import history
from perfwatch.store.locks import db_lock


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
                          announce_resolved: bool = False) -> list[Announcement]:
    """What ``channel`` has not announced: open regressions (one announcement per run), then,
    with announce_resolved, resolutions of regressions it announced."""
    out = []
    for resolved in (False, True) if announce_resolved else (False,):
        out += build_announcements(history.unannounced(engine, resolved=resolved, channel=channel), dashboard_url, resolved)
    return out


def pending_messages(engine: Engine, dashboard_url: str | None, announce_resolved: bool = False,
                     channels: Iterable[str] = ("slack",)) -> list[Outgoing]:
    """What a notify would send now on ``channels`` (names), rendered: a dry run needs no sender."""
    return [m for name in channels for m in _outgoing(engine, name, registry.module(name).render, dashboard_url,
                                                       announce_resolved)]


def notify_pending(engine: Engine, channels: Sequence[Channel], dashboard_url: str | None,
                   announce_resolved: bool = False) -> NotifyResult:
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
        return NotifyResult(tuple(_notify_channel(engine, ch, dashboard_url, announce_resolved) for ch in channels))


def _notify_channel(engine: Engine, ch: Channel, dashboard_url: str | None, announce_resolved: bool) -> ChannelResult:
    sent, announced, pending, errors = 0, [], [], []
    stopped = False
    for msg in _outgoing(engine, ch.name, ch.render, dashboard_url, announce_resolved):
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
              announce_resolved: bool) -> list[Outgoing]:
    return [Outgoing(name, a.run_id, a.ids, a.resolved, render(a))
            for a in pending_announcements(engine, name, dashboard_url, announce_resolved)]


def _unique(ids: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))
